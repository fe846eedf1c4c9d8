"""A TCP proxy that breaks connections on demand: the chaos runner puts one in front of the broker, the
source and the target.

``cut()`` drops every open connection at once (mid-FETCH, mid-APPEND, mid-produce); ``unreachable(s)`` drops
them and refuses new ones for ``s`` seconds (the peer is gone, as far as anyone can tell); ``stall(s)``
holds every byte for ``s`` seconds without closing anything. It runs in a thread of the runner: chaos is
measured for correctness, not speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

CHUNK = 256 * 1024


class FaultProxy:
    def __init__(self, target_port: int, listen_port: int = 0, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listen_port = listen_port
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._refuse_until = 0.0
        self._stall_until = 0.0
        self.cuts = 0
        self.refused = 0
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="fault-proxy", daemon=True)
        self._thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self._listen_port, limit=CHUNK, backlog=512))
        self.port = int(self._server.sockets[0].getsockname()[1])
        started.set()
        self._loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while data := await reader.read(CHUNK):
                while time.monotonic() < self._stall_until:
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            self.refused += 1
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target, limit=CHUNK)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        try:
            await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        finally:
            self._writers -= {client_w, server_w}

    def _cut_now(self) -> int:
        writers = list(self._writers)
        for w in writers:
            with contextlib.suppress(Exception):
                w.transport.abort()  # a reset, as when a peer or a middlebox drops the connection
        self.cuts += 1
        return len(writers) // 2

    async def _cut(self) -> int:
        return self._cut_now()

    def cut(self) -> int:
        """Drop every open connection now; how many there were (client side)."""
        return asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def unreachable(self, seconds: float) -> int:
        """Drop every open connection and refuse new ones for ``seconds`` (returns at once)."""
        self._refuse_until = time.monotonic() + seconds
        return self.cut()

    def stall(self, seconds: float) -> None:
        """Hold every byte for ``seconds``, connections left open."""
        self._stall_until = time.monotonic() + seconds

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._cut_now)
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
