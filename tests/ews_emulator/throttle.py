"""A configurable throttle that answers ErrorServerBusy like Exchange's throttling policy does."""

from __future__ import annotations

import threading

from .soap import EwsError


class Throttle:
    """Every `every_n`-th EWS request (counted across the emulator) is refused as busy.

    The refusal is the SOAP fault Exchange sends when a throttling budget is exceeded:
    ResponseCode ErrorServerBusy with a MessageXml `<t:Value Name="BackOffMilliseconds">`.
    `operations` limits throttling to the named SOAP operations (None = all).
    """

    def __init__(self, every_n: int = 0, backoff_ms: int = 500, operations: set[str] | None = None) -> None:
        if every_n < 0 or backoff_ms < 0:
            raise ValueError("every_n and backoff_ms must be >= 0")
        self.every_n = every_n
        self.backoff_ms = backoff_ms
        self.operations = operations
        self._seen = 0
        self._lock = threading.Lock()

    def check(self, operation: str) -> None:
        """Raise the busy fault if this request is one of the throttled ones."""
        if not self.every_n or (self.operations is not None and operation not in self.operations):
            return
        with self._lock:
            self._seen += 1
            busy = self._seen % self.every_n == 0
        if busy:
            raise EwsError(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                {"BackOffMilliseconds": str(self.backoff_ms)},
                fault=True,
            )
