"""Login checks are rate-limited per source login and per client address (password guessing).

Fixed one-minute windows in Redis: one INCR+EXPIRE pipeline per key and check.
"""

from __future__ import annotations

import hashlib
import time

import redis

from shared import redis_keys as k


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many login attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class LoginRateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int) -> None:
        self.r = client
        self.per_minute = per_minute

    def check(self, *subjects: tuple[str, str]) -> None:
        """``subjects`` are (kind, value) such as ("login", "a@b"), ("ip", "1.2.3.4")."""
        window = int(time.time() // 60)
        pipe = self.r.pipeline(transaction=False)
        for kind, value in subjects:
            key = k.rate(kind, hashlib.sha256(value.strip().lower().encode()).hexdigest()[:24], window)
            pipe.incr(key)
            pipe.expire(key, 120)
        counts = pipe.execute()[0::2]
        if any(int(c) > self.per_minute for c in counts):
            raise RateLimited(60 - int(time.time()) % 60)
