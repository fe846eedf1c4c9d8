"""Graph's limits per app and mailbox, shared by every replica: concurrent requests and requests per window.

Exchange Online answers 429 once an app has more than 4 requests in flight for one mailbox, or more than
10,000 in 10 minutes. Several extractor replicas (and their threads) work on one mailbox, so the budget is
kept in Redis: a sorted set of leases (request slots, each expiring in case its holder dies) and a sorted
set of the window's request times (a sliding log, which is how Graph counts). Both are taken atomically by
Lua scripts.

Redis is a view here, not a record: if it is flushed or unreachable the budget starts afresh (or falls
back to this process's own count), which can only mean sending sooner than the limit allows; Graph then
answers 429 with Retry-After, which :mod:`.http` honours. Nothing is lost, the migration only waits.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shared import redis_keys

log = logging.getLogger(__name__)

#: A dead holder's slot comes back after this; a live holder renews its leases. A restarted loader waits for
#: its killed self's slots (all four of a mailbox, during a $batch) this long: 30 s was a long stall after a crash.
LEASE_SECONDS = 10.0
RENEW_EVERY = 3.0  # how often the leases of requests still in flight (a long $value) are renewed: 3 tries a lease
#: Graph counts a request when it arrives, the log here when it is sent: a request sent just as an old one
#: leaves our window may reach Graph before that one left Graph's. The log's window is this much longer.
WINDOW_MARGIN = 1.0
POLL = 0.05

# KEYS[1] leases zset; ARGV: now, expiry, limit, n, lease ids...  -> 1 taken / 0 not
_TAKE_SLOTS = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local n = tonumber(ARGV[4])
if redis.call('ZCARD', KEYS[1]) + n > tonumber(ARGV[3]) then return 0 end
for i = 1, n do redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4 + i]) end
redis.call('EXPIRE', KEYS[1], 3600)
return 1
"""
# KEYS[1] request log zset; ARGV: now, window, limit, n, member prefix -> 0 taken / ms to wait
_TAKE_REQUESTS = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = tonumber(ARGV[4])
local used = redis.call('ZCARD', KEYS[1])
if used + n > tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], used + n - tonumber(ARGV[3]) - 1, used + n - tonumber(ARGV[3]) - 1,
                            'WITHSCORES')
  return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) * 1000))
end
for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. i) end
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 60)
return 0
"""


def budget_key(client_id: str, mailbox: str) -> str:
    """The budget's name: per app and mailbox, the mailbox hashed (no login in the keyspace)."""
    digest = hashlib.sha256(f"{client_id}\x00{mailbox.lower()}".encode()).hexdigest()[:32]
    return redis_keys.graph_budget(digest)


class LocalBudget:
    """The same rules inside one process (no Redis, or Redis unreachable)."""

    def __init__(self, concurrency: int, requests: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency, self.requests, self.window, self.clock = concurrency, requests, window, clock
        self._lock = threading.Condition()
        self._in_flight = 0
        self._times: deque[float] = deque()

    def take_slots(self, n: int) -> bool:
        with self._lock:
            if self._in_flight + n > self.concurrency:
                return False
            self._in_flight += n
            return True

    def give_slots(self, n: int) -> None:
        with self._lock:
            self._in_flight = max(0, self._in_flight - n)

    def take_requests(self, n: int) -> float:
        """0 when taken, else seconds to wait."""
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) + n > self.requests:
                over = len(self._times) + n - self.requests
                return max(0.001, self._times[over - 1] + self.window - now)
            self._times.extend([now] * n)
            return 0.0


