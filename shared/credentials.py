"""Getting a migration's passwords back, for the workers that must log in.

The wrapped data key lives in Redis until the migration's final state; after
that this raises :class:`SecretUnavailable` and nothing can log in any more.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared import json_log
from shared import redis_keys as k
from shared.credential_seal import MasterKeys, unseal
from shared.errors import SecretUnavailable
from shared.events import EndpointSpec

# The target password given again for an undo is sealed under a fresh data key with this side name.
UNDO_SEAL_SIDE = "undo-target"


def seal_context(mid: str, side: str) -> str:
    return f"{mid}/{side}"


class DataKeys(Protocol):
    """Where the wrapped data keys are kept (Redis; a memory store in the service cores' unit tests)."""

    def get(self, name: str) -> Any: ...

    def delete(self, *names: str) -> Any: ...


class CredentialStore:
    def __init__(self, client: DataKeys, keys: MasterKeys) -> None:
        self.r = client
        self.keys = keys

    def data_key(self, mid: str) -> bytes:
        wrapped = self.r.get(k.data_key(mid))
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
        self.r.delete(k.data_key(mid))
