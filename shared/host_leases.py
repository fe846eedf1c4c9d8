"""Session caps and back-off per mail server, held by every replica together in Redis.

Each session to a server takes a **lease** first: a member of two sorted sets (the server host's and
the account's), scored with its expiry in Redis's own clock. Taking one is a Lua script that drops
expired leases and adds the new one only while both sets are below their caps, so all replicas
together never hold more than the cap. A holder renews its leases every third of their life from a
thread that does nothing else; a holder that dies stops renewing and its leases expire
(``MAILFERRY_SESSION_LEASE_SECONDS``). Idle sessions are closed from a second thread: a close waits for the
server to end the session (up to 2 s, :mod:`shared.adapters.session_end`), and a server that never closes must
not keep the renewals waiting — the closing session's lease, renewed meanwhile, goes back once it has closed.

A server that answers ``NO [LIMIT]``, ``[UNAVAILABLE]`` or a throttling error gets a **back-off** kept
under its host name: every replica waits it out before it opens a session or starts work there. It
doubles when the server throttles again soon after, up to a minute.

Redis holds no record here: if it is flushed, the holders write their leases back at the next renewal.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import redis_keys
from shared.session_caps import SessionCaps, account_name, host_name

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_SECONDS = 60.0
TICK_SECONDS = 0.2  # leases renewed (and, from another thread, idle sessions closed) this often
WANTED_MS = 2000
FREED_MS = 1000  # a release's wake-up waits this long for a waiter, then goes (a waiter polls anyway)
FREED_KEPT = 64
FULL_MEMORY_SECONDS = 1.0  # a further session refused on a full host is not asked for again for this long

# Redis's own clock, so the replicas' clocks need not agree.
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS: host set, account set; ARGV: host cap, account cap, lease ms, lease id -> 1 taken, 0 host full, -1 account full
_TAKE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return -1 end
local life = tonumber(ARGV[3])
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + life, ARGV[4])
  redis.call('PEXPIRE', KEYS[i], life * 4)
end
return 1
"""
# KEYS: pairs of (host set, account set); ARGV: lease ms, lease ids (one per pair). XX: only a lease still there is
# renewed — one released while the renewal was on its way (closes run on another thread) must not come back and
# hold a slot for nobody for a whole life.
_RENEW = _NOW + """
local life = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + life, ARGV[1 + math.ceil(i / 2)])
  redis.call('PEXPIRE', KEYS[i], life * 4)
end
return 1
"""
# KEYS: until key, level key; ARGV: hint ms, max ms -> ms the host is left alone from now
_BACK_OFF = _NOW + """
local until_ = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > now then return until_ - now end
local level = math.min(tonumber(ARGV[2]), math.max(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[2]) or '0') * 2))
redis.call('SET', KEYS[1], now + level, 'PX', level)
redis.call('SET', KEYS[2], level, 'PX', level * 10 + 60000)
return level
"""


class SessionRefused(Exception):
    """No lease now, and the caller asked not to wait (a further, optional session)."""

    def __init__(self, message: str, host_full: bool = False) -> None:
        super().__init__(message)
        self.host_full = host_full  # the host's cap (not one account's) is what is full


@dataclass(frozen=True)
class Lease:
    lease_id: str
    host: str
    host_key: str
    account_key: str