class _Renewer:
    """One thread per process renewing the leases still held, so a lease can be short: a replica that dies
    (a crashed loader) gives its slots back within LEASE_SECONDS, however long a live request takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[Any, str, list[str]]] = {}
        self._thread: threading.Thread | None = None

    def hold(self, redis_client: Any, key: str, leases: list[str]) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._held[token] = (redis_client, key, leases)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="graph-lease-renewer", daemon=True)
                self._thread.start()
        return token

    def release(self, token: str) -> None:
        with self._lock:
            self._held.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(RENEW_EVERY)
            with self._lock:
                held = list(self._held.values())
            for client, key, leases in held:
                try:  # XX: only leases still there (one given back meanwhile is not made again)
                    client.zadd(key, dict.fromkeys(leases, time.time() + LEASE_SECONDS), xx=True)
                except Exception:  # Redis away: the lease may expire; Graph's 429 then guards the limit
                    log.debug("a Graph lease could not be renewed")


_RENEWER = _Renewer()
_LOCAL: dict[str, LocalBudget] = {}
_LOCAL_LOCK = threading.Lock()


def local_budget(key: str, concurrency: int, requests: int, window: float) -> LocalBudget:
    with _LOCAL_LOCK:
        found = _LOCAL.get(key)
        if found is None:
            found = _LOCAL[key] = LocalBudget(concurrency, requests, window)
        return found


class Budget:
    """Slots and request tokens for one app and mailbox, in Redis when it answers, else in this process."""

    def __init__(self, key: str, concurrency: int, requests: int, window: float, redis_client: Any | None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.key, self.concurrency, self.requests = key, concurrency, requests
        self.window = window + WINDOW_MARGIN
        self.redis = redis_client
        self.local = local_budget(key, concurrency, requests, self.window)
        self.sleep = sleep
        self.waited = 0.0  # seconds spent waiting for the budget (for tests and metrics)
        self._warned = False

    def _redis_call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        if self.redis is None:
            return None
        try:
            found = self.redis.eval(script, len(keys), *keys, *args)
            self._warned = False
            return found
        except Exception as exc:  # Redis down or flushed mid-call: this process's own count stands in
            if not self._warned:  # once per outage and session, not per request
                self._warned = True
                log.warning("the Graph budget in Redis is unavailable; counting in this process",
                            extra={"error": type(exc).__name__})
            return None

    @contextmanager
    def slots(self, n: int = 1) -> Iterator[None]:
        """Hold ``n`` request slots (a $batch holds as many as it runs at once) and ``n`` requests."""
        n = max(1, min(n, self.concurrency))
        leases = [uuid.uuid4().hex for _ in range(n)]
        shared = self._take_slots(leases)
        renewal = _RENEWER.hold(self.redis, f"{self.key}:slots", leases) if shared else ""
        try:
            self._take_requests(n)
            yield
        finally:
            _RENEWER.release(renewal)
            if shared:
                try:
                    assert self.redis is not None
                    self.redis.zrem(f"{self.key}:slots", *leases)
                except Exception:  # the lease expires by itself
                    log.warning("a Graph request slot could not be given back; it expires by itself")
            else:
                self.local.give_slots(n)

    def take_requests(self, n: int) -> None:
        """Count ``n`` further requests (the inner requests of a $batch), waiting while the window is full."""
        self._take_requests(n)

    def _take_slots(self, leases: list[str]) -> bool:
        """True when held in Redis, False when held in this process."""
        delay = POLL
        while True:
            now = time.time()
            got = self._redis_call(_TAKE_SLOTS, [f"{self.key}:slots"],
                                   [now, now + LEASE_SECONDS, self.concurrency, len(leases), *leases])
            if got is None:
                if self.local.take_slots(len(leases)):
                    return False
            elif int(got) == 1:
                return True
            self.sleep(delay)
            self.waited += delay
            delay = min(delay * 1.5, 0.5)

    def _take_requests(self, n: int) -> None:
        n = max(1, min(n, self.requests))
        while True:
            got = self._redis_call(_TAKE_REQUESTS, [f"{self.key}:requests"],
                                   [time.time(), self.window, self.requests, n, uuid.uuid4().hex])
            wait = self.local.take_requests(n) if got is None else int(got) / 1000.0
            if wait <= 0:
                return
            self.sleep(min(wait, 5.0))
            self.waited += min(wait, 5.0)
