"""Redis and the broker going away under a running stack: clear answers meanwhile, work resumes by itself.

The stack gets a Redis and a broker of its own, which the tests stop and start again on the same port:
- Redis stopped mid-migration (its data saved, as a Redis with persistence would keep it): every route
  that needs it answers ``503 temporarily_unavailable`` with ``Retry-After`` in the error shape, ``/readyz``
  of intake and of every worker names ``redis``; once it is back the migration ends with every message on
  the target exactly once.
- The broker frozen (SIGSTOP) mid-migration, then thawed: the same for ``broker``, and nothing lost.
- The broker stopped and started again empty (the local broker keeps its data in memory): the services
  recreate the topics with the configured partitions, their producers work again, readiness comes back
  and a new migration completes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from confluent_kafka.admin import AdminClient  # type: ignore[attr-defined]

from mailferry import seed, stack
from mailferry.stack import StackInfo
from shared.topics import TOPICS
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import start, status, wait_final, wait_status
from tests.e2e.test_hostile_requests import error_shape
from tests.servers import Process, start_broker, start_redis

pytestmark = pytest.mark.e2e

PARTITIONS = 3
MESSAGES = 600


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Process]]:
    """A Redis and a broker for this module alone: the tests stop them."""
    where = tmp_path_factory.mktemp("outage-servers")
    servers = {"redis": start_redis(where / "redis"), "broker": start_broker(where / "broker.log")}
    yield servers
    for p in servers.values():
        p.stop()


@pytest.fixture(scope="module")
def own_redis(own_servers: dict[str, Process]) -> Process:
    return own_servers["redis"]


@pytest.fixture(scope="module")
def own_broker(own_servers: dict[str, Process]) -> Process:
    return own_servers["broker"]


@pytest.fixture(scope="module")
def outage_stack(own_broker: Process, own_redis: Process,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-outage")
    env = stack_env(own_broker, own_redis, f"o{secrets.token_hex(4)}.", MAILFERRY_TOPIC_PARTITIONS=str(PARTITIONS))
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def readiness(info: StackInfo) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every process's /readyz: (status code, body)."""
    urls = {"intake": f"{info.intake_url}/readyz"}
    urls |= {f"{name}-{i}": f"http://127.0.0.1:{port}/readyz" for name, ports in info.http_ports.items()
             if name != "intake" for i, port in enumerate(ports)}
    out = {}
    for name, url in urls.items():
        resp = httpx.get(url, timeout=10)
        out[name] = (resp.status_code, resp.json())
    return out


