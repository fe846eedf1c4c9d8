"""Faults a test injects: fail the next requests with a status, drop connections, or hold requests in flight
(to fill the concurrency limit deterministically, without timing)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import GraphError


@dataclass
class _Failure:
    remaining: int
    status: int
    code: str
    message: str
    retry_after: int | None
    path_contains: str | None


class Gate:
    """Requests that reach the gate wait until the test releases it; `wait_held` blocks until n are waiting."""

    def __init__(self, count: int, method: str | None = None, pattern: str | None = None) -> None:
        self.method, self.pattern = method, pattern  # only requests of this method and route pattern wait
        self.remaining = count
        self.held = 0
        self._cond = threading.Condition()
        self._open = False

    def take(self) -> bool:
        with self._cond:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            self.held += 1
            self._cond.notify_all()
            return True

    def wait(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._open, timeout=60)
            self.held -= 1

    def wait_held(self, n: int, timeout: float = 30) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.held >= n, timeout=timeout)

    def release(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


class Faults:
    """The emulator's fault plan; every method is safe to call while requests run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._drops = 0
        self.gate: Gate | None = None
        self.injected = 0

    def fail_next(self, n: int, status: int = 503, code: str = "ServiceUnavailable",
                  message: str = "Service Unavailable", retry_after: int | None = None,
                  path_contains: str | None = None) -> None:
        with self._lock:
            self._failures.append(_Failure(n, status, code, message, retry_after, path_contains))

    def drop_next(self, n: int) -> None:
        """Close the connection of the next n Graph requests without an answer."""
        with self._lock:
            self._drops += n

    def hold(self, n: int, method: str | None = None, pattern: str | None = None) -> Gate:
        """Hold the next n requests (of ``method`` on the route ``pattern``, when given) until released."""
        self.gate = Gate(n, method, pattern)
        return self.gate

    def should_drop(self) -> bool:
        with self._lock:
            if self._drops > 0:
                self._drops -= 1
                self.injected += 1
                return True
            return False

    def check(self, path: str) -> None:
        with self._lock:
            for f in self._failures:
                if f.remaining > 0 and (f.path_contains is None or f.path_contains in path):
                    f.remaining -= 1
                    self.injected += 1
                    headers = {"Retry-After": str(f.retry_after)} if f.retry_after is not None else {}
                    raise GraphError(f.status, f.code, f.message, headers)

    def maybe_hold(self, method: str = "", pattern: str = "") -> None:
        gate = self.gate
        if gate is None or (gate.method and gate.method != method) or (gate.pattern and gate.pattern != pattern):
            return
        if gate.take():
            gate.wait()
