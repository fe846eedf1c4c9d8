"""Logged-in sources per migration, of whatever type the migration's source is."""

from __future__ import annotations

from pathlib import Path

from services.extractor.ews import EwsSource
from services.extractor.imap import ImapSource
from services.extractor.pop3 import Pop3Source
from services.extractor.pop3_mailbox import Pop3Mailbox
from services.extractor.pst_source import PstSource, spool_file
from shared.credentials import CredentialStore
from shared.errors import MailferryError
from shared.events import EndpointSpec
from shared.ews_connection import connect_ews, pin
from shared.imap_connection import ConnectOptions, login_imap
from shared.pop3_connection import login_pop3
from shared.session_pool import SessionPool

Source = ImapSource | EwsSource | Pop3Mailbox | PstSource


class SourcePool:
    """One source session per migration, reused across its tasks, closed when idle."""

    def __init__(self, creds: CredentialStore, opts: ConnectOptions, idle_seconds: float = 60.0,
                 spool: Path | None = None) -> None:
        self.creds = creds
        self.opts = opts
        self.spool = spool
        self._specs: dict[str, EndpointSpec] = {}
        self._pool: SessionPool[Source] = SessionPool(self._open, lambda s: s.close(), idle_seconds)

    def get(self, mid: str, spec: EndpointSpec) -> Source:
        self._specs[mid] = spec
        return self._pool.get(mid)

    def drop(self, mid: str) -> None:
        self._pool.drop(mid)

    def _open(self, mid: str) -> Source:
        spec = self._specs[mid]
        if spec.type == "pst":  # no login: the uploaded file in the shared spool
            if self.spool is None:
                raise MailferryError("this extractor has no spool directory for PST files")
            return PstSource.open(spool_file(self.spool, spec.path))
        password = self.creds.password(mid, spec, "source")
        if spec.type == "imap":
            return ImapSource(login_imap(spec.host, spec.port, spec.security, spec.tls_verify, spec.login,
                                         password, self.opts))
        if spec.type == "ews":
            pin(spec.host, spec.port)
            return EwsSource(connect_ews(spec.host, spec.port, spec.security, spec.login, password, auth=spec.auth))
        if spec.type == "pop3":
            return Pop3Mailbox(Pop3Source(login_pop3(spec.host, spec.port, spec.security, spec.tls_verify,
                                                     spec.login, password, self.opts)))
        raise MailferryError(f"{spec.type} sources are not supported by this extractor yet")
