"""An HTTP(S) client for URLs a stranger named (autoconfig, autodiscover): every host through the network guard.

The edge of discovery's HTTP: the guard's checked address is the one connected to (no second lookup, so DNS
rebinding cannot slip in), redirects stay on one scheme, bodies are capped and reading stops at a deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from shared.net_guard import AllowList, Resolver, resolve_checked

MAX_BODY_BYTES = 256 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "mailferry-autodetect/1"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


# fetch(method, url, body, headers, timeout) -> response; raises on any failure (refused host included).
HttpFetch = Callable[[str, str, bytes | None, Mapping[str, str], float], HttpResponse]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the guard checked; ``host`` stays the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; ``host`` is used for SNI and the certificate check."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class FetchRefused(OSError):
    """The fetch was not made or its answer not read (guard refusal, bad redirect, oversized body)."""


@dataclass
class GuardedHttp:
    """HTTP(S) client for attacker-named URLs: every host (redirects too) through the network guard.

    Redirects stay on ``scheme`` (no https→http downgrade) and are followed at most MAX_REDIRECTS times,
    re-sending the same method and body (what autodiscover clients do). Bodies are capped at ``max_bytes``
    and reading stops at the deadline, so a slow server cannot hold a worker.
    """

    allow: AllowList
    resolver: Resolver | None = None
    scheme: str = "https"
    ca_file: str = ""
    max_bytes: int = MAX_BODY_BYTES
    clock: Callable[[], float] = time.monotonic
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.ca_file or None)
        return self._context

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
                 timeout: float) -> HttpResponse:
        deadline = self.clock() + timeout
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, body, headers, deadline)
            location = response.headers.get("location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return response
        raise FetchRefused(f"too many redirects from {url}")

    def _once(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
              deadline: float) -> HttpResponse:
        parts = urlsplit(url)
        if parts.scheme != self.scheme or not parts.hostname:
            raise FetchRefused(f"refusing to fetch {url}: only {self.scheme} URLs are followed")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_checked(host, port, self.allow, resolver=self.resolver)  # raises NetGuardError
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise FetchRefused("timed out")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPSConnection(host, port, address, remaining, self._tls())
        else:
            conn = _PinnedHTTPConnection(host, port, address, remaining)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                if self.clock() > deadline:
                    raise FetchRefused(f"{host} answered too slowly")
                chunk = resp.read1(16384)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchRefused(f"{host} answered with more than {self.max_bytes} bytes")
                chunks.append(chunk)
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"".join(chunks))
        finally:
            conn.close()
