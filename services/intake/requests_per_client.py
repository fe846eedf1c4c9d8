"""A bound on the requests one client address has in progress at once, behind a proxy too.

Straight to intake, a client's requests are bounded by its connections (one request at a time on each, at most
``MAILFERRY_MAX_CONNECTIONS_PER_CLIENT`` of them: :mod:`services.intake.connection_guard`). Behind the ingress every
connection is the proxy's, which that bound leaves alone, so a client could hold any number of requests there
(each a body dripping in just inside ``MAILFERRY_BODY_TIMEOUT_SECONDS``) and fill intake's connections with them.
Here the same number bounds the requests in progress per **client** address, the one uvicorn settled on from
``X-Forwarded-For`` of a trusted proxy only (:mod:`services.intake.forwarding`; IPv6 by /64): one more is answered
``429 rate_limited`` with ``Retry-After`` at once, before its body is read, never a 5xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.intake.rate_limit import address_bucket


class RequestsPerClient:
    """ASGI middleware: at most ``limit`` requests in progress per client address, else ``refused(limit)``."""

    def __init__(self, app: ASGIApp, limit: int, refused: Callable[[int], Response]) -> None:
        self.app = app
        self.limit = limit
        self.refused = refused
        self.in_progress: Counter[str] = Counter()  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        bucket = address_bucket(client[0])
        if self.in_progress[bucket] >= self.limit:
            await self.refused(self.limit)(scope, receive, send)
            return
        self.in_progress[bucket] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress[bucket] -= 1
            if not self.in_progress[bucket]:
                del self.in_progress[bucket]
