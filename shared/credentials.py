"""Getting a migration's passwords back, for the workers that must log in.

The wrapped data key lives in Redis (its record on the ``migrations.record`` topic) until the
migration's final state; then both are deleted (a tombstone on the topic), after that this raises
:class:`SecretUnavailable` and nothing can log in any more.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared import json_log
from shared import redis_keys as k
from shared.credential_seal import MasterKeys, unseal
from shared.errors import SecretUnavailable
from shared.events import EndpointSpec
from shared.migration_records import RecordLog
from shared.redis_view import require_view

# The target password given again for an undo is sealed under a fresh data key with this side name.
UNDO_SEAL_SIDE = "undo-target"


def seal_context(mid: str, side: str) -> str:
    return f"{mid}/{side}"


class DataKeys(Protocol):
    """Where the wrapped data keys are kept (Redis; a memory store in the service cores' unit tests)."""

    def get(self, name: str) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class CredentialStore:
    """``record`` (when given) gets the tombstone of a deleted key; ``guarded``: a key missing from a view
    that is not whole raises :class:`~shared.redis_view.ViewRebuilding`, not "the migration has ended"."""

    def __init__(self, client: DataKeys, keys: MasterKeys, record: RecordLog | None = None,
                 guarded: bool = False) -> None:
        self.r = client
        self.keys = keys
        self.record = record
        self.guarded = guarded

    def data_key(self, mid: str) -> bytes:
        wrapped = self.r.get(k.data_key(mid))
        if not wrapped and self.guarded:
            require_view(self.r.get(k.VIEW))
        if not wrapped:
            raise SecretUnavailable("this migration's credentials were deleted (it has ended)")
        return self.keys.unwrap(wrapped.decode() if isinstance(wrapped, bytes) else str(wrapped), mid)

    def password(self, mid: str, spec: EndpointSpec, side: str) -> str:
        return self.unseal(mid, spec.password_sealed, side)

    def unseal(self, mid: str, sealed: str, side: str) -> str:
        value = unseal(self.data_key(mid), sealed, seal_context(mid, side))
        json_log.register_secret(value)
        return value

    def delete(self, mid: str) -> None:
        """The tombstone first (flushed), so a rebuild can never bring the key back."""
        if self.record is not None:
            self.record.data_key(mid, None)
            self.record.flush()
        self.r.delete(k.data_key(mid))
