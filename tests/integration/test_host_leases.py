"""Session caps and back-off in a real Redis, shared by several holders (as replicas share them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis as redis_lib

from shared import redis_keys
from shared.adapters.session_end import EOF_WAIT_SECONDS, close_after_server
from shared.host_leases import HostLeases, SessionGate, SessionRefused
from shared.session_caps import SessionCaps
from shared.session_pool import SessionPool
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


def test_a_full_host_is_not_asked_again_for_a_further_session_until_one_is_given_back(
        redis_client: redis_lib.Redis) -> None:
    _fresh(redis_client, "imap.full.test")
    leases = HostLeases(redis_client, SessionCaps(hosts={"imap.full.test": 1}))
    gate = SessionGate(leases)
    asked: list[str] = []
    take = leases.acquire
    leases.acquire = lambda *a, **kw: (asked.append(a[0]), take(*a, **kw))[1]  # type: ignore[method-assign]
    first = gate.open("imap.full.test", "ann", object)
    with pytest.raises(SessionRefused):
        gate.open("imap.full.test", "bob", object, wait=False)
    assert len(asked) == 2
    with pytest.raises(SessionRefused, match="a moment ago"):
        gate.open("imap.full.test", "bob", object, wait=False)
    assert len(asked) == 2, "the full host was asked again"
    gate.closed(first)  # a lease given back: the host may have room again
    second = gate.open("imap.full.test", "bob", object, wait=False)
    assert len(asked) == 3
    gate.closed(second)


def test_a_waiter_wakes_when_a_lease_is_given_back_and_a_login_check_gives_up_on_a_full_host(
        redis_client: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh(redis_client, "imap.wake.test")
    redis_client.delete(redis_keys.host_freed("imap.wake.test"))
    one, two = HostLeases(redis_client, SessionCaps(hosts={"imap.wake.test": 1})), \
        HostLeases(redis_client, SessionCaps(hosts={"imap.wake.test": 1}))
    held = one.acquire("imap.wake.test", "ann")
    one.release(held)
    assert redis_client.lrange(redis_keys.host_freed("imap.wake.test"), 0, -1) == [b"1"]  # the wake-up
    held = one.acquire("imap.wake.test", "ann")
    got = threading.Event()
    threading.Thread(target=lambda: (two.acquire("imap.wake.test", "bob"), got.set()), daemon=True).start()
    assert not got.wait(0.3)
    one.release(held)
    assert got.wait(5), "the waiter never got the lease given back"

    # Intake's login check waits for a lease like a worker, and answers "busy" when none comes.
    from services.intake import login_check
    from shared.adapters.net import ConnectOptions
    from shared.adapters.ports import AdapterEnv
    from shared.errors import ServerBusy
    from shared.events import EndpointSpec
    from shared.net_guard import AllowList

    monkeypatch.setattr(login_check, "CHECK_WAIT_SECONDS", 0.2)
    env = AdapterEnv(connect=ConnectOptions(allow=AllowList()), gate=SessionGate(one))
    spec = EndpointSpec(type="imap", host="imap.wake.test", port=143, security="none", login="carl",
                        password_sealed="")
    with pytest.raises(ServerBusy, match="no session free"):
        login_check.check_endpoint(spec, "pw", env)


EXITS = """
import sys, redis
from shared.host_leases import HostLeases
from shared.session_caps import SessionCaps
leases = HostLeases(redis.Redis.from_url(sys.argv[1]), SessionCaps(hosts={"imap.exits.test": 1}, lease_seconds=600))
leases.acquire("imap.exits.test", "ann")
print("held", flush=True)
sys.stdin.readline()
"""


def test_a_process_that_exits_gives_its_leases_back_at_once(redis_server: Process) -> None:
    """A worker stopped (SIGTERM ends its loop and the process exits normally) must not leave its sessions
    counted against the cap for a lease's life: the restarted worker would find its own host full."""
    client = redis_lib.Redis.from_url(redis_server.address)
    _fresh(client, "imap.exits.test")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", EXITS, redis_server.address], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == b"held"
    assert client.zcard(redis_keys.host_sessions("imap.exits.test")) == 1
    holder.stdin.write(b"\n")
    holder.stdin.flush()
    assert holder.wait(10) == 0
    # The lease would live 600 s: it is gone because the process gave it back, not because it expired.
    assert client.zcard(redis_keys.host_sessions("imap.exits.test")) == 0
    HostLeases(client, SessionCaps(hosts={"imap.exits.test": 1})).acquire("imap.exits.test", "bob", wait=False)


EXITS_WITH_POOL = """
import sys, redis
from shared import redis_keys
from shared.host_leases import HostLeases, SessionGate
from shared.session_caps import SessionCaps
from shared.session_pool import SessionPool
client = redis.Redis.from_url(sys.argv[1])
leases = HostLeases(client, SessionCaps(hosts={"imap.pool.test": 2}, lease_seconds=600))
gate = SessionGate(leases)

class Session:
    def close(self):  # what a LOGOUT is: the server ends the session; its lease must still be held now
        print("closing with", client.zcard(redis_keys.host_sessions("imap.pool.test")), "leases", flush=True)

def close(session):
    try:
        session.close()
    finally:
        gate.closed(session)

pool = SessionPool(lambda key: gate.open("imap.pool.test", "ann", Session), close, idle_seconds=600)
leases.add_reclaimer(lambda host: None, pool.expire, pool.close_all)
pool.get("a"), pool.get("b")
print("held", flush=True)
sys.stdin.readline()
"""