class HostLeases:
    """Leases for sessions and the shared back-off, for one process; renewed from one daemon thread."""

    def __init__(self, redis_client: Any, caps: SessionCaps, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.redis = redis_client
        self.caps = caps
        self.sleep = sleep
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._take = redis_client.register_script(_TAKE)
        self._renew = redis_client.register_script(_RENEW)
        self._back_off = redis_client.register_script(_BACK_OFF)
        self._reclaimers: list[Callable[[str], None]] = []  # called with a host that is full
        self._tickers: list[Callable[[], None]] = []
        self._closers: list[Callable[[], None]] = []  # the pools' close_all, run at exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None  # renews the leases, and nothing else
        self._tender: threading.Thread | None = None  # closes idle sessions, serves waiting replicas

    @property
    def life_ms(self) -> int:
        return int(self.caps.lease_seconds * 1000)

    def add_reclaimer(self, reclaim: Callable[[str], None], tick: Callable[[], None],
                      close_all: Callable[[], None] | None = None) -> None:
        """``reclaim(host)`` closes this process's idle sessions to a host that is full, while a lease for it
        is waited for; ``tick`` (a pool's idle expiry) runs at every renewal, so idle sessions let go in time;
        ``close_all`` (the pool's) closes every session when the process exits, before the leases go back."""
        self._reclaimers.append(reclaim)
        self._tickers.append(tick)
        if close_all is not None:
            self._closers.append(close_all)

    # -- leases
    def acquire(self, host: str, login: str, *, wait: bool = True, stop: threading.Event | None = None,
                timeout: float | None = None) -> Lease:
        """A lease for one session to ``login`` at ``host``; waits while the host or account is full
        (or raises :class:`SessionRefused` at once with ``wait=False``, or after ``timeout`` seconds)."""
        self._start()
        deadline = None if timeout is None else time.monotonic() + timeout
        name = host_name(host)
        lease = Lease(uuid.uuid4().hex, name, redis_keys.host_sessions(name),
                      redis_keys.account_sessions(account_name(host, login)))
        delay = 0.02
        while True:
            got = int(self._take(keys=[lease.host_key, lease.account_key],
                                 args=[self.caps.for_host(name), self.caps.account_default, self.life_ms,
                                       lease.lease_id]))
            if got == 1:
                with self._lock:
                    self._held[lease.lease_id] = lease
                return lease
            if not wait:
                raise SessionRefused(f"the session cap of {name} is reached" if got == 0
                                     else f"the session cap of one account at {name} is reached", host_full=got == 0)
            if delay == 0.02:  # once per wait: every replica closes its idle sessions to this host at its next tick
                self.redis.set(redis_keys.host_wanted(name), 1, px=WANTED_MS)
            self._call(self._reclaimers, name)
            if stop is not None and stop.is_set():
                raise SessionRefused("stopping")
            if deadline is not None and time.monotonic() >= deadline:
                raise SessionRefused(f"no session to {name} became free in {timeout:g} s")
            self._wait_freed(name, delay)
            delay = min(delay * 1.5, 0.5)

    def _wait_freed(self, host: str, seconds: float) -> None:
        """Until a lease on the host is given back (by any replica) or ``seconds`` pass (a lease that expired
        wakes no one)."""
        if self.sleep is not time.sleep:  # a test's clock
            self.sleep(seconds)
            return
        self.redis.blpop([redis_keys.host_freed(host)], timeout=max(0.01, seconds))

    def release(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease.lease_id, None)
        try:
            freed = redis_keys.host_freed(lease.host)
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrem(lease.host_key, lease.lease_id)
            pipe.zrem(lease.account_key, lease.lease_id)
            pipe.lpush(freed, 1)  # wakes one replica waiting for this host at once
            pipe.ltrim(freed, 0, FREED_KEPT - 1)
            pipe.pexpire(freed, FREED_MS)
            pipe.execute()
        except Exception as exc:  # it expires by itself
            log.warning("a session lease could not be given back; it expires by itself",
                        extra={"error": type(exc).__name__})

    def release_all(self) -> None:
        """Give back every lease this process holds (at its exit): a stopped worker's sessions must not count
        against the caps until their leases expire, or a restarted one finds its own host full for 30 s. The
        pools' sessions are logged out first (each gives its lease back once the server has ended it), so no
        lease goes back while its session is still open; what is left (a session outside any pool) after."""
        self._stop.set()
        self._call(self._closers)
        with self._lock:
            leases = list(self._held.values())
        for lease in leases:
            self.release(lease)

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def renew_all(self) -> None:
        with self._lock:
            leases = list(self._held.values())
        if not leases:
            return
        keys = [k for lease in leases for k in (lease.host_key, lease.account_key)]
        self._renew(keys=keys, args=[self.life_ms, *(lease.lease_id for lease in leases)])

    # -- back-off
    def back_off(self, host: str, hint_seconds: float = 1.0) -> float:
        """The host throttled us: every replica leaves it alone for a while. Returns the seconds from now."""
        name = host_name(host)
        ms = int(self._back_off(keys=[redis_keys.host_backoff(name), redis_keys.host_backoff_level(name)],
                                args=[int(max(0.1, hint_seconds) * 1000), int(MAX_BACKOFF_SECONDS * 1000)]))
        log.warning("the server throttled; every worker leaves it alone for a while",
                    extra={"host": name, "seconds": ms / 1000})
        return ms / 1000

    def backing_off(self, host: str) -> float:
        """Seconds left of the host's back-off (0 when none)."""
        left = int(self.redis.pttl(redis_keys.host_backoff(host_name(host))))
        return max(0, left) / 1000

    def wait_back_off(self, host: str, stop: threading.Event | None = None) -> float:
        """Wait until the host's back-off is over; returns the seconds waited."""
        waited = 0.0
        while (left := self.backing_off(host)) > 0:
            if stop is not None and stop.is_set():
                break
            step = min(left, 0.5)
            self.sleep(step)
            waited += step
        return waited

    # -- the renewal thread
    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._tender = threading.Thread(target=self._tend, name="idle-sessions", daemon=True)
                    self._tender.start()
                    self._thread = threading.Thread(target=self._run, name="lease-renewal", daemon=True)
                    self._thread.start()
                    atexit.register(self.release_all)  # a service stopped by SIGTERM exits normally

    @property
    def _every(self) -> float:
        return max(0.2, min(TICK_SECONDS, self.caps.lease_seconds / 3))

    def _run(self) -> None:
        """Renew every held lease each tick, and do nothing else here: no session's close can hold it up (a
        lease not renewed within its life expires while its session is open, and another may take its place)."""
        while not self._stop.wait(self._every):
            try:
                self.renew_all()
            except Exception as exc:  # Redis away: the next tick tries again (leases live 3 ticks)
                log.warning("session leases could not be renewed", extra={"error": type(exc).__name__})

    def _tend(self) -> None:
        """Each tick: the pools' idle sessions closed, and those on a host another replica waits for."""
        while not self._stop.wait(self._every):
            try:
                self._call(self._tickers)
                self._give_wanted()
            except Exception as exc:  # Redis away: the next tick tries again
                log.warning("idle sessions could not be looked at", extra={"error": type(exc).__name__})

    def _give_wanted(self) -> None:
        """A replica waits for a lease on a host this one holds: close this one's idle sessions there now,
        instead of when they have been idle long enough."""
        with self._lock:
            hosts = sorted({lease.host for lease in self._held.values()})
        if hosts:
            for host, wanted in zip(hosts, self.redis.mget([redis_keys.host_wanted(h) for h in hosts]), strict=True):
                if wanted is not None:
                    self._call(self._reclaimers, host)

    @staticmethod
    def _call(hooks: list[Any], *args: str) -> None:
        for hook in hooks:
            try:
                hook(*args)
            except Exception as exc:  # closing an idle session is best effort
                log.info("an idle session could not be closed", extra={"error": type(exc).__name__})

    def close(self) -> None:
        self._stop.set()


class SessionGate:
    """Opens sessions of one pool under a lease each, and gives the lease back when a session closes."""

    def __init__(self, leases: HostLeases | None, stop: threading.Event | None = None) -> None:
        self.leases = leases
        self.stop = stop
        self._by_session: dict[int, Lease] = {}
        self._full: dict[str, float] = {}  # host → when a further session was refused there (monotonic)
        self._lock = threading.Lock()

    def open(self, host: str | None, login: str, opener: Callable[[], T], *, wait: bool = True) -> T:
        """A session from ``opener`` once the host's back-off is over and a lease is held. A server
        without a host name (a PST file, Graph with its own budget) has no cap."""
        if self.leases is None or not host:
            return opener()
        self.leases.wait_back_off(host, self.stop)
        if not wait and self._still_full(host):
            raise SessionRefused(f"the session cap of {host} was reached a moment ago", host_full=True)
        try:
            lease = self.leases.acquire(host, login, wait=wait, stop=self.stop)
        except SessionRefused as exc:
            if exc.host_full:
                with self._lock:
                    self._full[host_name(host)] = time.monotonic()
            raise
        try:
            session = opener()
        except BaseException:
            self.leases.release(lease)
            raise
        with self._lock:
            self._by_session[id(session)] = lease
        return session

    @contextmanager
    def held(self, host: str | None, login: str, timeout: float | None = None) -> Iterator[None]:
        """A lease for a session opened inside the block by code that closes it itself (undo, intake's
        login checks); with ``timeout``, :class:`SessionRefused` when none is free by then."""
        if self.leases is None or not host:
            yield
            return
        self.leases.wait_back_off(host, self.stop)
        lease = self.leases.acquire(host, login, stop=self.stop, timeout=timeout)
        try:
            yield
        finally:
            self.leases.release(lease)

    def _still_full(self, host: str) -> bool:
        """A further session was refused on the host less than ``FULL_MEMORY_SECONDS`` ago, and this process
        has given none back there since: not asked again (each batch would ask for every slot)."""
        with self._lock:
            at = self._full.get(host_name(host))
        return at is not None and time.monotonic() - at < FULL_MEMORY_SECONDS

    def closed(self, session: object) -> None:
        with self._lock:
            lease = self._by_session.pop(id(session), None)
            if lease is not None:
                self._full.pop(lease.host, None)  # a lease goes back: a further session may fit again
        if lease is not None and self.leases is not None:
            self.leases.release(lease)

    def host_of(self, session: object) -> str | None:
        with self._lock:
            lease = self._by_session.get(id(session))
        return lease.host if lease else None

    def throttled(self, host: str | None, hint_seconds: float) -> None:
        """The server said it is overloaded: every replica leaves it alone for a while."""
        if self.leases is not None and host:
            self.leases.back_off(host, hint_seconds)

    def wait(self, host: str | None) -> None:
        if self.leases is not None and host:
            self.leases.wait_back_off(host, self.stop)
