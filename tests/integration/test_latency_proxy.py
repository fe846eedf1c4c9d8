"""The benchmark's delaying proxy (tests/bench/latency_proxy.py) passes a close on like data: in order, as late.

Session counts from Dovecot's log depend on it: a server's close must not reach the client before the data
sent ahead of it, a client's close (or reset) must reach the server, and a new connection must not reach
the server sooner than half a round trip after it was made.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.bench.latency_proxy import LatencyProxy

pytestmark = pytest.mark.integration

RTT = 0.2
HALF = RTT / 2
EARLY = 0.01  # timers may fire this much early


@pytest.fixture
def server() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


def read_to_end(sock: socket.socket) -> tuple[bytes, float]:
    """Everything up to the end of file (a reset counts as one), and when that came."""
    sock.settimeout(10)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic()


def test_a_new_connection_and_a_close_each_arrive_half_a_round_trip_late_the_close_after_the_data(
        server: socket.socket) -> None:
    with LatencyProxy(server.getsockname()[1], rtt_ms=RTT * 1000) as proxy:
        made = time.monotonic()
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        upstream, _ = server.accept()
        assert time.monotonic() - made >= HALF - EARLY, "the connection reached the server at once"
        with client, upstream:
            upstream.sendall(b"* BYE\r\nA1 OK done\r\n")
            upstream.close()
            closed = time.monotonic()
            data, ended = read_to_end(client)
        assert data == b"* BYE\r\nA1 OK done\r\n"
        assert ended - closed >= HALF - EARLY, "the close overtook the delay"


@pytest.mark.parametrize("reset", [False, True], ids=["close", "reset"])
def test_a_clients_close_or_reset_reaches_the_server_after_its_data(server: socket.socket, reset: bool) -> None:
    with LatencyProxy(server.getsockname()[1], rtt_ms=RTT * 1000) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        upstream, _ = server.accept()
        with upstream:
            client.sendall(b"A2 LOGOUT\r\n")
            if reset:  # closed with SO_LINGER 0: a reset, not a FIN (once the proxy has read the data)
                time.sleep(0.05)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            closed = time.monotonic()
            data, ended = read_to_end(upstream)
        assert data == b"A2 LOGOUT\r\n"
        assert HALF - EARLY <= ended - closed < 5, "the server never saw the client go"