def test_at_exit_a_pools_sessions_are_closed_before_their_leases_go_back(redis_server: Process) -> None:
    """A lease given back while its session is still open would let another replica's session in over the cap."""
    client = redis_lib.Redis.from_url(redis_server.address)
    _fresh(client, "imap.pool.test")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen([sys.executable, "-c", EXITS_WITH_POOL, redis_server.address], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=env)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == b"held"
    holder.stdin.write(b"\n")
    holder.stdin.flush()
    out, _ = holder.communicate(timeout=10)
    assert holder.returncode == 0
    # Each session was closed while its own lease (and the other's, not yet closed) was held. They are closed side
    # by side: the first close sees both leases, the second both or (the first already given back) its own.
    first, second = out.decode().split("\n")[:2]
    assert first == "closing with 2 leases" and second in ("closing with 2 leases", "closing with 1 leases")
    assert client.zcard(redis_keys.host_sessions("imap.pool.test")) == 0


def test_sessions_whose_server_never_closes_keep_no_lease_from_being_renewed(redis_server: Process) -> None:
    """Three idle sessions to a server that never closes a connection (a plain listener here: it accepts and
    never answers or closes) are let go while a fourth session's lease is held, with leases living 2 s. Each close
    waits its bound (2 s) for the server; meanwhile every lease stays renewed (the held one, and the closing ones:
    their sessions are still open), each closing session's lease goes back once its close has ended, and the three
    closes wait side by side. Before, the closes ran on the renewal thread one after another: 6 s without a
    renewal, and the leases — the working session's too — expired while their sessions were open."""
    client = redis_lib.Redis.from_url(redis_server.address)
    host = "imap.silent.test"
    _fresh(client, host)
    leases = HostLeases(redis_lib.Redis.from_url(redis_server.address), SessionCaps(lease_seconds=2))
    gate = SessionGate(leases)
    closes: list[tuple[float, float]] = []  # (start, end) of each close

    def close(sock: socket.socket) -> None:
        start = time.monotonic()
        try:
            close_after_server(sock)
        finally:
            closes.append((start, time.monotonic()))
            gate.closed(sock)  # as the pools do: the lease goes back once the close has ended

    clock = [0.0]
    pool: SessionPool[socket.socket] = SessionPool(lambda _k: socket.socket(), close, idle_seconds=60,
                                                   clock=lambda: clock[0])
    leases.add_reclaimer(lambda _h: None, pool.expire, pool.close_all)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = silent.getsockname()
        for n in range(3):
            pool.get(f"m{n}", lambda n=n: gate.open(host, f"user{n}", lambda: socket.create_connection(address, 5)))
        in_use = leases.acquire(host, "worker")  # a session at work, whose lease must live on
        assert client.zcard(redis_keys.host_sessions(host)) == 4
        clock[0] = 100.0  # the three are idle now: the next tick lets them go
        lapsed: list[str] = []
        deadline = time.monotonic() + 20
        while len(closes) < 3 and time.monotonic() < deadline:
            seconds, micros = client.time()
            now_ms = seconds * 1000 + micros // 1000
            lapsed += [member.decode() for member, expiry in
                       client.zrange(redis_keys.host_sessions(host), 0, -1, withscores=True) if expiry <= now_ms]
            time.sleep(0.05)
        leases.release(in_use)
        leases.close()
    assert len(closes) == 3, "the idle sessions were not closed"
    assert lapsed == [], "a lease lapsed while its session was open (not renewed)"
    assert all(end - start >= EOF_WAIT_SECONDS - 0.05 for start, end in closes)  # the server never closed
    latest_start = max(start for start, _ in closes)
    assert all(latest_start < end for _, end in closes), "the closes waited one after another"
    assert client.zcard(redis_keys.host_sessions(host)) == 0  # every lease given back, each after its close


def test_a_renewal_on_its_way_does_not_bring_back_a_lease_given_back_meanwhile(redis_client: redis_lib.Redis) -> None:
    """Closes run on another thread than renewals: a renewal that took its list of leases just before one was
    given back must not write it back (it would hold the host's only slot for nobody for a whole lease life)."""
    _fresh(redis_client, "imap.renew.test")
    caps = SessionCaps(hosts={"imap.renew.test": 1}, lease_seconds=30)
    mine, other = HostLeases(redis_client, caps), HostLeases(redis_client, caps)
    lease = mine.acquire("imap.renew.test", "ann")
    keys, ids = [lease.host_key, lease.account_key], [lease.lease_id]
    mine.release(lease)
    mine._renew(keys=keys, args=[mine.life_ms, *ids])  # the renewal that had taken the lease before its release
    assert redis_client.zcard(redis_keys.host_sessions("imap.renew.test")) == 0
    assert other.acquire("imap.renew.test", "bob", wait=False) is not None  # the slot is free at once
