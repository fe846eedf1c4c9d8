"""Bounds on connections before any request exists: slow request heads, idle sockets, too many sockets.

uvicorn bounds nothing until a request's head has arrived: a connection that sends its header lines a byte at a
time (slowloris), or nothing at all, holds a socket and a place in the server for as long as the client keeps it
open, and a few hundred such connections exhaust the process. Its own cap (``limit_concurrency``) would answer
everyone ``503`` once reached, the slow clients' victims included. So intake serves HTTP through
:class:`GuardedH11`, uvicorn's h11 protocol with three bounds, as nginx has them:

- **the head in time** (``head_seconds``, nginx's ``client_header_timeout``): a request's head must have arrived
  whole this long after the connection opened, or after the first byte of a next request on a kept-alive one.
  Not a wait between bytes, which a byte every few seconds would outlast. A head begun is then answered
  ``408 request_timeout`` (the API's error shape, ``Connection: close``), a connection that sent nothing is closed.
  An idle kept-alive connection is uvicorn's ``timeout_keep_alive``'s to close; the rest of a body that was
  answered before it was read (a ``413``) has ``head_seconds`` too, then the connection is closed.
- **connections per client address** (``per_client``, IPv6 by /64): a further connection from an address that
  holds as many is closed at once. Not for the proxies in ``MAILFERRY_TRUSTED_PROXIES``
  (:mod:`services.intake.forwarding`): behind the ingress every connection comes from one of them, and the
  ingress bounds its own clients.
- **connections in all** (``total``): a new connection past it closes the one that has waited longest for a
  request head (idle, kept alive, or slow), as nginx reuses idle connections when it runs out; when every
  connection is inside a request, the new one is closed. So slow clients from many addresses cannot keep a
  normal client out: its connection takes a slow one's place, and its request is answered.

Closing is never a ``5xx``: nothing was asked yet, and an HTTP client retries a request it had not sent.
The class leans on uvicorn's h11 protocol's attributes (``conn``, ``cycle``, ``connections``), pinned with it in
constraints.txt; tests/e2e/test_slow_clients.py runs it in the real intake process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.intake.rate_limit import address_bucket

#: The largest request head h11 buffers (its default); a longer one is answered 431.
HEAD_LIMIT = 16 * 1024


@dataclass(frozen=True)
class ConnectionLimits:
    head_seconds: float = 15.0
    per_client: int = 32
    total: int = 1000
    trusted_proxies: tuple[str, ...] = ()

    def trusts(self, host: str) -> bool:
        """Whether ``host`` is a trusted proxy (its connections carry many clients)."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net) for net in self.trusted_proxies)


def refusal(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the API's error shape that closes the connection (written outside the app)."""
    body = json.dumps({"error": {"code": code, "message": message, "side": None, "field": None}}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11]:
    """The protocol class uvicorn is given (``http=``): :class:`GuardedH11` with these limits."""

    class Limited(GuardedH11):
        pass

    Limited.limits = limits
    return Limited


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, with the module's three bounds (``limits`` set by :func:`guarded_protocol`)."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_since: float | None = None  # waiting for a request head since (loop time); None: in a request
        self.bucket: str | None = None  # the peer address as counted; None: a trusted proxy or no address
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else ""
        self.bucket = None if not host or self.limits.trusts(host) else address_bucket(host)
        if not self._admitted():
            transport.close()
            return
        self._review()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._review()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._review()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a head h11 refuses, in the API's shape (a head too large is a 431)."""
        if len(self.conn.trailing_data[0]) > HEAD_LIMIT:
            answer = refusal(431, "Request Header Fields Too Large", "request_header_too_large",
                             f"the request's head (request line and headers) is larger than {HEAD_LIMIT} bytes")
        else:
            answer = refusal(400, "Bad Request", "invalid_request", "the request is not valid HTTP/1.1")
        self.transport.write(answer)
        self.transport.close()

    def _others(self) -> Iterable[GuardedH11]:
        return (c for c in self.connections
                if c is not self and isinstance(c, GuardedH11) and not c.transport.is_closing())

    def _admitted(self) -> bool:
        others = list(self._others())
        if self.bucket is not None and sum(c.bucket == self.bucket for c in others) >= self.limits.per_client:
            return False
        if len(others) < self.limits.total:
            return True
        waiting = [c for c in others if c.idle_since is not None]
        if not waiting:
            return False
        min(waiting, key=lambda c: c.idle_since or 0.0).transport.close()
        return True

    def _review(self) -> None:
        """After every event: is the connection between requests (waiting for a head, or for the rest of a body
        that was answered before it was read), since when, and is that timed?"""
        if self.transport.is_closing():
            self._stop_head_timer()
            return
        between = self.cycle is None or self.cycle.response_complete
        if not between or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self.idle_since = None
            self._stop_head_timer()
            return
        if self.idle_since is None:
            self.idle_since = self.loop.time()
        # A new connection, a head's first bytes, or a body answered already (a 413, a 429) that is still
        # arriving: each has head_seconds. An idle kept-alive connection is uvicorn's keep-alive timer's.
        leftover = self.conn.their_state is h11.SEND_BODY
        if self._head_timer is None and (self.cycle is None or leftover or self.conn.trailing_data[0]):
            self._head_timer = self.loop.call_later(self.limits.head_seconds, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:  # a head begun: say why (nginx: 408)
            self.transport.write(refusal(408, "Request Timeout", "request_timeout",
                                         f"the request's head did not arrive within {self.limits.head_seconds:g} "
                                         f"seconds"))
        self.transport.close()
