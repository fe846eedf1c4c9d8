"""What must hold when things go wrong: a killed loader, a refused message, a leaked secret."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from imapclient import IMAPClient

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import DEMO_TREE, migrate, same_names, start, status, wait_final
from tests.e2e.secret_scan import all_redis_bytes, all_topic_bytes
from tests.servers import Process


@pytest.fixture(scope="module")
def small_batch_stack(broker: Process, redis_server: Process,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """Small loader batches, so a kill lands between many commits."""
    state = tmp_path_factory.mktemp("stack-crash")
    env = stack_env(broker, redis_server, f"c{secrets.token_hex(4)}.", MAILFERRY_LOAD_BATCH="20",
                    MAILFERRY_TASK_SIZE="100")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def test_loader_killed_mid_migration_loses_and_duplicates_nothing(small_batch_stack: StackInfo,
                                                                   accounts: Accounts) -> None:
    info = small_batch_stack
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        seed.seed(c, seed.plan_mailbox(1500, with_corpus=False))
    mid = start(info, accounts.endpoint(src), accounts.endpoint(dst))
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        done = status(info, mid, src)["items"].get("emails", {}).get("done", 0)
        if done >= 150:
            break
        time.sleep(0.05)
    killed = list(info.processes["loader"])  # a copy: start_service below appends to the list
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    mid_state = status(info, mid, src)
    assert 0 < mid_state["items"]["emails"]["done"] < 1500, "the kill must land in the middle"
    stack.start_service(info, "loader", Path(info.state_dir) / "logs")
    info.processes["loader"] = [p for p in info.processes["loader"] if p not in killed]
    info.save()
    st = wait_final(info, mid, src, timeout=300)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 1500
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, same_names(*DEMO_TREE))
    assert result.identical, result.problems()
    assert result.messages == 1500


def test_refused_message_is_reported_and_the_rest_goes_on(running_stack: StackInfo, accounts: Accounts,
                                                          tmp_path: Path) -> None:
    src = accounts.new("src")
    big = seed.generated(1, __import__("random").Random(3), size=300_000)
    with accounts.client(src) as c:
        for i in range(5):
            c.append("INBOX", f"Subject: small {i}\r\nMessage-ID: <small{i}@x>\r\n\r\nhello\r\n".encode())
        c.append("INBOX", big)
    with DovecotServer(tmp_path / "small-quota", max_message_size=200_000) as limited:
        limited.add_user("t@example.test", "t-password-1")
        target = {"type": "imap", "host": "127.0.0.1", "port": limited.imap_port, "security": "none",
                  "login": "t@example.test", "password": "t-password-1"}
        _mid, st = migrate(running_stack, accounts.endpoint(src), target)
        limited.destroy()
    assert st["state"] == "completed_with_errors", st
    assert st["items"]["emails"]["done"] == 5
    assert st["items"]["emails"]["failed"] == 1
    assert len(st["errors"]) == 1
    assert "larger than the maximum size" in st["errors"][0]["reason"]
    assert st["errors"][0]["folder"] == "INBOX"


def test_a_source_that_allows_one_session_still_migrates_completely(running_stack: StackInfo, accounts: Accounts,
                                                                     tmp_path: Path) -> None:
    """The extractor asks for 4 sessions; a provider allowing 1 per user refuses the others, and the
    listing and the tasks run on the session it got instead of failing."""
    dst = accounts.new("dst")
    with DovecotServer(tmp_path / "one-session", max_user_connections=1) as limited:
        limited.add_user("s@example.test", "s-password-1")
        client = IMAPClient("127.0.0.1", port=limited.imap_port, ssl=False)
        client.login("s@example.test", "s-password-1")
        layout = seed.plan_mailbox(1200, with_corpus=False)
        seed.seed(client, layout)
        # Read now: while the migration's sessions stay open, the limit lets nobody else in.
        before = {name: verify.snapshot_folder(client, name) for name in layout}
        client.logout()
        source = {"type": "imap", "host": "127.0.0.1", "port": limited.imap_port, "security": "none",
                  "login": "s@example.test", "password": "s-password-1"}
        _mid, st = migrate(running_stack, source, accounts.endpoint(dst))
        deadline = time.monotonic() + 10  # Dovecot's log process writes a moment later
        while not (refused := "connections from user+IP exceeded" in limited.log_path.read_text(errors="replace")) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        limited.destroy()
    assert refused, "the limit was never reached: the test did not test anything"
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 1200
    with accounts.client(dst) as b:
        after = {name: verify.snapshot_folder(b, name) for name in layout}
    assert after == before
    assert sum(sum(c.values()) for c in after.values()) == 1200


def test_a_50_mb_message_travels_in_chunks(running_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    rng = __import__("random").Random(5)
    with accounts.client(src) as c:
        c.append("Archive", seed.generated(7, rng, size=50 * 1024 * 1024), flags=("\\Seen", "$Big"))
        c.append("Archive", seed.generated(8, rng))
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst), timeout=600)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["bytes"] > 50_000_000
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, same_names("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"))
    assert result.identical, result.problems()


def test_passwords_appear_in_no_topic_no_redis_key_and_no_log(running_stack: StackInfo, accounts: Accounts,
                                                               dovecot: DovecotServer) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    secret_src = "Sx-" + secrets.token_urlsafe(16)
    secret_dst = "Dx-" + secrets.token_urlsafe(16)
    dovecot.add_user(src, secret_src)
    dovecot.add_user(dst, secret_dst)
    accounts.passwords.update({src: secret_src, dst: secret_dst})
    with accounts.client(src) as c:
        c.append("INBOX", b"Subject: hello\r\n\r\nbody\r\n")
    mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st["state"] == "completed"
    haystacks = {
        "topics": all_topic_bytes(running_stack),
        "redis": all_redis_bytes(running_stack.redis_url),
        "logs": b"".join(p.read_bytes() for p in (Path(running_stack.state_dir) / "logs").glob("*.log")),
    }
    assert mid.encode() in haystacks["topics"] and mid.encode() in haystacks["redis"]  # we did look in the right place
    for secret in (secret_src, secret_dst):
        needles = [secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")]
        for where, data in haystacks.items():
            for needle in needles:
                assert needle not in data, f"a password was found in {where}"
    # Final state: the data key is gone, so the sealed copies on the topics are unreadable.
    assert not redis_lib.Redis.from_url(running_stack.redis_url).exists(f"mf:dek:{mid}")
