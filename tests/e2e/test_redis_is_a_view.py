"""Kafka is the record, Redis a view: losing Redis loses nothing.

Real broker, a real redis-server of this module's own (it is flushed, killed and started again
empty on the same port), real Dovecot, the four services as processes. What the target holds is read
by an independent IMAP reader (``mailferry.verify``: bytes, flags and INTERNALDATE of every message).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from imapclient import IMAPClient

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from shared import redis_keys, topics
from shared.view_rebuild import read_topics
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import start, status, wait_final, wait_status
from tests.e2e.test_folder_names_meet import PASSWORD, TARGET_SPECIALS, fill, imap_tree
from tests.e2e.test_lifecycle import Relay
from tests.operator_rig import HEADER, OPERATOR_ENTRY, api, create, project_in, row
from tests.servers import Process


class OwnRedis:
    """A redis-server without persistence that can be killed and started again, empty, on its port."""

    def __init__(self, workdir: Path) -> None:
        self.port = stack.free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server must be installed (make install does it)"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert stack.wait_for_port(self.port), "redis-server did not start"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis.from_url(self.address)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path_factory.mktemp("own-redis"))
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    """The SMTP relay the stack's notifications go to; down until a test starts it."""
    r = Relay()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def view_stack(broker: Process, own_redis: OwnRedis, relay: Relay,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-view")
    env = stack_env(broker, broker, f"v{secrets.token_hex(4)}.", MAILFERRY_LOAD_BATCH="100",
                    MAILFERRY_REDIS_URL=own_redis.address, MAILFERRY_OPERATOR_KEYS=OPERATOR_ENTRY,
                    MAILFERRY_SMTP_HOST="127.0.0.1",
                    MAILFERRY_SMTP_PORT=str(relay.port), MAILFERRY_SMTP_FROM="mailferry@ops.test")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def report(info: StackInfo, mid: str, login: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}/report", params={"login": login}, timeout=30)
    assert resp.status_code == 200, resp.text
    return sorted(resp.json()["items"], key=lambda r: str(r["item_key"]))


def rebuilds(info: StackInfo) -> dict[str, float]:
    """Per service, how many times it rebuilt the Redis view (its /metrics)."""
    urls = {"intake": [f"{info.intake_url}/metrics"]}
    for name, ports in info.http_ports.items():
        urls.setdefault(name, []).extend(f"http://127.0.0.1:{p}/metrics" for p in ports)
    out: dict[str, float] = {}
    for name, found in urls.items():
        for url in found:
            try:
                text = httpx.get(url, timeout=10).text
            except httpx.HTTPError:
                continue  # a replica that was killed
            for line in text.splitlines():
                if line.startswith("mailferry_rebuild_seconds_count"):
                    out[name] = out.get(name, 0) + float(line.rsplit(" ", 1)[1])
    return out


def rebuilt_in_logs(info: StackInfo) -> int:
    """Rebuilds every process logged, killed ones included (a killed process's metrics are gone)."""
    return sum(log.read_text(errors="replace").count("Redis view rebuilt from the topics")
               for log in (Path(info.state_dir) / "logs").glob("*.log"))


def seeded_start(info: StackInfo, accounts: Accounts, n: int) -> tuple[str, str, str, dict[str, Any]]:
    """A source of ``n`` generated messages and an empty target; the migration started. (mid, source login,
    target login, the source's snapshot)."""
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(n, with_corpus=False))
        source = verify.snapshot(c)
    return start(info, accounts.endpoint(src), accounts.endpoint(dst)), src, dst, source


def messages(snap: dict[str, Any]) -> int:
    return sum(sum(c.values()) for c in snap.values())


def restart_service(info: StackInfo, name: str) -> None:
    """SIGKILL every process of the service, then start one again."""
    killed = list(info.processes[name])
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    stack.start_service(info, name, Path(info.state_dir) / "logs")  # its log: <name>-<n>.log
    info.processes[name] = [p for p in info.processes[name] if p not in killed]


