"""The notification queue keeps a job until it is done: a sender killed between taking a job and
finishing it loses nothing, another sender delivers it.

A real Redis of its own, a real SMTP server (aiosmtpd), and the sender that is killed is a real
process (``tests/integration/notify_sender.py``) ended with SIGKILL. Delivery is *at least once*:
here the killed sender never got the relay's answer, so exactly one mail arrives.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller

from mailferry import stack
from services.tracker.notify import Notifier
from shared.config import SmtpSettings
from tests.integration.notify_sender import mail
from tests.servers import Process, start_redis

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class Relay:
    """An SMTP server that can hold the next mail in DATA (never answering it) until released."""

    def __init__(self) -> None:
        self.delivered: list[Message] = []
        self.hold_next = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self.port = stack.free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        if self.hold_next.is_set():
            self.hold_next.clear()
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 not taken"
        self.delivered.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.delivered]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[redis_lib.Redis]:
    """Redis of this test alone: no other test's tracker may take the jobs."""
    proc: Process = start_redis(tmp_path / "redis")
    yield redis_lib.Redis.from_url(proc.address)
    proc.stop()


@pytest.fixture
def relay() -> Iterator[Relay]:
    r = Relay()
    r.controller.start()
    yield r
    r.release.set()
    r.controller.stop()


def sender(r: redis_lib.Redis, port: int, mode: str, marker: Path) -> subprocess.Popen[bytes]:
    url = f"redis://127.0.0.1:{r.connection_pool.connection_kwargs['port']}/0"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.integration.notify_sender", url, str(port), mode,
                             str(marker)], cwd=ROOT, env=env)


def wait_until(check: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def deliver_with_another_sender(r: redis_lib.Redis, relay: Relay, subject: str) -> None:
    survivor = Notifier(r, SmtpSettings(host="127.0.0.1", port=relay.port), mail)
    survivor.start()
    try:
        wait_until(lambda: subject in relay.subjects(), f"delivery of {subject!r}")
        # The relay has the mail before the sender hears its answer and takes the job off its list.
        wait_until(lambda: survivor.sent == 1, f"the sender finishing the job of {subject!r}")
    finally:
        survivor.stop.set()


def test_a_sender_killed_during_the_send_loses_no_notification(
        own_redis: redis_lib.Redis, relay: Relay, tmp_path: Path) -> None:
    mid = secrets.token_urlsafe(16)
    Notifier(own_redis, SmtpSettings(), mail).enqueue(mid, "migration")
    relay.hold_next.set()
    proc = sender(own_redis, relay.port, "send", tmp_path / "unused")
    try:
        wait_until(relay.holding.is_set, "the sender reaching DATA")
    finally:
        kill(proc)
    relay.release.set()
    assert relay.delivered == []  # the relay never took it
    deliver_with_another_sender(own_redis, relay, f"migration {mid}")
    assert relay.subjects() == [f"migration {mid}"]  # once: the killed send was never accepted
    assert list(own_redis.scan_iter("mf:notify:processing:*")) == []


def test_a_sender_killed_after_taking_a_job_before_sending_loses_nothing(
        own_redis: redis_lib.Redis, relay: Relay, tmp_path: Path) -> None:
    mid = secrets.token_urlsafe(16)
    Notifier(own_redis, SmtpSettings(), mail).enqueue(mid, "undo")
    marker = tmp_path / "taken"
    proc = sender(own_redis, relay.port, "stuck", marker)
    try:
        wait_until(marker.exists, "the sender taking the job")
    finally:
        kill(proc)
    assert marker.read_text() == mid
    deliver_with_another_sender(own_redis, relay, f"undo {mid}")
    assert relay.subjects() == [f"undo {mid}"]
