"""The notification queue in Redis: a job stays in Redis until it is done, whoever dies in between.

A sender takes a job by moving it (``LMOVE``, atomic) from the ready list onto its own
processing list, and removes it from there only after the relay accepted the mail (or the
job was given up); a retry goes, in one transaction, from the processing list into a
sorted set keyed by the time it is due. Each sender holds a lease (a key with a short
expiry, renewed by a heartbeat while its process lives). A sender whose lease expired is
dead: any other sender moves its processing list back to the front of the ready list.

So a job is never lost; it is sent *at least once*: a sender killed after the relay took
the mail and before the job was removed leaves a job that is sent again.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable

import redis

from shared import redis_keys as k

READY = k.NOTIFY_READY  # the key of the earlier queue: jobs queued before an upgrade are still sent
DELAYED = k.NOTIFY_DELAYED
HOLDERS = k.NOTIFY_HOLDERS
LEASE_SECONDS = 15.0
PROMOTE_AT_ONCE = 100

# Due retries onto the ready list, atomically (two senders cannot both move one).
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('RPUSH', KEYS[2], job)
end
return #due
"""

# A holder's processing list back to the front of the ready list, in its order. With ARGV[2] == "dead",
# only if the holder's lease has expired (checked in the same step), and the holder is forgotten.
_REQUEUE = """
if ARGV[2] == 'dead' and redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') do n = n + 1 end
if ARGV[2] == 'dead' then redis.call('SREM', KEYS[4], ARGV[1]) end
return n
"""


processing = k.notify_processing
lease = k.notify_lease


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class NotifyQueue:
    """One sender's view of the queue. A sender handles one job at a time (see :meth:`take`)."""

    def __init__(self, r: redis.Redis, holder: str | None = None, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.holder = holder or new_holder()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._promote = r.register_script(_PROMOTE)
        self._requeue = r.register_script(_REQUEUE)

    def put(self, raw: str) -> None:
        self.r.rpush(READY, raw)

    def heartbeat(self) -> None:
        """This sender is alive for another lease."""
        pipe = self.r.pipeline(transaction=True)
        pipe.set(lease(self.holder), "1", px=int(self.lease_seconds * 1000))
        pipe.sadd(HOLDERS, self.holder)
        pipe.execute()

    def take(self) -> str | None:
        """The next due job, now held by this sender; None when nothing is due.

        A job this sender still holds was left by an error before it finished (the sender handles
        one job at a time): it goes back to the front first and is taken again.
        """
        self.heartbeat()
        self._requeue(keys=[processing(self.holder), READY, lease(self.holder), HOLDERS], args=[self.holder, "own"])
        self._promote(keys=[DELAYED, READY], args=[self.clock(), PROMOTE_AT_ONCE])
        raw = self.r.lmove(READY, processing(self.holder), "LEFT", "RIGHT")
        return None if raw is None else _text(raw)

    def done(self, raw: str) -> None:
        """Sent, or given up: the job leaves the queue."""
        self.r.lrem(processing(self.holder), 1, raw)

    def later(self, raw: str, again: str, not_before: float) -> None:
        """Retry ``again`` (the job with its attempt counted) from ``not_before`` on, in place of ``raw``."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lrem(processing(self.holder), 1, raw)
        pipe.zadd(DELAYED, {again: not_before})
        pipe.execute()

    def recover(self) -> int:
        """The jobs of senders whose lease expired, back on the ready list; returns how many."""
        moved = 0
        for raw in self.r.smembers(HOLDERS):
            holder = _text(raw)
            if holder == self.holder:
                continue
            n = int(self._requeue(keys=[processing(holder), READY, lease(holder), HOLDERS], args=[holder, "dead"]))
            moved += max(n, 0)
        return moved


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
