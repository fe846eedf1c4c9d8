"""A request body that stops arriving (its Content-Length announced more than was sent) is answered 408 and its
connection closed, on the real app under uvicorn, read with a raw socket; a slow body that keeps arriving is not.

Intake is built here on the real Redis and broker (as tests/integration/test_pst_upload.py's ``Router``) with the
whole app (:func:`services.intake.app.create_app`) served by uvicorn with intake's own settings
(:func:`services.intake.service.server_config`), in a thread of this process.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_lib
import uvicorn
from prometheus_client import CollectorRegistry

from mailferry import stack
from services.intake.app import create_app
from services.intake.intake import Intake
from services.intake.service import server_config
from shared import kafka_edge
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList
from tests.servers import Process

pytestmark = pytest.mark.integration

STALL = 1.5  # MAILFERRY_BODY_TIMEOUT_SECONDS here
PATIENCE = 30.0  # how long the raw client waits for an answer before it calls the server stuck


@dataclass
class Served:
    port: int
    spool: Path


@pytest.fixture(scope="module")
def served(broker: Process, redis_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    prefix = f"t{secrets.token_hex(4)}."
    state = tmp_path_factory.mktemp("body-timeout")
    settings = Settings(kafka_bootstrap=broker.address, redis_url=redis_server.address, state_dir=state,
                        allow_hosts=AllowList.parse("127.0.0.1"), secret_key=generate_master_key("t1"),
                        topic_prefix=prefix, topic_partitions=1, intake_port=stack.free_port(),
                        body_timeout_seconds=STALL)
    kafka_edge.ensure_topics(broker.address, prefix, 1)
    registry = CollectorRegistry()
    raw_producer = kafka_edge.make_producer(broker.address, **{"linger.ms": 0})
    intake = Intake(settings, redis_lib.Redis.from_url(redis_server.address),
                    kafka_edge.EventProducer(raw_producer, prefix), MasterKeys.parse(settings.secret_key), registry,
                    ServiceMetrics(registry, "intake"))
    server = uvicorn.Server(server_config(create_app(intake), settings))
    thread = threading.Thread(target=server.run, name="intake-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(settings.intake_port, settings.spool / "pst")
    server.should_exit = True
    thread.join(15)
    intake.pool.shutdown(wait=False)
    raw_producer.flush(5)


def exchange(port: int, head: bytes, pieces: list[bytes], pause: float = 0.0) -> tuple[bytes, float]:
    """Send the request head and the body's pieces (``pause`` seconds apart), then read until the server closes
    the connection: (all it sent, seconds from the last piece sent to the close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE) as sock:
        sock.sendall(head)
        for piece in pieces:
            time.sleep(pause)
            sock.sendall(piece)
        sent = time.monotonic()
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except TimeoutError:
            pytest.fail(f"no end after {PATIENCE:g} s; got {got[:200]!r}")
        return got, time.monotonic() - sent


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {line.split(b":", 1)[0].strip().lower(): line.split(b":", 1)[1].strip()
               for line in head.split(b"\r\n")[1:]}
    assert headers.get(b"connection") == b"close"
    return status, json.loads(body)


def test_a_json_body_shorter_than_announced_gets_408_and_the_connection_closed(served: Served) -> None:
    head = (b"POST /api/v1/migrations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n")
    answer, waited = exchange(served.port, head, [b'{"source": {"type": "imap"'])
    status, body = status_and_body(answer)
    assert (status, body["error"]["code"]) == (408, "request_timeout"), body  # type: ignore[index]
    assert "1.5 seconds" in body["error"]["message"]  # type: ignore[index]
    assert waited >= STALL - 0.1  # not before the body stalled that long


def test_a_stalled_pst_upload_gets_408_and_leaves_nothing_in_the_spool(served: Served) -> None:
    """The streamed upload path (its own body reading, past the JSON body limit): the route sees the client go,
    deletes its partial file, and its own answer to that is not sent after the 408."""
    boundary = "b" + secrets.token_hex(8)
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pst\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"!BDN" + b"\0" * 70_000
    head = (f"POST /api/v1/pst-migrations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 5000000\r\n\r\n").encode()
    answer, _ = exchange(served.port, head, [part])
    status, body = status_and_body(answer)
    assert (status, body["error"]["code"]) == (408, "request_timeout"), body  # type: ignore[index]
    assert answer.count(b"HTTP/1.1 ") == 1  # the route's "upload_incomplete" was not sent behind it
    deadline = time.monotonic() + 10
    while served.spool.exists() and any(served.spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not served.spool.exists() or list(served.spool.iterdir()) == []


def test_a_slow_body_that_keeps_arriving_is_read_whole(served: Served) -> None:
    """Pieces come further apart in all than the bound, never one gap as long: the request is answered as it
    would be at once (here a 422 for a body that is not a migration), not cut off."""
    body = b'{"hello": "' + b"x" * 18 + b'"}'
    pieces = [body[i:i + 4] for i in range(0, len(body), 4)]  # 8 pieces, 0.4 s apart: 3.2 s in all
    head = (b"POST /api/v1/migrations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    answer, _ = exchange(served.port, head, pieces, pause=0.4)
    status, got = status_and_body(answer)
    assert (status, got["error"]["code"]) == (422, "invalid_request"), got  # type: ignore[index]
