"""After the start: cancel, undo within the window, the notification e-mail, the per-item report.

Real broker, Redis, Dovecot (IMAP and ManageSieve) and an aiosmtpd SMTP server.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from shared.adapters.net import ConnectOptions
from shared.adapters.sieve.client import ManageSieve, connect_sieve
from shared.net_guard import AllowList
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import start, status, wait_final, wait_status
from tests.servers import Process


class Inbox:
    """An aiosmtpd handler that keeps what it receives. A mail to ``hold_for`` is held in DATA, never
    answered, until ``release`` is set (the sender can be killed meanwhile)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.hold_for: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        if self.hold_for is not None and self.hold_for in envelope.rcpt_tos:
            self.hold_for = None
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 not taken"
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, predicate: Any, timeout: float = 60) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.messages:
                if predicate(m):
                    return m
            time.sleep(0.2)
        raise AssertionError(f"no such e-mail arrived; got {[m['Subject'] for m in self.messages]}")


class Relay:
    """A real SMTP server (aiosmtpd) that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = stack.free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def smtp() -> Iterator[Relay]:
    relay = Relay()
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def life_stack(broker: Process, redis_server: Process, smtp: Relay,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-life")
    env = stack_env(broker, redis_server, f"l{secrets.token_hex(4)}.", MAILFERRY_UNDO_BATCH="20",
                    MAILFERRY_LOAD_BATCH="50", MAILFERRY_SMTP_HOST="127.0.0.1",
                    MAILFERRY_SMTP_PORT=str(smtp.port), MAILFERRY_SMTP_FROM="mailferry@ops.test")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def api(info: StackInfo, mid: str, action: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{info.intake_url}/api/v1/migrations/{mid}/{action}", json=body, timeout=60)


def sieve_of(dovecot: DovecotServer, login: str, password: str) -> ManageSieve:
    return connect_sieve("127.0.0.1", dovecot.sieve_port, "none", True, login, password,
                         ConnectOptions(AllowList.parse("127.0.0.1")))


def test_cancel_finishes_the_running_operation_and_starts_no_later_one(
        life_stack: StackInfo, accounts: Accounts, dovecot: DovecotServer) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(2500, with_corpus=False))
    s = sieve_of(dovecot, src, accounts.passwords[src])
    s.put_script("rules", 'require ["fileinto"];\nif header :contains "subject" "invoice" { fileinto "Bills"; }\n')
    s.set_active("rules")
    s.logout()
    mid = start(life_stack, accounts.endpoint(src, sieve_port=dovecot.sieve_port),
                accounts.endpoint(dst, sieve_port=dovecot.sieve_port), options=["emails", "rules"])
    wait_status(life_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 0)
    first = api(life_stack, mid, "cancel", {"login": src})
    assert first.status_code == 202 and first.json()["state"] == "cancelling", first.text
    again = api(life_stack, mid, "cancel", {"login": src})
    assert again.status_code == 202  # twice is harmless
    st = wait_final(life_stack, mid, src)
    assert st["state"] == "cancelled", st
    emails = st["items"]["emails"]
    assert emails["done"] == emails["total"] == 2500  # the running operation finished
    assert st["items"]["rules"]["done"] == 0  # the later one never started
    assert [h["state"] for h in st["history"]][-2:] == ["cancelling", "cancelled"]
    target_sieve = sieve_of(dovecot, dst, accounts.passwords[dst])
    assert target_sieve.list_scripts() == {}
    target_sieve.logout()
    late = api(life_stack, mid, "cancel", {"login": src})
    assert late.status_code == 409 and "already ended (cancelled)" in late.json()["error"]["message"]
    unknown = api(life_stack, secrets.token_urlsafe(24), "cancel", {"login": src})
    assert unknown.status_code == 404


def test_undo_removes_exactly_what_the_migration_created_and_restores_settings(
        life_stack: StackInfo, accounts: Accounts, dovecot: DovecotServer, smtp: Relay) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    rng = random.Random(11)
    with accounts.client(dst) as t:  # the target already holds 50 messages and its own rules
        t.create_folder("Projects")
        for i in range(50):
            t.append("INBOX" if i % 2 else "Projects", seed.generated(90_000 + i, rng), flags=("\\Seen",))
    before = sieve_of(dovecot, dst, accounts.passwords[dst])
    original_rules = 'require ["fileinto"];\nif header :is "from" "boss@x" { fileinto "Boss"; }\n'
    before.put_script("rules", original_rules)
    before.set_active("rules")
    before.logout()
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(300, with_corpus=False))
    s = sieve_of(dovecot, src, accounts.passwords[src])
    s.put_script("rules", 'require ["fileinto"];\nif header :contains "subject" "invoice" { fileinto "Bills"; }\n')
    s.put_script("vacation", 'require ["vacation"];\nvacation :days 7 "Im Urlaub bis Montag";\n')
    s.set_active("vacation")
    s.logout()
    with accounts.client(dst) as t:
        folders_before = {n for _f, _d, n in t.list_folders()}
        snapshot_before = {n: verify.snapshot_folder(t, n) for n in ("INBOX", "Projects")}

    mid = start(life_stack, accounts.endpoint(src, sieve_port=dovecot.sieve_port),
                accounts.endpoint(dst, sieve_port=dovecot.sieve_port), options=["emails", "rules"],
                notify_email="owner@customer.test")
    st = wait_final(life_stack, mid, src)
    assert st["state"] == "completed", st
    assert st["items"]["rules"] == {"total": 2, "done": 2, "skipped": 0, "failed": 0,
                                    "bytes": st["items"]["rules"]["bytes"]}
    assert st["undo_possible_until"]
    mail = smtp.inbox.wait_for(lambda m: mid in m.get_payload() and "completed" in m["Subject"])
    assert "emails: 300 / 0 / 0 of 300" in mail.get_payload()
    changed = sieve_of(dovecot, dst, accounts.passwords[dst])
    assert changed.list_scripts() == {"rules": False, "vacation": True}
    changed.logout()

    with accounts.client(dst) as t:  # the user keeps working in the target
        after_migration = verify.snapshot_folder(t, "INBOX")
        for i in range(5):
            t.append("INBOX", seed.generated(95_000 + i, rng), flags=())
        users_new = verify.snapshot_folder(t, "INBOX") - after_migration
    assert sum(users_new.values()) == 5
    expected = {"INBOX": snapshot_before["INBOX"] + users_new}
    wrong = api(life_stack, mid, "undo", {"login": src, "target_password": "not-the-password"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "authentication_failed"
    assert status(life_stack, mid, src)["state"] == "completed"  # nothing started, nothing removed

    ok = api(life_stack, mid, "undo", {"login": src, "target_password": accounts.passwords[dst]})
    assert ok.status_code == 202 and ok.json()["state"] == "undoing", ok.text
    st = wait_final(life_stack, mid, src)
    assert st["state"] == "undone", st
    assert st["undo"]["removed_messages"] == 300 and st["undo"]["restored_settings"] == 2
    assert st["undo"]["done"] == st["undo"]["total"] > 300
    with accounts.client(dst) as t:
        folders_after = {n for _f, _d, n in t.list_folders()}
        assert verify.snapshot_folder(t, "INBOX") == expected["INBOX"]
        assert verify.snapshot_folder(t, "Projects") == snapshot_before["Projects"]
        total = sum(t.folder_status(n, [b"MESSAGES"])[b"MESSAGES"] for n in folders_after)
    assert total == 55
    assert folders_after == folders_before  # every folder the migration created is gone
    restored = sieve_of(dovecot, dst, accounts.passwords[dst])
    assert restored.list_scripts() == {"rules": True}
    assert restored.get_script("rules") == original_rules
    restored.logout()
    smtp.inbox.wait_for(lambda m: mid in m.get_payload() and "undone" in m["Subject"])
    again = api(life_stack, mid, "undo", {"login": src, "target_password": accounts.passwords[dst]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_undone"


def test_loader_killed_during_undo_and_the_undo_still_completes(
        life_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(1500, with_corpus=False))
    mid = start(life_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert wait_final(life_stack, mid, src)["state"] == "completed"
    ok = api(life_stack, mid, "undo", {"login": src, "target_password": accounts.passwords[dst]})
    assert ok.status_code == 202
    wait_status(life_stack, mid, src, lambda st: st["state"] == "undoing")
    killed = list(life_stack.processes["loader"])
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert status(life_stack, mid, src)["state"] == "undoing"
    stack.start_service(life_stack, "loader", Path(life_stack.state_dir) / "logs")
    life_stack.processes["loader"] = [p for p in life_stack.processes["loader"] if p not in killed]
    st = wait_final(life_stack, mid, src, timeout=300)
    assert st["state"] == "undone", st
    assert st["undo"]["done"] == st["undo"]["total"] > 1500, st["undo"]  # the re-run counted from the same total
    with accounts.client(dst) as t:
        remaining = sum(t.folder_status(n, [b"MESSAGES"])[b"MESSAGES"] for _f, _d, n in t.list_folders()
                        if b"\\Noselect" not in _f)
    assert remaining == 0


def test_notification_is_retried_until_the_relay_answers(
        life_stack: StackInfo, accounts: Accounts, smtp: Relay) -> None:
    smtp.stop()  # the relay is down when the migration ends
    try:
        src, dst = accounts.new("src"), accounts.new("dst")
        with accounts.client(src) as c:
            c.append("INBOX", b"Subject: one\r\n\r\nbody\r\n")
        mid = start(life_stack, accounts.endpoint(src), accounts.endpoint(dst), notify_email="me@customer.test")
        assert wait_final(life_stack, mid, src)["state"] == "completed"  # the failure does not fail it
        time.sleep(1.5)
    finally:
        smtp.start()
    mail = smtp.inbox.wait_for(lambda m: mid in m.get_payload(), timeout=60)
    assert "emails: 1 / 0 / 0 of 1" in mail.get_payload()
    assert mail["To"] == "me@customer.test"


def test_tracker_killed_while_sending_a_notification_sends_it_after_a_restart(
        life_stack: StackInfo, accounts: Accounts, smtp: Relay) -> None:
    """At least once: the killed tracker's send was never accepted, so the mail arrives exactly once here."""
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        c.append("INBOX", b"Subject: one\r\n\r\nbody\r\n")
    to = f"crash-{secrets.token_hex(4)}@customer.test"
    smtp.inbox.hold_for = to
    mid = start(life_stack, accounts.endpoint(src), accounts.endpoint(dst), notify_email=to)
    deadline = time.monotonic() + 120
    while not smtp.inbox.holding.is_set():
        assert time.monotonic() < deadline, "the notification was never sent"
        time.sleep(0.1)
    killed = list(life_stack.processes["tracker"])
    for pid in killed:  # mid-send: the relay has the mail in DATA and has not answered
        os.kill(pid, signal.SIGKILL)
    smtp.inbox.release.set()
    life_stack.processes["tracker"] = []
    stack.start_service(life_stack, "tracker", Path(life_stack.state_dir) / "logs")
    assert status(life_stack, mid, src)["state"] == "completed"
    mail = smtp.inbox.wait_for(lambda m: mid in m.get_payload(), timeout=120)
    assert mail["To"] == to and "emails: 1 / 0 / 0 of 1" in mail.get_payload()
    assert sum(1 for m in smtp.inbox.messages if mid in m.get_payload()) == 1