def wait_readiness(info: StackInfo, ok: bool, dependency: str, timeout: float = 60) -> dict[str, Any]:
    """Wait until every process says ``ok`` (or, for ``ok=False``, not ready naming ``dependency``)."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = readiness(info)
        if ok and all(code == 200 and body["status"] == "ready" for code, body in seen.values()):
            return seen
        if not ok and all(code == 503 and body["checks"][dependency] != "up" for code, body in seen.values()):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"readiness not {'ready' if ok else 'down on ' + dependency}: {seen}")


def unavailable(resp: httpx.Response) -> None:
    what = f"{resp.request.method} {resp.request.url} -> {resp.status_code} {resp.text[:300]}"
    assert resp.status_code == 503, what
    error_shape(resp.content, what)
    assert resp.json()["error"]["code"] == "temporarily_unavailable", what
    assert int(resp.headers["Retry-After"]) > 0, what


def every_route_is_unavailable(info: StackInfo, source: dict[str, object], target: dict[str, object],
                               mid: str) -> None:
    api = f"{info.intake_url}/api/v1/migrations"
    login = str(source["login"])
    with httpx.Client(timeout=60) as c:
        unavailable(c.post(api, json={"source": source, "target": target, "options": ["emails"]}))
        unavailable(c.get(f"{api}/{mid}", params={"login": login}))
        unavailable(c.get(f"{api}/{mid}/report", params={"login": login}))
        unavailable(c.post(f"{api}/{mid}/cancel", json={"login": login}))
        unavailable(c.post(f"{api}/{mid}/undo", json={"login": login, "target_password": "x"}))


def fill(accounts: Accounts, n: int) -> tuple[str, str]:
    source, target = accounts.new("outage-src"), accounts.new("outage-dst")
    layout = seed.plan_mailbox(n, folders=("INBOX", "Archive"))
    with accounts.client(source) as c:
        seed.seed(c, layout)
    return source, target


def message_ids(accounts: Accounts, login: str) -> list[tuple[str, str]]:
    """(folder, SHA-256 of the bytes) of every message on the account, with repeats: a duplicate shows twice."""
    ids: list[tuple[str, str]] = []
    with accounts.client(login) as c:
        for flags, _delim, name in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            c.select_folder(name, readonly=True)
            uids = c.search()
            for data in c.fetch(uids, ["BODY.PEEK[]"]).values() if uids else []:
                ids.append((name, hashlib.sha256(data[b"BODY[]"]).hexdigest()))
    return sorted(ids)


def n_of(final: dict[str, Any]) -> int:
    """How many e-mails the status says were copied."""
    return int(final["items"]["emails"]["done"])


def test_redis_stopped_mid_migration(outage_stack: StackInfo, own_redis: Process, accounts: Accounts) -> None:
    source, target = fill(accounts, MESSAGES)
    src, dst = accounts.endpoint(source), accounts.endpoint(target)
    mid = start(outage_stack, src, dst)
    wait_status(outage_stack, mid, source, lambda st: st["state"] == "running")
    redis_lib.Redis.from_url(own_redis.address).shutdown(save=True)  # its data kept, like a Redis with persistence
    own_redis.proc.wait(30)
    try:
        every_route_is_unavailable(outage_stack, src, dst, mid)
        seen = wait_readiness(outage_stack, False, "redis")
        assert {body["checks"]["broker"] for _c, body in seen.values()} == {"up"}, seen
    finally:
        own_redis.start_again()
    wait_readiness(outage_stack, True, "redis")
    final = wait_final(outage_stack, mid, source)
    assert final["state"] == "completed", final
    copied = message_ids(accounts, source)
    assert len(copied) == n_of(final) and message_ids(accounts, target) == copied


def test_broker_frozen_mid_migration(outage_stack: StackInfo, own_broker: Process, accounts: Accounts) -> None:
    source, target = fill(accounts, MESSAGES)
    src, dst = accounts.endpoint(source), accounts.endpoint(target)
    mid = start(outage_stack, src, dst)
    wait_status(outage_stack, mid, source, lambda st: st["state"] == "running")
    os.kill(own_broker.proc.pid, signal.SIGSTOP)
    try:
        seen = wait_readiness(outage_stack, False, "broker")
        assert {body["checks"]["redis"] for _c, body in seen.values()} == {"up"}, seen
        with httpx.Client(timeout=60) as c:
            unavailable(c.post(f"{outage_stack.intake_url}/api/v1/migrations",
                               json={"source": src, "target": dst, "options": ["emails"]}))
            unavailable(c.post(f"{outage_stack.intake_url}/api/v1/migrations/{mid}/cancel", json={"login": source}))
        assert status(outage_stack, mid, source)["state"] == "running"  # Redis alone still answers this
        time.sleep(15)  # a while without the broker: every worker's requests time out meanwhile
    finally:
        os.kill(own_broker.proc.pid, signal.SIGCONT)
    wait_readiness(outage_stack, True, "broker", timeout=120)
    final = wait_final(outage_stack, mid, source)
    assert final["state"] == "completed", final
    copied = message_ids(accounts, source)
    assert len(copied) == n_of(final) and message_ids(accounts, target) == copied


def test_broker_restarted_empty(outage_stack: StackInfo, own_broker: Process, accounts: Accounts,
                                tmp_path: Path) -> None:
    own_broker.stop()
    try:
        wait_readiness(outage_stack, False, "broker")
        source, target = fill(accounts, 50)
        with httpx.Client(timeout=60) as c:
            unavailable(c.post(f"{outage_stack.intake_url}/api/v1/migrations",
                               json={"source": accounts.endpoint(source), "target": accounts.endpoint(target),
                                     "options": ["emails"]}))
    finally:
        own_broker.start_again()
    wait_readiness(outage_stack, True, "broker", timeout=120)
    prefix = outage_stack.env["MAILFERRY_TOPIC_PREFIX"]
    found = AdminClient({"bootstrap.servers": own_broker.address}).list_topics(timeout=30).topics
    mine = {name: len(meta.partitions) for name, meta in found.items() if name.startswith(prefix)}
    assert mine == {t.full_name(prefix): PARTITIONS for t in TOPICS}, mine
    mid = start(outage_stack, accounts.endpoint(source), accounts.endpoint(target))
    final = wait_final(outage_stack, mid, source, timeout=180)
    assert final["state"] == "completed", final
    copied = message_ids(accounts, source)
    assert len(copied) == n_of(final) and message_ids(accounts, target) == copied
