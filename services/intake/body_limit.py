"""A size limit on request bodies, before the framework reads them.

FastAPI reads a JSON body whole into memory, and uvicorn sets no limit: one request of a
few gigabytes would take the process down. Every JSON request of this API is a few
kilobytes, so bodies are refused above ``limit`` (413, in the API's error shape) — by
the declared Content-Length at once, else while they arrive. Streamed uploads (the PST
endpoint, which enforces its own limit while writing to disk) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 64 * 1024


class BodyLimit:
    """ASGI middleware: buffer a body up to ``limit`` bytes and hand it on, or answer ``too_large()``."""

    def __init__(self, app: ASGIApp, limit: int, streamed_paths: frozenset[str],
                 too_large: Callable[[int], Response], streamed: Callable[[str], bool] = lambda _p: False) -> None:
        self.app = app
        self.limit = limit
        self.streamed_paths = streamed_paths
        self.streamed = streamed  # paths with a variable part (a project's id) whose body is streamed too
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streamed_paths or self.streamed(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.too_large(self.limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self.too_large(self.limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A receive that gives the buffered body once, then whatever the connection says (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
