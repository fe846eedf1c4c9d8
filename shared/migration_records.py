"""What the workers read of a migration besides its events: its spec, its state, its plan locks, its ledger.

:class:`MigrationRecords` is the port; :class:`RedisRecords` keeps them in Redis (``shared.redis_keys``),
:class:`shared.memory.records.MemoryRecords` in memory for the service cores' unit tests. (Issue 16 puts
the record on topics behind the same protocol.)
"""

from __future__ import annotations

from typing import Protocol

import redis

from shared import redis_keys as k
from shared.events import MigrationRequested, decode_as
from shared.ledger import LedgerStore, RedisLedger

PLAN_LOCK_SECONDS = 14 * 24 * 3600


class MigrationRecords(Protocol):
    def spec(self, mid: str) -> MigrationRequested | None:
        """The migration as requested (passwords sealed), or None when its record is gone."""

    def state(self, mid: str) -> str:
        """Its state in the status view ("" when unknown)."""

    def plan_lock(self, mid: str, operation: str) -> str | None:
        """"planning" while an extractor plans the operation, "done" after, None before."""

    def set_plan_lock(self, mid: str, operation: str, value: str) -> None: ...

    def ledger(self, pair_id: str) -> LedgerStore: ...


class RedisRecords:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def spec(self, mid: str) -> MigrationRequested | None:
        raw = self.r.get(k.spec(mid))
        return None if raw is None else decode_as(raw, MigrationRequested)

    def state(self, mid: str) -> str:
        raw = self.r.hget(k.migration(mid), "state")
        return "" if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def plan_lock(self, mid: str, operation: str) -> str | None:
        raw = self.r.get(k.plan_lock(mid, operation))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def set_plan_lock(self, mid: str, operation: str, value: str) -> None:
        self.r.set(k.plan_lock(mid, operation), value, ex=PLAN_LOCK_SECONDS)

    def ledger(self, pair_id: str) -> LedgerStore:
        return RedisLedger(self.r, pair_id)
