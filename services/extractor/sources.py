"""Logged-in sources per migration, of whatever type the migration's source is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from shared.adapters.ews.connection import connect_ews, pin
from shared.adapters.ews.mail_source import EwsSource
from shared.adapters.imap.connection import login_imap
from shared.adapters.imap.source import ImapSource
from shared.adapters.net import ConnectOptions
from shared.adapters.pop3.connection import login_pop3
from shared.adapters.pop3.maildrop import Pop3Source
from shared.adapters.pop3.source import Pop3Mailbox
from shared.adapters.pst.source import PstSource
from shared.credentials import CredentialStore
from shared.errors import MailferryError
from shared.events import EndpointSpec
from shared.session_pool import SessionPool, slot_key
from shared.spool import spool_file

Source = ImapSource | EwsSource | Pop3Mailbox | PstSource


class SourcePool:
    """Source sessions per migration (one per slot: tasks run side by side), reused, closed when idle."""

    def __init__(self, creds: CredentialStore, opts: ConnectOptions, idle_seconds: float = 60.0,
                 spool: Path | None = None) -> None:
        self.creds = creds
        self.opts = opts
        self.spool = spool
        # Each call names the source it wants, so the pool keeps sessions only, no specs to outlive them.
        self._pool: SessionPool[Source] = SessionPool(_unnamed, lambda s: s.close(), idle_seconds)

    def get(self, mid: str, spec: EndpointSpec) -> Source:
        return self._pool.get(mid, lambda: self._open(mid, spec))

    @contextlib.contextmanager
    def lease(self, mid: str, spec: EndpointSpec, slot: int = 0) -> Iterator[Source]:
        """The migration's ``slot``-th session, kept from idle expiry while a task runs on it."""
        with self._pool.lease(slot_key(mid, slot), lambda: self._open(mid, spec)) as source:
            yield source

    def drop(self, mid: str, slot: int | None = None) -> None:
        """One slot's session (it may be broken), or with ``slot=None`` every session of the migration."""
        if slot is None:
            self._pool.drop_migration(mid)
        else:
            self._pool.drop(slot_key(mid, slot))

    def _open(self, mid: str, spec: EndpointSpec) -> Source:
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
            return EwsSource(connect_ews(spec.host, spec.port, spec.security, spec.login, password, auth=spec.auth,
                                         tls_verify=spec.tls_verify))
        if spec.type == "pop3":
            return Pop3Mailbox(Pop3Source(login_pop3(spec.host, spec.port, spec.security, spec.tls_verify,
                                                     spec.login, password, self.opts)))
        raise MailferryError(f"{spec.type} sources are not supported by this extractor yet")


def _unnamed(key: str) -> Source:
    raise MailferryError(f"no source was named for session {key}")  # every caller passes its opener
