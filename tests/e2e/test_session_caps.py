"""The per-host session cap holds across every replica: proved from Dovecot's own log.

The Dovecot here writes each session's start and end stamped by its own mail process when they happen
(``session_times``), and :mod:`tests.session_log` counts by those stamps: a session's end is logged after the
server closed it, its start before the client hears its login succeeded, so the count is never below what
the server held.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from tests.bench.latency_proxy import LatencyProxy
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import DEMO_TREE, same_names, start, wait_final
from tests.servers import Process
from tests.session_log import Count, count, logins_by_user, wait_quiet

CAP = 3


@pytest.fixture
def own_dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    server = DovecotServer(tmp_path / "caps", session_times=True)
    server.start()
    yield server
    if server.log_path.exists():  # kept in pytest's tmp_path: its sessions can be read again
        shutil.copy(server.log_path, tmp_path / "dovecot.log")
    server.destroy()


def over(seen: Count) -> str:
    return (f"Dovecot's own times show {seen.peak.count} sessions open at once (cap {CAP}) at {seen.peak.at}: "
            f"{', '.join(seen.peak.sessions)}")


def seeded_pairs(accounts: Accounts, count: int, messages: int) -> list[tuple[str, str]]:
    """``count`` (source, target) accounts, each source seeded with ``messages``."""
    pairs = []
    for n in range(count):
        src, dst = accounts.new("src"), accounts.new("dst")
        with accounts.client(src) as c:
            seed.seed(c, seed.plan_mailbox(messages, seed=n, with_corpus=False))
        pairs.append((src, dst))
    return pairs


def test_several_extractors_and_loaders_never_exceed_the_host_cap(
        broker: Process, redis_server: Process, own_dovecot: DovecotServer, tmp_path: Path,
        record_property: Callable[[str, object], None]) -> None:
    """Through a 20 ms link, as a provider is reached: a session given back is followed by the next one's
    login a few round trips later, far more than Dovecot takes to log a session's end once it has closed it
    (milliseconds under load); on the machine's loopback the two can come within a few milliseconds, and a
    count that never takes a session's end before its logged one can show one more than there was."""
    accounts = Accounts(own_dovecot)
    env = stack_env(broker, redis_server, f"c{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="50",
                    MAILFERRY_LOAD_BATCH="100", MAILFERRY_HOST_SESSION_CAPS=f"127.0.0.1={CAP}",
                    MAILFERRY_SESSION_LEASE_SECONDS="5")
    state = tmp_path / "stack"
    info = stack.up(state, env, replicas={"extractor": 0, "loader": 0}, timeout=120)
    proxy = LatencyProxy(own_dovecot.imap_port, rtt_ms=20)
    try:
        pairs = seeded_pairs(accounts, 4, 300)
        mids = [start(info, accounts.endpoint(s, port=proxy.port), accounts.endpoint(d, port=proxy.port))
                for s, d in pairs]
        # Intake's login checks and the seeding are over and logged out before any worker starts.
        assert wait_quiet(own_dovecot.log_path), own_dovecot.log_path.read_text()[-3000:]
        offset = own_dovecot.log_path.stat().st_size
        logs = state / "logs"
        for name in ("extractor", "extractor", "loader", "loader"):
            stack.start_service(info, name, logs)
        for mid, (src, _dst) in zip(mids, pairs, strict=True):
            assert wait_final(info, mid, src, timeout=300)["state"] == "completed"
        end = own_dovecot.log_path.stat().st_size  # the test's own sessions below are not the workers'
        for src, dst in pairs:
            with accounts.client(src) as a, accounts.client(dst) as b:
                result = verify.compare(a, b, same_names(*DEMO_TREE))
            assert result.identical and result.messages == 300, result.problems()
        seen = count(own_dovecot.log_path, offset, end)
        record_property("sessions_at_once", seen.peak.count)  # in the JUnit XML (--junitxml)
        record_property("closest_handover_s", seen.closest_handover)
        record_property("sessions_at_once_at_logout", seen.peak_at_logout.count)
        assert seen.sessions > 8, "the workers' sessions are not in Dovecot's log"
        assert seen.without_start == 0, "sessions begun before the workers started"
        assert seen.peak.count <= CAP, over(seen)
        assert seen.peak.count >= 2, "the migrations never ran side by side"
    finally:
        stack.down(state)
        proxy.stop()


def test_intake_login_checks_count_under_the_host_cap(
        broker: Process, redis_server: Process, own_dovecot: DovecotServer, tmp_path: Path,
        record_property: Callable[[str, object], None]) -> None:
    """Six migrations are started at once through a 40 ms link, so their twelve login checks (two a POST, a
    few round trips each) would overlap each other and the workers' sessions: they wait for a lease like the
    workers' sessions do, and Dovecot never sees more than the cap in all."""
    accounts = Accounts(own_dovecot)
    env = stack_env(broker, redis_server, f"i{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="50",
                    MAILFERRY_HOST_SESSION_CAPS=f"127.0.0.1={CAP}", MAILFERRY_SESSION_LEASE_SECONDS="5")
    state = tmp_path / "stack"
    pairs = seeded_pairs(accounts, 6, 100)
    info = stack.up(state, env, timeout=120)
    try:
        with LatencyProxy(own_dovecot.imap_port, rtt_ms=40) as proxy:
            assert wait_quiet(own_dovecot.log_path)  # the seeding's sessions are over
            offset = own_dovecot.log_path.stat().st_size
            with ThreadPoolExecutor(max_workers=6) as pool:
                mids = list(pool.map(lambda p: start(info, accounts.endpoint(p[0], port=proxy.port),
                                                     accounts.endpoint(p[1], port=proxy.port)), pairs))
            for mid, (src, _dst) in zip(mids, pairs, strict=True):
                assert wait_final(info, mid, src, timeout=300)["state"] == "completed"
            end = own_dovecot.log_path.stat().st_size
        for src, dst in pairs:
            with accounts.client(src) as a, accounts.client(dst) as b:
                result = verify.compare(a, b, same_names(*DEMO_TREE))
            assert result.identical and result.messages == 100, result.problems()
        by_user = logins_by_user(own_dovecot.log_path, offset, end)
        assert sum(checks for _, checks in by_user.values()) >= 12, "intake's login checks are not in the log"
        seen = count(own_dovecot.log_path, offset, end)
        record_property("sessions_at_once", seen.peak.count)
        record_property("closest_handover_s", seen.closest_handover)
        record_property("sessions_at_once_at_logout", seen.peak_at_logout.count)
        assert seen.peak.count <= CAP, over(seen)
    finally:
        stack.down(state)
