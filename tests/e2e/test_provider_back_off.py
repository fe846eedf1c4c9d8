"""A server answering NO [UNAVAILABLE] is left alone by every worker for a while, not just the one refused."""

from __future__ import annotations

import secrets
from pathlib import Path

import redis as redis_lib

from mailferry import seed, stack, verify
from shared import redis_keys
from tests.busy_imap_proxy import BusyImapProxy
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import DEMO_TREE, same_names, start, wait_final
from tests.servers import Process

REFUSALS = 3


def test_refused_logins_slow_the_host_for_every_worker_and_the_migration_completes(
        broker: Process, redis_server: Process, accounts: Accounts, tmp_path: Path) -> None:
    proxy = BusyImapProxy(accounts.server.imap_port).start()
    env = stack_env(broker, redis_server, f"b{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="100")
    state = tmp_path / "stack"
    info = stack.up(state, env, replicas={"extractor": 0, "loader": 0}, timeout=120)
    try:
        src, dst = accounts.new("src"), accounts.new("dst")
        with accounts.client(src) as c:
            seed.seed(c, seed.plan_mailbox(400, with_corpus=False))
        # Source and target behind the same busy server ("localhost"): the extractor and the loader share it.
        mid = start(info, accounts.endpoint(src, host="localhost", port=proxy.port),
                    accounts.endpoint(dst, host="localhost", port=proxy.port))
        redis_lib.Redis.from_url(redis_server.address).delete(redis_keys.host_backoff_level("localhost"))
        proxy.attempts.clear()
        proxy.refuse(REFUSALS)
        for name in ("extractor", "extractor", "loader"):
            stack.start_service(info, name, state / "logs")
        st = wait_final(info, mid, src, timeout=300)
        assert st["state"] == "completed" and st["items"]["emails"]["done"] == 400, st
        with accounts.client(src) as a, accounts.client(dst) as b:
            result = verify.compare(a, b, same_names(*DEMO_TREE))
        assert result.identical, result.problems()
    finally:
        stack.down(state)
        proxy.stop()
    attempts = proxy.attempts
    refused = [a for a in attempts if a.refused]
    assert len(refused) == REFUSALS
    # After each refusal no worker tried that server again before the back-off (1 s, then 2 s, 4 s) was over.
    for n, r in enumerate(refused):
        following = [a.at for a in attempts if a.at > r.at]
        assert following, "nothing was tried after a refusal"
        assert min(following) - r.at >= 0.9 * 2 ** n, f"tried again {min(following) - r.at:.2f}s after refusal {n}"
