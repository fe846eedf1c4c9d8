"""Slow and greedy clients against the real intake process (``mailferry service intake``), over raw sockets.

A client that sends its request head a byte at a time, or nothing at all, is cut off after
``MAILFERRY_HEAD_TIMEOUT_SECONDS`` while others are served; one address holds at most
``MAILFERRY_MAX_CONNECTIONS_PER_CLIENT`` connections (a trusted proxy any number, its clients' requests counted by
the forwarded address); and hundreds of slow connections from many addresses cannot keep a normal client out.
Clients connect from chosen loopback addresses (all of 127.0.0.0/8 is this machine), so the peer address is real.

Two intake processes: one with a short head timeout (the cut-off is waited for), one with a long one, where only
the connection bounds can explain what a client sees. The second runs with few file descriptors (as a container
may), so that without a bound on connections the slow ones would take the last descriptor and nobody would be
served.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailferry import stack
from tests.conftest import stack_env
from tests.servers import Process

pytestmark = pytest.mark.e2e

PATIENCE = 30.0  # how long a raw client waits for the server before it calls it stuck
SHORT_HEAD = 1.5
PER_CLIENT = 4
TOTAL = 60
FILES = 200  # the long-timeout intake's file descriptor limit
PROXY = "127.0.0.3"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 300 + b"\r\n\r\n"


@dataclass
class Intake:
    port: int
    process: Process


def _start(env: dict[str, str], log: Path, files: int | None = None) -> Intake:
    limit = [] if files is None else ["prlimit", f"--nofile={files}:{files}", "--"]  # util-linux
    argv = [*limit, *stack.service_command("intake")]
    with log.open("wb") as fh:
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT)
    port = int(env["MAILFERRY_INTAKE_PORT"])
    if not stack.wait_ready(f"http://127.0.0.1:{port}/readyz", 90):
        proc.kill()
        pytest.fail(f"intake did not become ready: {log.read_text()[-3000:]}")
    return Intake(port, Process(proc, f"127.0.0.1:{port}", argv, log))


@pytest.fixture(scope="module")
def short(broker: Process, redis_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    state = tmp_path_factory.mktemp("slow-short")
    env = stack_env(broker, redis_server, f"s{secrets.token_hex(4)}.", MAILFERRY_STATE_DIR=str(state),
                    MAILFERRY_HEAD_TIMEOUT_SECONDS=str(SHORT_HEAD), PYTHONUNBUFFERED="1")
    intake = _start(env, state / "intake.log")
    yield intake
    intake.process.stop()


@pytest.fixture(scope="module")
def long(broker: Process, redis_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    state = tmp_path_factory.mktemp("slow-long")
    env = stack_env(broker, redis_server, f"l{secrets.token_hex(4)}.", MAILFERRY_STATE_DIR=str(state),
                    MAILFERRY_HEAD_TIMEOUT_SECONDS="600", MAILFERRY_MAX_CONNECTIONS_PER_CLIENT=str(PER_CLIENT),
                    MAILFERRY_MAX_CONNECTIONS=str(TOTAL), MAILFERRY_TRUSTED_PROXIES=PROXY, PYTHONUNBUFFERED="1")
    intake = _start(env, state / "intake.log", files=FILES)
    yield intake
    intake.process.stop()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE, source_address=(source, 0))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as closed)."""
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server neither answered nor closed in {PATIENCE:g} s; got {got[:200]!r}")
    return got


def served(port: int, source: str = "127.0.0.1", extra: bytes = b"") -> tuple[int, dict[str, object]]:
    """A normal request, sent whole at once: its status and JSON body."""
    with connect(port, source) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n")
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_head_sent_a_byte_at_a_time_is_cut_off_with_408_while_a_normal_client_is_served(short: Intake) -> None:
    sock = connect(short.port)
    sent = 0
    stop = threading.Event()

    def drip() -> None:  # one byte every 0.1 s: the whole head would take 35 s
        nonlocal sent
        with contextlib.suppress(OSError):
            for i in range(len(HEAD)):
                if stop.wait(0.1):
                    return
                sock.sendall(HEAD[i:i + 1])
                sent += 1

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    assert served(short.port) == (200, {"status": "ok"})  # meanwhile
    answer = read_all(sock)
    stop.set()
    dripping.join(5)
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_timeout" and f"{SHORT_HEAD:g} seconds" in error["message"], error
    assert 0 < sent < len(HEAD)  # cut off while still sending


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(short: Intake) -> None:
    with connect(short.port) as sock:
        assert read_all(sock) == b""