def test_report_lists_every_skipped_and_failed_item(life_stack: StackInfo, accounts: Accounts,
                                                   tmp_path: Path) -> None:
    src = accounts.new("src")
    rng = random.Random(4)
    with accounts.client(src) as c:
        for i in range(3):
            c.append("INBOX", seed.generated(i, rng))
        c.append("INBOX", b"Subject: far too big\r\nMessage-ID: <big@x>\r\n\r\n" + b"x" * 300_000 + b"\r\n")
    with DovecotServer(tmp_path / "limited", max_message_size=200_000) as limited:
        limited.add_user("t@example.test", "t-password-1")
        target = {"type": "imap", "host": "127.0.0.1", "port": limited.imap_port, "security": "none",
                  "login": "t@example.test", "password": "t-password-1"}
        mid = start(life_stack, accounts.endpoint(src), target)
        st = wait_final(life_stack, mid, src)
        second = start(life_stack, accounts.endpoint(src), target)  # a delta pass: 3 skipped, 1 failed again
        st2 = wait_final(life_stack, second, src)
        limited.destroy()
    assert st["state"] == "completed_with_errors"
    url = f"{life_stack.intake_url}/api/v1/migrations/{mid}/report"
    rows = httpx.get(url, params={"login": src}).json()["items"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["result"], row["folder"], row["subject"]) == ("failed", "INBOX", "far too big")
    assert "larger than the maximum size" in row["reason"] and "300" in row["reason"]
    text = httpx.get(url, params={"login": src, "format": "csv"}).text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 1 and parsed[0]["subject"] == "far too big"
    assert st2["items"]["emails"]["skipped"] == 3 and st2["items"]["emails"]["failed"] == 1
    rows2 = httpx.get(f"{life_stack.intake_url}/api/v1/migrations/{second}/report", params={"login": src}).json()
    assert sorted(r["result"] for r in rows2["items"]) == ["failed", "skipped", "skipped", "skipped"]
    assert httpx.get(url, params={"login": "someone@else.test"}).status_code == 404


