"""Sealing credentials: AES-256-GCM with a per-migration data key (envelope encryption).

Passwords travel on topics only sealed under the migration's *data key*. The
data key is stored wrapped under the operator's master key (``MAILFERRY_SECRET_KEY``,
``kid:base64key[,kid:base64key...]``; the first is current, the others still
unwrap, for rotation). Deleting the wrapped data key at the final state makes
every sealed copy on every topic unreadable ("crypto-shredding"): that is how
credentials are deleted from an append-only log.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import SecretUnavailable


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_master_key(kid: str = "k1") -> str:
    """A fresh ``kid:base64key`` value for MAILFERRY_SECRET_KEY."""
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


@dataclass(frozen=True)
class MasterKeys:
    """The operator's keys by id; ``current`` wraps, all of them unwrap."""

    current: str
    keys: dict[str, bytes] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> MasterKeys:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            kid, sep, b64 = part.partition(":")
            if not sep or not kid:
                raise ValueError("MAILFERRY_SECRET_KEY entries must look like kid:base64key")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError:
                raise ValueError(f"MAILFERRY_SECRET_KEY key {kid!r} is not valid base64") from None
            if len(raw) != 32:
                raise ValueError(f"MAILFERRY_SECRET_KEY key {kid!r} must be 32 bytes (256 bits)")
            keys[kid] = raw
            order.append(kid)
        if not order:
            raise ValueError("MAILFERRY_SECRET_KEY is empty: generate one with `mailferry keygen`")
        return cls(current=order[0], keys=keys)

    def wrap(self, data_key: bytes, migration_id: str) -> str:
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.current]).encrypt(nonce, data_key, migration_id.encode())
        return f"{self.current}.{_b64e(nonce)}.{_b64e(ct)}"

    def unwrap(self, wrapped: str, migration_id: str) -> bytes:
        kid, _, rest = wrapped.partition(".")
        key = self.keys.get(kid)
        if key is None:
            raise SecretUnavailable(f"the key {kid!r} that sealed this migration's credentials is not configured")
        nonce, _, ct = rest.partition(".")
        try:
            return AESGCM(key).decrypt(_b64d(nonce), _b64d(ct), migration_id.encode())
        except (InvalidTag, ValueError):
            raise SecretUnavailable("this migration's credentials cannot be unsealed") from None


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(data_key: bytes, plaintext: str, context: str) -> str:
    """Encrypt ``plaintext``; ``context`` (e.g. "mid/source") is bound as associated data."""
    nonce = os.urandom(12)
    ct = AESGCM(data_key).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{_b64e(nonce)}.{_b64e(ct)}"


def unseal(data_key: bytes, sealed: str, context: str) -> str:
    nonce, _, ct = sealed.partition(".")
    try:
        return AESGCM(data_key).decrypt(_b64d(nonce), _b64d(ct), context.encode()).decode()
    except (InvalidTag, ValueError):
        raise SecretUnavailable("a sealed credential does not match its migration") from None
