"""Operating at scale: replicas share a mailbox, SIGTERM is graceful, probes and metrics are real."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailferry import seed, stack, verify
from mailferry.stack import StackInfo
from shared.metrics import CATALOGUE as METRICS
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import DEMO_TREE, same_names, start, status, wait_final
from tests.servers import Process


@pytest.fixture(scope="module")
def two_replica_stack(broker: Process, redis_server: Process,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-scale")
    env = stack_env(broker, redis_server, f"s{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="100",
                    MAILFERRY_LOAD_BATCH="25")
    info = stack.up(state, env, replicas={"extractor": 2, "loader": 2}, timeout=120)
    yield info
    stack.down(state)


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def extracted(text: str) -> float:
    m = re.search(r'mailferry_items_total\{item_type="email",result="extracted",service="extractor"\} (\S+)', text)
    return float(m.group(1)) if m else 0.0


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"port {port} never became ready")


def test_two_extractors_share_one_mailbox(two_replica_stack: StackInfo, accounts: Accounts) -> None:
    info = two_replica_stack
    for port in info.http_ports["extractor"] + info.http_ports["loader"]:
        wait_ready(port)  # both replicas hold partitions before the work arrives
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(1200, with_corpus=False))
    mid = start(info, accounts.endpoint(src), accounts.endpoint(dst))
    assert wait_final(info, mid, src)["state"] == "completed"
    per_replica = [extracted(scrape(p)) for p in info.http_ports["extractor"]]
    assert sum(per_replica) >= 1200
    assert all(n > 0 for n in per_replica), f"one replica did all the work: {per_replica}"
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, same_names(*DEMO_TREE))
    assert result.identical, result.problems()


def test_sigterm_stops_a_loader_gracefully_and_nothing_is_lost(two_replica_stack: StackInfo,
                                                               accounts: Accounts) -> None:
    info = two_replica_stack
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(1500, with_corpus=False))
    mid = start(info, accounts.endpoint(src), accounts.endpoint(dst))
    deadline = time.monotonic() + 120
    while status(info, mid, src)["items"].get("emails", {}).get("done", 0) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopping = info.processes["loader"][0]
    os.kill(stopping, signal.SIGTERM)
    t0 = time.monotonic()
    while stack.alive(stopping) and time.monotonic() - t0 < 60:
        time.sleep(0.1)
    assert not stack.alive(stopping), "a loader must exit within the grace period"
    assert time.monotonic() - t0 < 30
    st = wait_final(info, mid, src, timeout=300)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 1500
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, same_names(*DEMO_TREE))
    assert result.identical and result.messages == 1500, result.problems()


def test_every_metric_the_dashboards_and_alerts_use_is_exported(two_replica_stack: StackInfo) -> None:
    """Read from the module's stack (a stack of its own took 10 s to start); the loader stopped above is left out."""
    info = two_replica_stack
    texts = [httpx.get(f"{info.intake_url}/metrics").text]
    texts += [scrape(port) for name, ports in info.http_ports.items() if name != "intake"
              for pid, port in zip(info.processes[name], ports, strict=True) if stack.alive(pid)]
    assert len(texts) >= 4  # intake, the tracker and at least one extractor and one loader
    exported = set()
    for text in texts:
        for m in re.finditer(r"^# (?:HELP|TYPE) (\S+)", text, re.MULTILINE):
            exported.add(m.group(1))
    for name in METRICS:
        base = name.removesuffix("_total")
        assert name in exported or base in exported, f"{name} is used in deploy/k8s but no service exports it"


def test_readiness_is_false_while_redis_is_unreachable(broker: Process, tmp_path: Path) -> None:
    port = stack.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    env.update({"MAILFERRY_KAFKA_BOOTSTRAP": broker.address, "MAILFERRY_REDIS_URL": "redis://127.0.0.1:1/0",
                "MAILFERRY_HTTP_PORT": str(port), "MAILFERRY_TOPIC_PREFIX": f"r{secrets.token_hex(3)}.",
                "MAILFERRY_SECRET_KEY": "k:" + "A" * 43 + "=", "MAILFERRY_STATE_DIR": str(tmp_path)})
    proc = subprocess.Popen([sys.executable, "-m", "mailferry.cli", "service", "loader"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        answers = set()
        while time.monotonic() < deadline:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                body = resp.json()
                answers.add((resp.status_code, body["status"], body["checks"]["redis"]))
                if (503, "not ready", "unreachable: ConnectionError") in answers:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert (503, "not ready", "unreachable: ConnectionError") in answers, answers
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200  # alive, just not ready
    finally:
        proc.terminate()
        proc.wait(30)
