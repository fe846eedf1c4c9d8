"""Logged-in sources per migration, opened through the registry for whatever system the source is."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shared.adapters import registry
from shared.adapters.descriptor import Reading
from shared.adapters.ports import AdapterEnv, ItemReader, MailTarget, Source
from shared.credentials import CredentialStore
from shared.errors import MailferryError, NotSupported
from shared.events import EndpointSpec
from shared.host_leases import HostLeases, SessionGate
from shared.session_pool import SessionPool, slot_key


class SourcePool:
    """Source sessions per migration (one per slot: tasks run side by side), reused, closed when idle.

    With ``leases`` every session holds a lease on its server's and account's session caps while it is
    open; slot 0 waits for one, a further slot is refused at once (``SessionRefused``) when the cap is full."""

    def __init__(self, creds: CredentialStore, env: AdapterEnv, idle_seconds: float = 60.0,
                 leases: HostLeases | None = None) -> None:
        self.creds = creds
        self.env = env
        self.gate = SessionGate(leases)
        # Each call names the source it wants, so the pool keeps sessions only, no specs to outlive them.
        self._pool: SessionPool[Source] = SessionPool(_unnamed, self._close, idle_seconds)
        if leases is not None:
            leases.add_reclaimer(lambda host: self._pool.drop_idle(lambda s: self.gate.host_of(s) == host),
                                 self._pool.expire, self._pool.close_all)

    def _close(self, source: Source) -> None:
        try:
            source.close()
        finally:
            self.gate.closed(source)

    def get(self, mid: str, spec: EndpointSpec) -> Source:
        return self._pool.get(mid, lambda: self._gated(mid, spec, True))

    @contextlib.contextmanager
    def hold(self, mid: str) -> Iterator[None]:
        """Keep the migration's first session from being closed as idle while it is used through :meth:`get`."""
        with self._pool.hold(mid):
            yield

    @contextlib.contextmanager
    def lease(self, mid: str, spec: EndpointSpec, slot: int = 0) -> Iterator[Source]:
        """The migration's ``slot``-th session, kept from idle expiry while a task runs on it."""
        with self._pool.lease(slot_key(mid, slot), lambda: self._gated(mid, spec, slot == 0)) as source:
            yield source

    def _gated(self, mid: str, spec: EndpointSpec, wait: bool) -> Source:
        return self.gate.open(registry.session_host(spec), spec.login, lambda: self._open(mid, spec), wait=wait)

    def drop(self, mid: str, slot: int | None = None) -> None:
        """One slot's session (it may be broken), or with ``slot=None`` every session of the migration."""
        if slot is None:
            self._pool.drop_migration(mid)
        else:
            self._pool.drop(slot_key(mid, slot))

    def reader(self, mid: str, spec: EndpointSpec, reading: Reading) -> ItemReader:
        """A session reading an operation whole, not pooled (the caller gives it to :meth:`close_reader`)."""
        return self.gate.open(registry.session_host(spec), spec.login,
                              lambda: reading.open(spec, lambda: self.creds.password(mid, spec, "source"), self.env))

    def close_reader(self, reader: ItemReader) -> None:
        try:
            reader.close()
        finally:
            self.gate.closed(reader)

    def mail_target(self, mid: str, spec: EndpointSpec, *, wait: bool = True) -> MailTarget:
        """A session on the migration's e-mail target, not pooled: the planner asks it where folders would land
        (:mod:`services.extractor.folder_naming`); the caller gives it to :meth:`close_target`. ``wait=False``:
        ``SessionRefused`` at once when the session caps are full (a caller holding a lease must not wait)."""
        system = registry.system(spec.type)
        opener = system.mail_target
        if opener is None:
            raise NotSupported(f"e-mails cannot be written to {system.label} by this version")
        return self.gate.open(registry.session_host(spec), spec.login,
                              lambda: opener(spec, lambda: self.creds.password(mid, spec, "target"), self.env),
                              wait=wait)

    def close_target(self, target: MailTarget) -> None:
        try:
            target.close()
        finally:
            self.gate.closed(target)

    def _open(self, mid: str, spec: EndpointSpec) -> Source:
        system = registry.system(spec.type)
        if system.mail_source is None:
            raise NotSupported(f"e-mails cannot be read from {system.label} by this version")
        return system.mail_source(spec, lambda: self.creds.password(mid, spec, "source"), self.env)


def _unnamed(key: str) -> Source:
    raise MailferryError(f"no source was named for session {key}")  # every caller passes its opener
