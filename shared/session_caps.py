"""How many sessions mailferry may hold to one mail server and to one account: the operator's caps. Pure.

Providers block an address that opens too many sessions (Dovecot's ``mail_max_userip_connections``
is 10 per user and address by default; large providers count per server too). The caps are held by
every replica together (:mod:`shared.host_leases`); this module only parses and answers them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.account_identity import normal_name

DEFAULT_HOST_SESSIONS = 20
DEFAULT_ACCOUNT_SESSIONS = 10
DEFAULT_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class SessionCaps:
    """Caps per server host (default and per-host overrides) and per account; lease life in seconds."""

    host_default: int = DEFAULT_HOST_SESSIONS
    account_default: int = DEFAULT_ACCOUNT_SESSIONS
    hosts: Mapping[str, int] = field(default_factory=dict)
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    def for_host(self, host: str) -> int:
        return self.hosts.get(normal_name(host), self.host_default)


def host_name(host: str) -> str:
    """The name a host's cap and back-off are kept under: lower-cased, IDNA, no trailing dot."""
    return normal_name(host)


def account_name(host: str, login: str) -> str:
    """An account's name in the keyspace: hashed, so no login is written to Redis."""
    return hashlib.sha256(f"{normal_name(host)}\x00{login.strip().casefold()}".encode()).hexdigest()[:32]


def parse_host_caps(text: str) -> dict[str, int]:
    """``"imap.example.com=4, mail.other.net=12"`` → ``{"imap.example.com": 4, "mail.other.net": 12}``."""
    caps: dict[str, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, number = part.rpartition("=")
        if not sep or not host.strip():
            raise ValueError(f"MAILFERRY_HOST_SESSION_CAPS: {part!r} is not host=number")
        try:
            cap = int(number)
        except ValueError:
            raise ValueError(f"MAILFERRY_HOST_SESSION_CAPS: {number!r} is not a whole number") from None
        if cap < 1:
            raise ValueError(f"MAILFERRY_HOST_SESSION_CAPS: the cap of {host.strip()} must be at least 1")
        caps[normal_name(host)] = cap
    return caps


def caps_from_env(env: Mapping[str, str]) -> SessionCaps:
    """Read by :meth:`shared.config.Settings.from_env`."""

    def positive(name: str, default: float) -> float:
        raw = env.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            raise ValueError(f"{name} must be a number, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{name} must be at least 1")
        return value

    return SessionCaps(
        host_default=int(positive("MAILFERRY_HOST_SESSIONS", DEFAULT_HOST_SESSIONS)),
        account_default=int(positive("MAILFERRY_ACCOUNT_SESSIONS", DEFAULT_ACCOUNT_SESSIONS)),
        hosts=parse_host_caps(env.get("MAILFERRY_HOST_SESSION_CAPS", "")),
        lease_seconds=positive("MAILFERRY_SESSION_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
    )
