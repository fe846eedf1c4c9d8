"""A TCP proxy that breaks connections on demand: the chaos runner puts one in front of the broker, the
source and the target.

``cut()`` drops every open connection at once (mid-FETCH, mid-APPEND, mid-produce); ``unreachable(s)`` drops
them and refuses new ones for ``s`` seconds (the peer is gone, as far as anyone can tell); ``stall(s)``
holds every byte for ``s`` seconds without closing anything. In front of an IMAP server (``imap=True``) it
also answers for the server: ``inject("no", ...)`` swallows the next matching commands (FETCH, APPEND) and
answers each ``NO [UNAVAILABLE]`` itself, as a server out of breath would, the connection kept in step;
``inject("bye", ...)`` answers an untagged ``BYE`` and closes the connection, as a server shutting down
would. Injected answers go out between the server's own responses, never inside one. It runs in a thread
of the runner: chaos is measured for correctness, not speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from dataclasses import dataclass, field

CHUNK = 256 * 1024
LITERAL = re.compile(rb"\{(\d+)(\+?)\}\r?\n$")
NO_ANSWER = b"NO [UNAVAILABLE] injected by the chaos proxy: try again later"
BYE_ANSWER = b"* BYE injected by the chaos proxy: shutting down\r\n"


@dataclass
class ImapUnits:
    """Where whole IMAP units (a line with the literals it announces, and their continuation lines) begin and
    end in a stream passing through: :meth:`feed` splits a chunk into ``(head, bytes)`` pieces, ``head`` the
    unit's complete first line when the piece begins a unit (a first line is held until it is whole)."""

    hold_heads: bool = True
    need: int = 0  # literal bytes still to come in the current unit
    in_unit: bool = False
    line: bytearray = field(default_factory=bytearray)

    @property
    def between(self) -> bool:
        return not self.in_unit and not self.need and not self.line

    def feed(self, data: bytes) -> list[tuple[bytes | None, bytes, bool]]:
        """The pieces of ``data``: (head or None, bytes, whether the unit ends with it)."""
        out: list[tuple[bytes | None, bytes, bool]] = []
        pos, n = 0, len(data)
        while pos < n:
            if self.need:
                take = min(self.need, n - pos)
                self.need -= take
                out.append((None, data[pos:pos + take], False))
                pos += take
                continue
            j = data.find(b"\n", pos)
            piece = data[pos:] if j < 0 else data[pos:j + 1]
            pos = n if j < 0 else j + 1
            head_starts = not self.in_unit and not self.line
            self.line += piece
            if j < 0:  # a partial line: a first line waits to be whole, the rest passes
                if self.in_unit or not self.hold_heads:
                    out.append((None, piece, False))
                    self.in_unit = True
                continue
            head = None
            if not self.in_unit:
                head = bytes(self.line)
                piece = head if self.hold_heads else piece
                if not self.hold_heads and not head_starts:
                    head = None  # its start went out already, unparsed
            m = LITERAL.search(bytes(self.line))
            self.line.clear()
            if m:
                self.need, self.in_unit = int(m.group(1)), True
                out.append((head, piece, False))
            else:
                self.in_unit = False
                out.append((head, piece, True))
        return out


def command_verb(head: bytes) -> tuple[bytes, bytes]:
    """(tag, verb) of a command line, ``UID`` skipped: (b"A7", b"FETCH")."""
    parts = head.split(b" ", 3)
    if len(parts) < 2:
        return b"", b""
    verb = parts[1].upper()
    if verb == b"UID" and len(parts) > 2:
        verb = parts[2].split(b"\r")[0].upper()
    return parts[0], verb.strip()


@dataclass
class Injection:
    kinds: tuple[str, ...]  # of "no" and "bye", one chosen at random for each strike
    verbs: frozenset[bytes]
    left: int
    chance: float
    rng: random.Random


