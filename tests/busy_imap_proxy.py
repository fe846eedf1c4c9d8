"""An IMAP proxy that answers a number of LOGINs with ``NO [UNAVAILABLE]`` (or ``[LIMIT]``), as an overloaded
provider does, and records when every LOGIN arrived. Everything else passes through unchanged."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass, field

LOGIN = re.compile(rb"^(\S+) (?:LOGIN|AUTHENTICATE) ", re.IGNORECASE)


@dataclass
class Attempt:
    at: float  # time.monotonic()
    refused: bool


@dataclass
class BusyImapProxy:
    """Runs on its own event loop thread; ``refuse(n)`` arms it for the next n LOGINs."""

    target_port: int
    code: str = "UNAVAILABLE"
    attempts: list[Attempt] = field(default_factory=list)
    port: int = 0
    _left: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, n: int) -> None:
        with self._lock:
            self._left = n

    def _take(self) -> bool:
        with self._lock:
            refused = self._left > 0
            self._left -= refused
            self.attempts.append(Attempt(time.monotonic(), refused))
            return refused

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def down() -> None:
            while data := await up_r.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.create_task(down())
        try:
            while True:  # line by line until logged in, then bytes as they come
                line = await reader.readline()
                if not line:
                    break
                m = LOGIN.match(line)
                if m and self._take():
                    writer.write(m.group(1) + f" NO [{self.code}] Temporary server failure, try later\r\n".encode())
                    await writer.drain()
                    continue
                up_w.write(line)
                await up_w.drain()
                if m:
                    while data := await reader.read(65536):
                        up_w.write(data)
                        await up_w.drain()
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            up_w.close()
            task.cancel()

    def start(self) -> BusyImapProxy:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()

            async def main() -> None:
                server = await asyncio.start_server(self._client, "127.0.0.1", 0)
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                async with server:
                    await server.serve_forever()

            try:
                self._loop.run_until_complete(main())
            except RuntimeError:  # stopped
                pass

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
