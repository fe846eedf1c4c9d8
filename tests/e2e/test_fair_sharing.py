"""Fair sharing: migrations started after a big one finish while it runs, not after it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mailferry import seed, stack, verify
from mailferry.stack import StackInfo
from tests.bench.latency_proxy import LatencyProxy
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import DEMO_TREE, same_names, start, status, wait_final, wait_status
from tests.servers import Process

BIG = 5000
SMALL = 20


@pytest.fixture
def fair_stack(broker: Process, redis_server: Process, tmp_path: Path) -> Iterator[StackInfo]:
    # The big mailbox's server is reached as "localhost" through a 40 ms proxy with one session allowed, so it
    # takes a while; the small ones' server ("127.0.0.1") is the same Dovecot, reached directly.
    env = stack_env(broker, redis_server, f"f{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="50",
                    MAILFERRY_HOST_SESSION_CAPS="localhost=1")
    info = stack.up(tmp_path / "stack", env, timeout=120)
    yield info
    stack.down(tmp_path / "stack")


def test_small_migrations_started_after_a_big_one_finish_while_it_runs(
        fair_stack: StackInfo, accounts: Accounts) -> None:
    info = fair_stack
    big_src, big_dst = accounts.new("big"), accounts.new("bigdst")
    with accounts.client(big_src) as c:
        seed.seed(c, seed.plan_mailbox(BIG, with_corpus=False))
    small = []
    for n in range(20):
        src, dst = accounts.new("small"), accounts.new("smalldst")
        with accounts.client(src) as c:
            seed.seed(c, seed.plan_mailbox(SMALL, seed=n, with_corpus=False))
        small.append((src, dst))
    with LatencyProxy(accounts.server.imap_port, rtt_ms=40) as proxy:
        big = start(info, accounts.endpoint(big_src, host="localhost", port=proxy.port), accounts.endpoint(big_dst))
        wait_status(info, big, big_src, lambda st: st["items"].get("emails", {}).get("done", 0) > 0)
        mids = [start(info, accounts.endpoint(s), accounts.endpoint(d)) for s, d in small]
        ends = []
        for mid, (src, _dst) in zip(mids, small, strict=True):
            st = wait_final(info, mid, src, timeout=300)
            assert st["state"] == "completed" and st["items"]["emails"]["done"] == SMALL, [(e.get("folder"), e.get("reason")) for e in st["errors"]]
            ends.append(datetime.fromisoformat(st["finished_at"]))
        running = status(info, big, big_src)
        assert running["state"] == "running", f"the big migration ended before the small ones: {running['state']}"
        assert running["items"]["emails"]["done"] < BIG
        st = wait_final(info, big, big_src, timeout=600)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == BIG
    assert max(ends) < datetime.fromisoformat(st["finished_at"])
    for src, dst in [*small, (big_src, big_dst)]:
        with accounts.client(src) as a, accounts.client(dst) as b:
            result = verify.compare(a, b, same_names(*DEMO_TREE))
        assert result.identical, result.problems()