def test_after_redis_is_flushed_or_restarted_empty_status_delta_and_undo_answer_as_before(
        view_stack: StackInfo, own_redis: OwnRedis, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(400, with_corpus=False))
    with accounts.client(dst) as t:  # the target holds 7 messages of its own
        for i in range(7):
            t.append("INBOX", seed.generated(70_000 + i, random.Random(i)), flags=("\\Seen",))
        target_before = verify.snapshot(t)
    mid = start(view_stack, accounts.endpoint(src), accounts.endpoint(dst))
    first = wait_final(view_stack, mid, src)
    assert first["state"] == "completed", first
    assert first["items"]["emails"]["done"] == first["items"]["emails"]["total"] == 400
    first_report = report(view_stack, mid, src)
    with accounts.client(dst) as t:
        after_copy = verify.snapshot(t)
    assert messages(after_copy) == 407

    before = rebuilds(view_stack)
    own_redis.client().flushall()
    assert status(view_stack, mid, src) == first  # rebuilt from the topics by intake, the same answer
    assert sum(rebuilds(view_stack).values()) == sum(before.values()) + 1  # once, by whoever came first
    assert report(view_stack, mid, src) == first_report

    own_redis.kill()
    own_redis.start()  # empty: no file was kept
    assert status(view_stack, mid, src) == first

    delta = start(view_stack, accounts.endpoint(src), accounts.endpoint(dst))
    again = wait_final(view_stack, delta, src)
    assert again["state"] == "completed", again
    assert again["items"]["emails"]["done"] == 0  # the ledger came back from its topic: nothing copied again
    with accounts.client(dst) as t:
        assert verify.snapshot(t) == after_copy

    own_redis.client().flushall()
    resp = httpx.post(f"{view_stack.intake_url}/api/v1/migrations/{mid}/undo",
                      json={"login": src, "target_password": accounts.passwords[dst]}, timeout=60)
    assert resp.status_code == 202, resp.text
    undone = wait_final(view_stack, mid, src)
    assert undone["state"] == "undone", undone
    assert undone["undo"]["removed_messages"] == 400
    with accounts.client(dst) as t:
        assert verify.snapshot(t) == target_before  # exactly what the migration copied is gone
    # The data key's last record is a tombstone: no rebuild can bring the sealed passwords back.
    prefix = view_stack.env["MAILFERRY_TOPIC_PREFIX"]
    keys = [v for _t, key, v in read_topics(view_stack.kafka_bootstrap, prefix, [topics.MIGRATIONS_RECORD])
            if key == f"dek:{mid}"]
    assert len(keys) >= 2 and keys[0] is not None and keys[-1] is None
    assert own_redis.client().get(f"mf:dek:{mid}") is None


def test_folder_names_given_by_a_first_pass_come_back_from_the_ledger_topic_after_redis_is_lost(
        view_stack: StackInfo, own_redis: OwnRedis, accounts: Accounts, tmp_path: Path) -> None:
    """The first pass names "a_b"; Redis is lost; "a.b", which sorts before it and would land on the same folder of
    a "." server, appears: it gets the new name, and a_b's new mail still goes where its first went (README
    "Folder names that meet on the target": the decision is on the ledger topic, not only in Redis)."""
    src = accounts.new("names-view")
    with accounts.client(src) as c:
        fill(c, {"a_b": ["a_b-1"]})
    with DovecotServer(tmp_path / "dot", separator=".", prefix="INBOX.", special_folders=TARGET_SPECIALS) as dot:
        dot.add_user("ziel@example.test", PASSWORD)
        target = {"type": "imap", "host": "127.0.0.1", "port": dot.imap_port, "security": "none",
                  "login": "ziel@example.test", "password": PASSWORD}
        first = wait_final(view_stack, start(view_stack, accounts.endpoint(src), target), src)
        assert first["state"] == "completed" and first["items"]["emails"]["done"] == 1, first
        own_redis.client().flushall()
        with accounts.client(src) as c:
            fill(c, {"a.b": ["a.b-1"], "a_b": ["a_b-2"]})
        again = wait_final(view_stack, start(view_stack, accounts.endpoint(src), target), src)
        assert again["state"] == "completed" and again["items"]["emails"]["done"] == 2, again
        with IMAPClient("127.0.0.1", port=dot.imap_port, ssl=False, timeout=60) as t:
            t.login("ziel@example.test", PASSWORD)
            tree = imap_tree(t)
        dot.destroy()
    assert tree == {"INBOX": [], "INBOX.Sent Messages": [], "INBOX.Drafts": [], "INBOX.Trash": [], "INBOX.Junk": [],
                    "INBOX.Archive": [], "INBOX.a_b": ["<a_b-1@example.test>", "<a_b-2@example.test>"],
                    "INBOX.a_b (2)": ["<a.b-1@example.test>"]}