class FaultProxy:
    def __init__(self, target_port: int, listen_port: int = 0, target_host: str = "127.0.0.1",
                 imap: bool = False) -> None:
        self.target = (target_host, target_port)
        self.imap = imap
        self._injection: Injection | None = None
        self.injected: list[str] = []
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
        for task in asyncio.all_tasks(self._loop):  # the connections' pipes, cut by close()
            task.cancel()
        with contextlib.suppress(Exception):
            self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

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
            if self.imap:
                await ImapLink(self, client_r, client_w, server_r, server_w).run()
            else:
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

    def inject(self, kinds: tuple[str, ...], verbs: tuple[str, ...], times: int, chance: float,
               rng: random.Random) -> None:
        """From now on, each command of ``verbs`` is answered by the proxy with ``chance``, ``times`` times in
        all, with one of ``kinds`` ("no": a tagged ``NO [UNAVAILABLE]``; "bye": an untagged ``BYE`` and the
        connection closed); ``self.injected`` says which. ``times=0`` ends it."""
        assert self.imap and set(kinds) <= {"no", "bye"}
        self._injection = Injection(kinds, frozenset(v.encode() for v in verbs), times, chance, rng)

    def _strike(self, verb: bytes) -> str:
        """Which fault this command meets: "" (none), "no" or "bye" (called on the proxy's loop)."""
        inj = self._injection
        if inj is None or inj.left <= 0 or verb not in inj.verbs or inj.rng.random() >= inj.chance:
            return ""
        inj.left -= 1
        kind = inj.rng.choice(inj.kinds)
        self.injected.append(f"{kind} to {verb.decode()}")
        return kind

    def stall(self, seconds: float) -> None:
        """Hold every byte for ``seconds``, connections left open."""
        self._stall_until = time.monotonic() + seconds

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._cut_now)
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class ImapLink:
    """One IMAP connection through the proxy, able to answer a command in the server's place."""

    def __init__(self, proxy: FaultProxy, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                 server_r: asyncio.StreamReader, server_w: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client_r, self.client_w, self.server_r, self.server_w = client_r, client_w, server_r, server_w
        self.commands = ImapUnits(hold_heads=True)
        self.answers = ImapUnits(hold_heads=False)
        self.pending: list[bytes] = []  # our answers, waiting for the server's stream to be between responses
        self.closing = False

    async def run(self) -> None:
        await asyncio.gather(self._client_to_server(), self._server_to_client())

    def _answer(self, data: bytes) -> None:
        if self.answers.between:
            self.client_w.write(data)
        else:
            self.pending.append(data)

    async def _client_to_server(self) -> None:
        swallowing: tuple[bytes, str] | None = None  # (tag, kind) of the command answered in the server's place
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while (data := await self.client_r.read(CHUNK)) and not self.closing:
                while time.monotonic() < self.proxy._stall_until:
                    await asyncio.sleep(0.05)
                out = bytearray()
                for head, piece, ends in self.commands.feed(data):
                    if head is not None:
                        tag, verb = command_verb(head)
                        kind = self.proxy._strike(verb)
                        swallowing = (tag, kind) if kind else None
                        m = LITERAL.search(head)
                        if swallowing and m and not m.group(2):
                            # A synchronizing literal: the client waits for "+"; answered at once, it sends none.
                            self.commands.need, self.commands.in_unit, ends = 0, False, True
                    if swallowing is None:
                        out += piece
                    elif ends:
                        tag, kind = swallowing
                        swallowing = None
                        if kind == "no":
                            self._answer(tag + b" " + NO_ANSWER + b"\r\n")
                        else:
                            await self._bye()
                            return
                if out:
                    self.server_w.write(bytes(out))
                    await self.server_w.drain()
                await self.client_w.drain()
        with contextlib.suppress(Exception):
            self.server_w.close()

    async def _bye(self) -> None:
        """BYE between the server's responses, then the connection closed both ways."""
        self.closing = True
        deadline = time.monotonic() + 5
        while not self.answers.between and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        with contextlib.suppress(Exception):
            self.client_w.write(BYE_ANSWER)
            await self.client_w.drain()
        for w in (self.client_w, self.server_w):
            with contextlib.suppress(Exception):
                w.close()

    async def _server_to_client(self) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            while data := await self.server_r.read(CHUNK):
                while time.monotonic() < self.proxy._stall_until:
                    await asyncio.sleep(0.05)
                if self.closing:
                    continue  # the server's words after our BYE are not passed on
                for _head, piece, ends in self.answers.feed(data):
                    self.client_w.write(piece)
                    if ends and self.pending:
                        for answer in self.pending:
                            self.client_w.write(answer)
                        self.pending.clear()
                await self.client_w.drain()
        with contextlib.suppress(Exception):
            self.client_w.close()