def test_a_kept_alive_connection_whose_next_head_is_slow_is_cut_off_too(short: Intake) -> None:
    with connect(short.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b'{"status":"ok"}' not in first:
            chunk = sock.recv(65536)
            assert chunk, first
            first += chunk
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # and no more
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]


def test_a_head_too_large_gets_431_in_the_api_error_shape(short: Intake) -> None:
    with connect(short.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 40_000)  # and on, and on
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:300]
    assert json.loads(body)["error"]["code"] == "request_header_too_large"


def test_one_address_holds_only_its_share_of_connections(long: Intake) -> None:
    """Four slow heads from 127.0.0.2 (the head timeout is 10 minutes here): a fifth from it is closed at once,
    unanswered, while another address is served."""
    holders = [connect(long.port, "127.0.0.2") for _ in range(PER_CLIENT)]
    try:
        for sock in holders:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        assert served(long.port, "127.0.0.1") == (200, {"status": "ok"})
        with connect(long.port, "127.0.0.2") as fifth:
            with contextlib.suppress(OSError):  # the server may have closed it before this is sent
                fifth.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert read_all(fifth) == b""
    finally:
        for sock in holders:
            sock.close()
    # Their places are free again once intake has seen them closed (it may not have yet when the next one comes).
    deadline = time.monotonic() + PATIENCE
    while True:
        with contextlib.suppress(AssertionError):
            assert served(long.port, "127.0.0.2") == (200, {"status": "ok"})
            break
        assert time.monotonic() < deadline, "127.0.0.2 was never served again"


def test_a_trusted_proxy_is_not_limited_but_its_clients_requests_are(long: Intake) -> None:
    """From the proxy, more connections than one client may hold; each request's client is its forwarded
    address, and a fifth request of one client still in progress is refused 429 at once."""
    held = [connect(long.port, PROXY) for _ in range(PER_CLIENT)]
    try:
        for sock in held:  # requests whose bodies have not arrived: in progress
            sock.sendall(b"POST /api/v1/migrations HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 203.0.113.7\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{")
        # The four are in progress once intake has read their heads; until then a fifth is still let in.
        deadline = time.monotonic() + PATIENCE
        while (answer := served(long.port, PROXY, b"X-Forwarded-For: 203.0.113.7\r\n"))[0] == 200:
            assert time.monotonic() < deadline, "a fifth request of one client was never refused"
        status, body = answer
        assert (status, body["error"]["code"]) == (429, "rate_limited"), body  # type: ignore[index]
        assert served(long.port, PROXY, b"X-Forwarded-For: 203.0.113.8\r\n") == (200, {"status": "ok"})
    finally:
        for sock in held:
            sock.close()


def test_hundreds_of_slow_clients_from_many_addresses_cannot_keep_a_normal_client_out(long: Intake) -> None:
    """More slow connections than intake has file descriptors, from 60 addresses: a new client takes the place
    of the connection that has waited longest for its head, and is answered; those slow ones are closed."""
    slow: list[socket.socket] = []
    try:
        for n in range(FILES + 40):
            sock = connect(long.port, f"127.0.1.{n // PER_CLIENT + 1}")
            with contextlib.suppress(OSError):
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(sock)
        assert served(long.port, "127.0.0.1") == (200, {"status": "ok"})
        assert read_all(slow[0]) == b""  # the oldest slow one was closed, without an answer
    finally:
        for sock in slow:
            sock.close()


def test_a_body_answered_before_it_was_read_cannot_keep_dripping_in(short: Intake) -> None:
    """A body above the JSON limit is answered 413 at once; a client that goes on sending it a byte at a time kept
    the connection (each byte put off uvicorn's keep-alive timer). Now the rest has the head's time too."""
    with connect(short.port) as sock:
        sock.sendall(b"POST /api/v1/migrations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 900000\r\n\r\n{")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 413 "), first[:200]
        deadline = time.monotonic() + PATIENCE
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b" ")
                sock.settimeout(0.2)
                closed = sock.recv(65536) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        assert closed, f"the connection was still open after {PATIENCE:g} s of dripping"