def test_redis_flushed_and_restarted_empty_mid_run_and_the_tracker_killed_lose_and_duplicate_nothing(
        view_stack: StackInfo, own_redis: OwnRedis, accounts: Accounts) -> None:
    before = rebuilt_in_logs(view_stack)
    mid, src, dst, source = seeded_start(view_stack, accounts, 3000)
    wait_status(view_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 300, timeout=300)
    own_redis.client().flushall()
    wait_status(view_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 1200, timeout=300)
    restart_service(view_stack, "tracker")
    own_redis.kill()
    own_redis.start()
    wait_status(view_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 2000, timeout=300)
    own_redis.client().flushall()
    final = wait_final(view_stack, mid, src, timeout=600)
    assert rebuilt_in_logs(view_stack) >= before + 3  # each loss of Redis was noticed and rebuilt
    assert final["state"] == "completed", final
    emails = final["items"]["emails"]
    assert emails["done"] == emails["total"] == 3000 and emails["failed"] == 0 and emails["skipped"] == 0
    with accounts.client(dst) as t:
        target = verify.snapshot(t)
    # Message by message: every source message once in its folder, nothing else.
    assert {n: c for n, c in target.items() if c} == {n: c for n, c in source.items() if c}


def test_tracker_sigkilled_twice_mid_run_and_the_status_is_exact(
        view_stack: StackInfo, accounts: Accounts) -> None:
    mid, src, dst, _source = seeded_start(view_stack, accounts, 2000)
    wait_status(view_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 200, timeout=300)
    restart_service(view_stack, "tracker")
    wait_status(view_stack, mid, src, lambda st: st["items"]["emails"]["done"] > 1000, timeout=300)
    restart_service(view_stack, "tracker")
    final = wait_final(view_stack, mid, src, timeout=600)
    assert final["state"] == "completed", final
    emails = final["items"]["emails"]
    assert emails["done"] == emails["total"] == 2000 and emails["failed"] == emails["skipped"] == 0
    assert final["items"]["folders"]["done"] == final["items"]["folders"]["total"]
    states = [h["state"] for h in final["history"]]
    assert states[0] == "queued" and states[-1] == "completed" and len(states) == len(set(states)), states
    # The record holds every item's result once (what a rebuild counts from).
    prefix = view_stack.env["MAILFERRY_TOPIC_PREFIX"]
    held = {key for _t, key, _v in read_topics(view_stack.kafka_bootstrap, prefix, [topics.MIGRATIONS_RECORD])
            if key.startswith(f"result:{mid}|")}
    assert len(held) == 2000 + final["items"]["folders"]["total"]
    with accounts.client(dst) as t:
        assert messages(verify.snapshot(t)) == 2000


