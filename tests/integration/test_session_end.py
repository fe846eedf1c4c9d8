"""A session ends (and its lease may go back) only once the server has closed it: IMAP, POP3, ManageSieve.

Dovecot closes at once after LOGOUT, so whether the client waited for that cannot be seen against it. These
servers are scripted: each answers the logout (or sees the client's half-close) and then holds the
connection open a while before closing it, as a busy server may; the client's close must return after that.
The counting side — Dovecot's own log of each protocol's session starts and ends — is tested against the
real Dovecot below.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailferry.dovecot import DovecotServer
from shared.adapters.imap.connection import login_imap
from shared.adapters.net import ConnectOptions
from shared.adapters.pop3.connection import login_pop3
from shared.adapters.session_end import EOF_WAIT_SECONDS
from shared.adapters.sieve.client import connect_sieve
from shared.net_guard import AllowList
from tests.session_log import read_excerpt, sessions

pytestmark = pytest.mark.integration

OPTS = ConnectOptions(AllowList.parse("127.0.0.1"), timeout=10)
HOLD = 0.4  # how long the scripted server keeps a connection open after the logout


def imap_answer(line: bytes) -> tuple[bytes, bool]:
    tag, command = [*line.split(), b"", b""][:2]
    if command.upper() == b"LOGOUT":
        return b"* BYE bye\r\n" + tag + b" OK done\r\n", True
    if command.upper() == b"CAPABILITY":
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n", False
    return tag + b" OK done\r\n", False


def pop3_answer(line: bytes) -> tuple[bytes, bool]:
    command = line.split()[0].upper() if line.split() else b""
    if command == b"CAPA":
        return b"+OK\r\nUSER\r\n.\r\n", False
    return b"+OK\r\n", command == b"QUIT"


def sieve_answer(line: bytes) -> tuple[bytes, bool]:
    return b"OK\r\n", line.split()[0].upper() == b"LOGOUT"


GREETINGS = {
    "imap": (b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", imap_answer),
    "pop3": (b"+OK ready\r\n", pop3_answer),
    "sieve": (b'"IMPLEMENTATION" "scripted"\r\n"SASL" "PLAIN"\r\nOK\r\n', sieve_answer),
}


class Scripted:
    """One connection: greeting, an answer per line; after the logout line (or the client's end of file)
    it waits ``hold`` seconds (None: until the test ends) and closes, noting when."""

    def __init__(self, greeting: bytes, answer: Callable[[bytes], tuple[bytes, bool]], hold: float | None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.greeting, self.answer, self.hold = greeting, answer, hold
        self.closed_at = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as reader:
            conn.sendall(self.greeting)
            while line := reader.readline():
                reply, last = self.answer(line)
                conn.sendall(reply)
                if last:
                    break
            if self.hold is None:
                self.done.wait(30)
            else:
                time.sleep(self.hold)
            self.closed_at = time.monotonic()

    def stop(self) -> None:
        self.done.set()
        self.listener.close()
        self.thread.join(10)


@pytest.fixture
def scripted() -> Iterator[Callable[[str, float | None], Scripted]]:
    made: list[Scripted] = []

    def make(protocol: str, hold: float | None = HOLD) -> Scripted:
        greeting, answer = GREETINGS[protocol]
        made.append(Scripted(greeting, answer, hold))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def ended(protocol: str, port: int, *, logout: bool) -> float:
    """Log in, then log out (or drop the session); returns when that returned (monotonic)."""
    if protocol == "imap":
        imap = login_imap("127.0.0.1", port, "none", False, "a@x", "pw", OPTS)
        imap.logout() if logout else imap.shutdown()
    elif protocol == "pop3":
        pop = login_pop3("127.0.0.1", port, "none", False, "a@x", "pw", OPTS)
        pop.logout() if logout else pop.abort()
    else:
        sieve = connect_sieve("127.0.0.1", port, "none", False, "a@x", "pw", OPTS)
        sieve.logout() if logout else sieve.close()
    return time.monotonic()


@pytest.mark.parametrize("protocol", ["imap", "pop3", "sieve"])
@pytest.mark.parametrize("logout", [True, False], ids=["logout", "dropped"])
def test_a_session_ends_only_after_the_server_closed_it(
        scripted: Callable[[str, float | None], Scripted], protocol: str, logout: bool) -> None:
    server = scripted(protocol, HOLD)
    returned = ended(protocol, server.port, logout=logout)
    server.thread.join(5)
    assert server.closed_at, "the server never closed"
    assert returned >= server.closed_at, f"the client was done {server.closed_at - returned:.3f} s before the server"


def test_a_server_that_never_closes_is_left_after_the_bounded_wait(
        scripted: Callable[[str, float | None], Scripted]) -> None:
    server = scripted("imap", None)
    started = time.monotonic()
    returned = ended("imap", server.port, logout=True)
    assert EOF_WAIT_SECONDS - 0.1 <= returned - started < EOF_WAIT_SECONDS + 2


def test_dovecots_own_log_shows_each_protocols_session_start_and_end(tmp_path: Path) -> None:
    """With ``session_times`` every mail process stamps its session's start (before the client hears its login
    succeeded) and end itself, to the microsecond: what tests/session_log.py counts."""
    with DovecotServer(tmp_path / "dovecot", session_times=True) as server:
        server.add_user("a@x.test", "pw-a")
        before = time.time()
        ports = {"imap": server.imap_port, "pop3": server.pop3_port, "sieve": server.sieve_port}
        logged_in: dict[str, float] = {}
        for protocol, port in ports.items():
            if protocol == "imap":
                imap = login_imap("127.0.0.1", port, "none", False, "a@x.test", "pw-a", OPTS)
                logged_in[protocol] = time.time()
                imap.logout()
            elif protocol == "pop3":
                pop = login_pop3("127.0.0.1", port, "none", False, "a@x.test", "pw-a", OPTS)
                logged_in[protocol] = time.time()
                pop.logout()
            else:
                sieve = connect_sieve("127.0.0.1", port, "none", False, "a@x.test", "pw-a", OPTS)
                logged_in[protocol] = time.time()
                sieve.logout()
        deadline = time.monotonic() + 10
        while True:
            found, _span = sessions(read_excerpt(server.log_path))
            if sum(s.end is not None for s in found) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    by_protocol = {s.protocol: s for s in found}
    assert set(by_protocol) == {"imap", "pop3", "managesieve"}, server.log_path.read_text()[-2000:]
    for protocol, name in (("imap", "imap"), ("pop3", "pop3"), ("sieve", "managesieve")):
        s = by_protocol[name]
        assert s.start is not None and s.end is not None and s.user == "a@x.test"
        assert before <= s.start <= logged_in[protocol] <= s.end, (protocol, before, s.start, logged_in[protocol], s.end)
