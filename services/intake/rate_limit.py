"""Login checks are rate-limited, so intake cannot be used to guess passwords.

Three limits, each ``per_minute`` attempts in any 60 seconds, held in Redis so that every intake
replica counts against the same numbers:

* per source login and per client address: every login check counts (the address is the peer's, or
  the forwarded client's only behind a trusted proxy; IPv6 clients count per /64, which one host
  can fill with addresses);
* per **target** login: checks that did not succeed count. A target password can be guessed from
  many source logins and addresses, so the target account needs its own count, but a successful
  check gives its slot back, so moving many accounts into one target is never limited.

Each limit is a sliding window: a sorted set of attempt times per subject, trimmed to the last
minute, added to and counted in one MULTI. A refused attempt counts nowhere.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from shared import redis_keys as k

WINDOW_SECONDS = 60.0


class RateLimited(Exception):
    def __init__(self, retry_after: int, kind: str) -> None:
        what = "failed login attempts for this account" if kind == "target" else "login attempts"
        super().__init__(f"too many {what}; try again in {retry_after} seconds")
        self.retry_after = retry_after
        self.kind = kind


def address_bucket(host: str) -> str:
    """The client address as counted: an IPv6 address by its /64, anything else as it is."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class Attempt:
    """One counted attempt on a target login; ``passed()`` gives its slot back when the check succeeded."""

    key: str
    member: str
    ok: bool = field(default=False)

    def passed(self) -> None:
        self.ok = True


class LoginRateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.r = client
        self.per_minute = per_minute
        self.clock = clock

    def _key(self, kind: str, value: str) -> str:
        if kind == "ip":
            value = address_bucket(value)
        return k.rate(kind, hashlib.sha256(value.strip().lower().encode()).hexdigest()[:24])

    def _admit(self, kind: str, subjects: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Count one attempt per subject, or none (RateLimited) when any subject has used its minute."""
        now = self.clock()
        member = f"{now:.6f}:{secrets.token_hex(6)}"
        keys = [self._key(subject_kind, value) for subject_kind, value in subjects]
        pipe = self.r.pipeline(transaction=True)
        for key in keys:
            pipe.zremrangebyscore(key, "-inf", now - WINDOW_SECONDS)
            pipe.zadd(key, {member: now})
            pipe.zcard(key)
            pipe.expire(key, int(WINDOW_SECONDS) + 1)
        counts = pipe.execute()[2::4]
        full = [key for key, count in zip(keys, counts, strict=True) if int(count) > self.per_minute]
        if full:
            pipe = self.r.pipeline(transaction=True)
            for key in keys:
                pipe.zrem(key, member)
            pipe.zrange(full[0], 0, 0, withscores=True)
            oldest = pipe.execute()[-1]
            since = oldest[0][1] if oldest else now
            raise RateLimited(max(1, math.ceil(since + WINDOW_SECONDS - now)), kind)
        return [(key, member) for key in keys]

    def check(self, *subjects: tuple[str, str]) -> None:
        """``subjects`` are (kind, value) such as ("login", "a@b"), ("ip", "1.2.3.4"); raises RateLimited."""
        self._admit("login", list(subjects))

    @contextmanager
    def failures(self, kind: str, value: str) -> Iterator[Attempt]:
        """Count a check of ``value`` (e.g. a target login) unless the block calls ``attempt.passed()``."""
        [(key, member)] = self._admit(kind, [(kind, value)])
        attempt = Attempt(key, member)
        try:
            yield attempt
        finally:
            if attempt.ok:
                self.r.zrem(key, member)
