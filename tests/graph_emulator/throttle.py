"""Outlook's limits per app and mailbox: 4 concurrent requests, 10,000 requests per 10 minutes and 150 MB
uploaded per 5 minutes (all configurable), answered with 429 ApplicationThrottled and Retry-After."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

from .clock import Clock
from .errors import GraphError

Key = tuple[str, str]  # (app client id, mailbox upn)


@dataclass
class Limits:
    concurrency: int = 4
    requests: int = 10_000
    window: float = 600.0
    upload_bytes: int = 150 * 1024 * 1024
    upload_window: float = 300.0
    retry_after: int = 1  # seconds in the Retry-After header


class Throttle:
    """Counts requests per (app, mailbox) on an injected clock; tests read the counters."""

    def __init__(self, clock: Clock, limits: Limits | None = None) -> None:
        self.clock = clock
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self.in_flight: Counter[Key] = Counter()
        self.peak_in_flight: Counter[Key] = Counter()
        self.requests: Counter[Key] = Counter()  # every request counted, throttled ones too
        self.throttled: Counter[str] = Counter()  # reason -> 429s answered
        self._times: dict[Key, deque[float]] = {}
        self._bytes: dict[Key, deque[tuple[float, int]]] = {}

    def _busy(self, reason: str) -> GraphError:
        self.throttled[reason] += 1
        return GraphError(429, "ApplicationThrottled", f"Application is over its {reason} limit.",
                          {"Retry-After": str(self.limits.retry_after)})

    def enter(self, key: Key, upload: int = 0) -> None:
        """Admit one request (taking a concurrency slot) or raise the 429."""
        now = self.clock.now()
        lim = self.limits
        with self._lock:
            self.requests[key] += 1
            times = self._times.setdefault(key, deque())
            while times and times[0] <= now - lim.window:
                times.popleft()
            times.append(now)
            if len(times) > lim.requests:
                raise self._busy("MailboxRequests")
            if upload:
                sent = self._bytes.setdefault(key, deque())
                while sent and sent[0][0] <= now - lim.upload_window:
                    sent.popleft()
                if sum(n for _, n in sent) + upload > lim.upload_bytes:
                    raise self._busy("IncomingBytes")
                sent.append((now, upload))
            if self.in_flight[key] >= lim.concurrency:
                raise self._busy("MailboxConcurrency")
            self.in_flight[key] += 1
            self.peak_in_flight[key] = max(self.peak_in_flight[key], self.in_flight[key])

    def leave(self, key: Key) -> None:
        with self._lock:
            self.in_flight[key] -= 1
            if self.in_flight[key] <= 0:
                del self.in_flight[key]

    def free_slots(self, key: Key) -> int:
        with self._lock:
            return max(0, self.limits.concurrency - self.in_flight[key])
