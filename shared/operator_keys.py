"""Operator API keys: parsed from ``MAILFERRY_OPERATOR_KEYS``, kept only as SHA-256 digests. Pure code.

The operator gives each key a name and a role and configures only its digest (``mailferry operator-key``
prints a new key and its entry), so neither the environment, the Kubernetes Secret nor a memory dump holds
a usable key. Keys are 256 random bits, so a plain SHA-256 is enough (no password stretching needed).
Checking a key compares its digest with *every* configured one in constant time, so the answer's timing
says nothing about which entry, or how much of one, matched.

Format: ``name:role:sha256hex`` entries separated by commas; role is ``operator`` or ``read-only``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

Role = Literal["operator", "read-only"]
ROLES: tuple[Role, ...] = ("operator", "read-only")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: Longest key accepted for hashing (a header of megabytes is refused before any work).
MAX_KEY_CHARS = 256


@dataclass(frozen=True)
class OperatorKey:
    name: str
    role: Role
    digest: str  # hex SHA-256 of the key


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse(text: str) -> tuple[OperatorKey, ...]:
    """The configured keys; raises ValueError naming the entry that is malformed."""
    out: list[OperatorKey] = []
    for n, part in enumerate((p.strip() for p in text.split(",")), start=1):
        if not part:
            continue
        bits = part.split(":")
        name, role, hexdigest = bits if len(bits) == 3 else ("", "", "")
        if not _NAME.match(name):
            raise ValueError(f"entry {n}: expected name:role:sha256hex (name of letters, digits, . _ -)")
        if role not in ROLES:
            raise ValueError(f"entry {n} ({name}): the role must be operator or read-only")
        if not _DIGEST.match(hexdigest.lower()):
            raise ValueError(f"entry {n} ({name}): the digest must be 64 hex digits (SHA-256 of the key)")
        if any(k.name == name for k in out):
            raise ValueError(f"entry {n}: the name {name} is used twice")
        out.append(OperatorKey(name, role, hexdigest.lower()))  # type: ignore[arg-type]
    return tuple(out)


def find(keys: tuple[OperatorKey, ...], presented: str) -> OperatorKey | None:
    """The key ``presented`` is, or None; every entry is compared, each in constant time."""
    if not presented or len(presented) > MAX_KEY_CHARS:
        return None
    got = digest(presented)
    found: OperatorKey | None = None
    for key in keys:
        if hmac.compare_digest(key.digest, got):
            found = key
    return found


def new_key(name: str, role: Role) -> tuple[str, str]:
    """A fresh key (to hand to the operator's tool, once) and its configuration entry."""
    key = "mfo_" + secrets.token_urlsafe(32)
    return key, f"{name}:{role}:{digest(key)}"
