"""Time for the emulator, injectable so tests move it on instead of sleeping (token expiry, limits, sessions)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """The wall clock. `ManualClock` replaces it in tests."""

    def now(self) -> float:
        return time.time()

    def iso(self, offset: float = 0.0) -> str:
        return iso_utc(self.now() + offset)


class ManualClock(Clock):
    """A clock that stands still until a test advances it."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def iso_utc(epoch: float) -> str:
    """Graph's DateTimeOffset form: 2024-01-31T12:00:00Z."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
