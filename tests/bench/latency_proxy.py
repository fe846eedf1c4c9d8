"""A TCP proxy that adds a fixed one-way delay in each direction, so every round trip grows by RTT ms.

Run as its own process (``python -m tests.bench.latency_proxy --listen-port P --target-port T
--rtt-ms 20``) so that its CPU never competes with the benchmark's own Python threads for a GIL.
Bandwidth is not limited: every chunk read is forwarded ``rtt/2`` after it arrived, chunks keep
their order, and a bounded queue per direction gives back-pressure. A close (or a reset, passed on as a
close) travels like data: after what was sent before it, ``rtt/2`` late; and a new connection reaches the
server ``rtt/2`` after it was made, so it never overtakes a close sent before it. Prints ``READY <port>`` on
stdout once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path

CHUNK = 256 * 1024
QUEUE_CHUNKS = 256  # at most ~64 MB buffered per direction


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

    async def forward() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:  # the end goes on after the data before it, and as late
                with contextlib.suppress(OSError):
                    if writer.can_write_eof():
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(forward())
    try:
        while not sender.done():  # done early: the far side is gone, nothing more can reach it
            try:
                data = await reader.read(CHUNK)
            except OSError:  # a reset is passed on as a close, in order like one
                data = b""
            await queue.put((loop.time() + delay, data))
            if not data:
                break
        await sender
    except OSError:
        pass
    finally:
        if not sender.done():
            sender.cancel()


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: tuple[str, int],
                  delay: float) -> None:
    # A new connection reaches the server half a round trip later, as a close sent at the same moment does:
    # a session closed and the next one opened right after arrive in that order.
    await asyncio.sleep(delay)
    try:
        server_r, server_w = await asyncio.open_connection(*target, limit=CHUNK)
    except OSError:
        client_w.close()
        return
    try:
        await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay),
                             return_exceptions=True)
    finally:
        for w in (client_w, server_w):
            with contextlib.suppress(Exception):
                w.close()


async def serve(listen_port: int, target: tuple[str, int], rtt_ms: float) -> None:
    delay = rtt_ms / 2000.0
    server = await asyncio.start_server(lambda r, w: _handle(r, w, target, delay), "127.0.0.1", listen_port,
                                        limit=CHUNK, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print(f"READY {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


class LatencyProxy:
    """This proxy as a child process (its CPU never competes with the caller's threads for a GIL)."""

    def __init__(self, target_port: int, rtt_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.latency_proxy", "--target-port", str(target_port),
             "--rtt-ms", str(rtt_ms)], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[2], start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().split()
        if not line or line[0] != "READY":
            self.stop()
            raise RuntimeError("the latency proxy did not start")
        self.port = int(line[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> LatencyProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--listen-port", type=int, default=0)
    p.add_argument("--target-host", default="127.0.0.1")
    p.add_argument("--target-port", type=int, required=True)
    p.add_argument("--rtt-ms", type=float, required=True)
    a = p.parse_args(argv)
    asyncio.run(serve(a.listen_port, (a.target_host, a.target_port), a.rtt_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
