"""A bound on how long a request body may stall, before anything reads it.

uvicorn waits for a body as long as its client keeps the connection open: a request whose Content-Length
announces more than it sends holds a connection, and the route's task (a PST or CSV upload's spool file, a
login-check slot), for ever. Here every wait for the next piece of a body is bounded (``seconds``, between
pieces, not for the whole body: a large upload on a slow line keeps going while bytes arrive). When it runs
out, the client is answered ``408 request_timeout`` (with ``Connection: close``, so the server closes the
connection, the rest of the body unread) and the route sees the client gone (``http.disconnect``): it cleans up
as for any client that went away, and what it answers then is not sent. A response already begun is not
replaced; the route only sees the disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTimeout:
    """ASGI middleware: each body piece must arrive within ``seconds``, else ``timed_out()`` is the answer."""

    def __init__(self, app: ASGIApp, seconds: float, timed_out: Callable[[float], Response]) -> None:
        self.app = app
        self.seconds = seconds
        self.timed_out = timed_out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False  # a response has begun: it is the route's to finish
        stalled = False  # the body stalled: the client is gone as far as the route knows
        answered = False  # ... and it got the 408: what the route answers to that is not sent
        whole = False  # the body has arrived: later receives only listen for a disconnect, unbounded

        async def timed_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the route's answer to the "disconnect" it was handed: the client has its 408
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        async def timed_receive() -> Message:
            nonlocal stalled, answered, whole
            if stalled:
                return {"type": "http.disconnect"}
            if whole:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                stalled = True
                if not started:
                    answered = True
                    answer = self.timed_out(self.seconds)
                    answer.headers["Connection"] = "close"
                    await answer(scope, _nothing_more, send)
                return {"type": "http.disconnect"}
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, timed_send)


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}