def test_a_notification_still_owed_when_redis_is_lost_is_sent_once_after_the_rebuild(
        view_stack: StackInfo, own_redis: OwnRedis, relay: Relay, accounts: Accounts) -> None:
    """The relay is down when the migration ends: the notification waits in Redis for its retry, and Redis is
    flushed. The status on the record says the end was not told yet, so the rebuilt view queues it again:
    it arrives once the relay is up, once; after that the record says it was told, and a further flush
    sends nothing."""
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        for i in range(3):
            c.append("INBOX", seed.generated(90_000 + i, random.Random(i)))
    mid = start(view_stack, accounts.endpoint(src), accounts.endpoint(dst), notify_email="owner@example.test")
    assert wait_final(view_stack, mid, src)["state"] == "completed"
    tracker_logs = list((Path(view_stack.state_dir) / "logs").glob("tracker*.log"))
    deadline = time.monotonic() + 30
    while not any("notification failed, will retry" in p.read_text(errors="replace") and mid in
                  p.read_text(errors="replace") for p in tracker_logs) and time.monotonic() < deadline:
        time.sleep(0.2)
    own_redis.client().flushall()  # the job, waiting for its retry, is gone with Redis
    assert status(view_stack, mid, src)["state"] == "completed"  # the view rebuilt from the topics
    relay.start()
    relay.inbox.wait_for(lambda m: mid in m.get_payload(), timeout=60)
    client = own_redis.client()
    deadline = time.monotonic() + 30
    while client.hget(redis_keys.migration(mid), "notified_at") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    fields = {a.decode(): b.decode() for a, b in client.hgetall(redis_keys.migration(mid)).items()}
    assert fields["notified_at"] == fields["finished_at"]
    client.flushall()  # told: the rebuilt view owes nothing
    assert status(view_stack, mid, src)["state"] == "completed"
    time.sleep(8)  # a queued job would have been sent by now (the sender polls every second)
    assert sum(1 for m in relay.inbox.messages if mid in m.get_payload()) == 1


def tracker_retrying(info: StackInfo, about: str) -> None:
    """Until a tracker has logged a failed notification about ``about`` (waiting for its retry)."""
    logs = list((Path(info.state_dir) / "logs").glob("tracker*.log"))
    deadline = time.monotonic() + 30
    while not any("notification failed, will retry" in p.read_text(errors="replace") and about in
                  p.read_text(errors="replace") for p in logs) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_projects_end_notice_still_owed_when_redis_is_lost_is_sent_once_after_the_rebuild(
        view_stack: StackInfo, own_redis: OwnRedis, relay: Relay, accounts: Accounts,
        dovecot: DovecotServer) -> None:
    """A project's end notice waits in Redis for its retry (the relay is down) when Redis is flushed: it is on
    the record until told, so the rebuilt view queues it again and it arrives once the relay is up, once;
    told, it is tombstoned there, and a further flush sends nothing."""
    relay.stop()
    src, dst = accounts.new("psrc"), accounts.new("pdst")
    with accounts.client(src) as c:
        c.append("INBOX", seed.generated(91_000, random.Random(7)))
    body = HEADER + row(dovecot, src, accounts.passwords[src], dst, accounts.passwords[dst])
    created = create(view_stack, body.encode(), name="told after a flush", notify_email="noc@example.test")
    pid = created.json()["id"]
    assert api(view_stack, "POST", f"/projects/{pid}/start").status_code == 202
    project_in(view_stack, pid, "ended")
    mid = api(view_stack, "GET", f"/projects/{pid}/rows").json()["rows"][0]["migration_id"]
    tracker_retrying(view_stack, pid)
    client = own_redis.client()
    assert client.get(redis_keys.project_notice(pid)) is not None
    client.flushall()  # the notice and its job, waiting for the retry, are gone with Redis
    assert status(view_stack, mid, src)["state"] == "completed"  # the view rebuilt from the topics
    assert client.get(redis_keys.project_notice(pid)) is not None, "the notice did not come back from the record"
    relay.start()
    relay.inbox.wait_for(lambda m: pid in m.get_payload(), timeout=60)
    deadline = time.monotonic() + 30
    while client.get(redis_keys.project_notice(pid)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get(redis_keys.project_notice(pid)) is None
    client.flushall()  # told: the rebuilt view owes nothing
    assert status(view_stack, mid, src)["state"] == "completed"
    assert client.get(redis_keys.project_notice(pid)) is None
    time.sleep(8)  # a queued job would have been sent by now (the sender polls every second)
    assert sum(1 for m in relay.inbox.messages if pid in m.get_payload()) == 1
