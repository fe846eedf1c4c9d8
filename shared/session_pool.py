"""Logged-in sessions kept per migration and closed when idle.

A migration's tasks and batches reuse one login instead of paying a TLS
handshake and LOGIN per batch; idle sessions are closed so a worker that has
served thousands of migrations holds no stale connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SessionPool(Generic[T]):
    def __init__(self, open_session: Callable[[str], T], close_session: Callable[[T], None],
                 idle_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._open = open_session
        self._close = close_session
        self._idle = idle_seconds
        self._clock = clock
        self._pool: dict[str, tuple[T, float]] = {}

    def get(self, key: str) -> T:
        self.expire()
        hit = self._pool.get(key)
        session = hit[0] if hit else self._open(key)
        self._pool[key] = (session, self._clock())
        return session

    def drop(self, key: str) -> None:
        hit = self._pool.pop(key, None)
        if hit:
            try:
                self._close(hit[0])
            except Exception:  # noqa: S110 - the session is being discarded because it may be broken
                pass

    def expire(self) -> None:
        now = self._clock()
        for key, (_s, at) in list(self._pool.items()):
            if now - at > self._idle:
                self.drop(key)

    def close_all(self) -> None:
        for key in list(self._pool):
            self.drop(key)
