"""Session caps and back-off in a real Redis, shared by several holders (as replicas share them)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_lib

from shared import redis_keys
from shared.host_leases import HostLeases, SessionRefused
from shared.session_caps import SessionCaps
from tests.servers import Process

HOLDER = """
import sys, time, redis
from shared.host_leases import HostLeases
from shared.session_caps import SessionCaps
leases = HostLeases(redis.Redis.from_url(sys.argv[1]), SessionCaps(hosts={"imap.dies.test": 1}, lease_seconds=1))
leases.acquire("imap.dies.test", "ann")
print("held", flush=True)
time.sleep(600)
"""


def _fresh(client: redis_lib.Redis, *hosts: str) -> None:
    for host in hosts:
        client.delete(redis_keys.host_sessions(host), redis_keys.host_backoff(host),
                      redis_keys.host_backoff_level(host))


def test_holders_together_never_exceed_the_host_cap(redis_server: Process) -> None:
    client = redis_lib.Redis.from_url(redis_server.address)
    _fresh(client, "imap.cap.test")
    caps = SessionCaps(hosts={"imap.cap.test": 3}, account_default=100)
    replicas = [HostLeases(redis_lib.Redis.from_url(redis_server.address), caps) for _ in range(4)]
    inside = 0
    most = 0
    taken = 0
    lock = threading.Lock()

    def session(leases: HostLeases, n: int) -> None:
        nonlocal inside, most, taken
        for i in range(n):
            lease = leases.acquire("IMAP.Cap.Test.", f"user{i % 7}")
            with lock:
                inside += 1
                taken += 1
                most = max(most, inside)
            time.sleep(0.005)
            with lock:
                inside -= 1
            leases.release(lease)

    threads = [threading.Thread(target=session, args=(r, 15)) for r in replicas for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert taken == 4 * 3 * 15
    assert most == 3  # reached, never passed
    assert client.zcard(redis_keys.host_sessions("imap.cap.test")) == 0  # all given back


def test_the_account_cap_holds_besides_the_host_cap(redis_client: redis_lib.Redis) -> None:
    _fresh(redis_client, "imap.acct.test")
    leases = HostLeases(redis_client, SessionCaps(host_default=10, account_default=2))
    held = [leases.acquire("imap.acct.test", "Ann@Example.test"), leases.acquire("imap.acct.test", "ann@example.test")]
    with pytest.raises(SessionRefused, match="one account"):
        leases.acquire("imap.acct.test", "ANN@example.test", wait=False)
    other = leases.acquire("imap.acct.test", "bob@example.test", wait=False)  # another account: free
    for lease in [*held, other]:
        leases.release(lease)
    keys = [k.decode() for k in redis_client.scan_iter(f"{redis_keys.PREFIX}:sessions:account:*")]
    assert not any("ann" in k.lower() for k in keys)  # logins are hashed in the keyspace


def test_a_lease_is_renewed_while_held_and_expires_when_its_holder_dies(redis_server: Process) -> None:
    client = redis_lib.Redis.from_url(redis_server.address)
    _fresh(client, "imap.dies.test")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, redis_server.address], stdout=subprocess.PIPE, env=env)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"held"
        other = HostLeases(client, SessionCaps(hosts={"imap.dies.test": 1}, lease_seconds=1))
        # Three lease lives: without renewal the lease would have expired twice over.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with pytest.raises(SessionRefused):
                other.acquire("imap.dies.test", "bob", wait=False)
            time.sleep(0.1)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        got = threading.Event()
        threading.Thread(target=lambda: (other.acquire("imap.dies.test", "bob"), got.set()), daemon=True).start()
        assert got.wait(10), "the dead holder's lease never expired"
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_a_back_off_is_seen_by_every_replica_and_doubles_when_the_server_throttles_again(
        redis_client: redis_lib.Redis) -> None:
    _fresh(redis_client, "imap.busy.test")
    one, two = HostLeases(redis_client, SessionCaps()), HostLeases(redis_client, SessionCaps())
    assert two.backing_off("imap.busy.test") == 0
    first = one.back_off("IMAP.busy.test", 0.3)
    assert first == pytest.approx(0.3, abs=0.01)
    assert 0 < two.backing_off("imap.busy.test") <= 0.3
    assert one.back_off("imap.busy.test", 0.3) <= 0.3  # reported again while on: not extended
    waited = two.wait_back_off("imap.busy.test")
    assert waited > 0 and two.backing_off("imap.busy.test") == 0
    assert one.back_off("imap.busy.test", 0.3) == pytest.approx(0.6, abs=0.01)  # soon again: twice as long
    assert two.backing_off("imap.other.test") == 0  # another host is not slowed