def test_a_full_target_ends_completed_with_errors_with_each_refused_message_reported(
        life_stack: StackInfo, accounts: Accounts, tmp_path: Path) -> None:
    """The target's quota is smaller than the mailbox: Dovecot answers ``NO [OVERQUOTA]`` once it is full.
    Each message that did not fit is reported with the server's words, nothing is copied twice, no
    service crash-loops, and the migration ends."""
    src = accounts.new("src")
    sent = [f"Subject: quota {i}\r\nMessage-ID: <quota-{i}@x.test>\r\n\r\n{i:04d}".encode() + b"q" * 3000 + b"\r\n"
            for i in range(40)]
    with accounts.client(src) as c:
        for raw in sent:
            c.append("INBOX", raw)
    before = {name: list(pids) for name, pids in life_stack.processes.items()}
    with DovecotServer(tmp_path / "quota", user_quotas=True) as full:
        full.add_user("t@example.test", "t-password-1", quota_kib=60)  # room for about half of 124 KB
        target = {"type": "imap", "host": "127.0.0.1", "port": full.imap_port, "security": "none",
                  "login": "t@example.test", "password": "t-password-1"}
        mid = start(life_stack, accounts.endpoint(src), target)
        st = wait_final(life_stack, mid, src, timeout=180)
        with IMAPClient("127.0.0.1", port=full.imap_port, ssl=False) as t:
            t.login("t@example.test", "t-password-1")
            t.select_folder("INBOX", readonly=True)
            there = [d[b"BODY[]"] for d in t.fetch(t.search(), ["BODY.PEEK[]"]).values()]
        full.destroy()
    emails = st["items"]["emails"]
    assert st["state"] == "completed_with_errors", st
    assert emails["done"] + emails["failed"] == 40 and emails["done"] > 0 and emails["failed"] > 0, emails
    assert len(there) == emails["done"] and len(set(there)) == len(there), "copied once each"
    assert set(there) <= set(sent)
    rows = httpx.get(f"{life_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src}).json()["items"]
    failed = [r for r in rows if r["result"] == "failed"]
    assert len(failed) == emails["failed"]
    assert all("OVERQUOTA" in r["reason"] for r in failed), failed[:3]
    assert {r["subject"] for r in failed} == {m.split(b"\r\n")[0][9:].decode() for m in sent if m not in there}
    assert {name: list(pids) for name, pids in life_stack.processes.items()} == before
    assert all(stack.alive(pid) for pids in before.values() for pid in pids), "no service died on it"


@pytest.fixture(scope="module")
def short_window_stack(broker: Process, redis_server: Process,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-window")
    env = stack_env(broker, redis_server, f"w{secrets.token_hex(4)}.", MAILFERRY_UNDO_WINDOW_HOURS="0.0003")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def test_undo_after_the_window_is_refused(short_window_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        c.append("INBOX", b"Subject: one\r\n\r\nbody\r\n")
    mid = start(short_window_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert wait_final(short_window_stack, mid, src)["state"] == "completed"
    time.sleep(1.5)  # the window here is about one second
    resp = api(short_window_stack, mid, "undo", {"login": src, "target_password": accounts.passwords[dst]})
    assert resp.status_code == 409
    err = resp.json()["error"]
    assert err["code"] == "undo_expired" and "expired" in err["message"]
    with accounts.client(dst) as t:
        t.select_folder("INBOX", readonly=True)
        assert len(t.search("ALL")) == 1  # nothing removed
