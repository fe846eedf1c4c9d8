"""What the workers read of a migration besides its events: its spec, its state, its plan locks, its ledger;
and how its record is written to the ``migrations.record`` topic, where it lives first.

:class:`MigrationRecords` is the port; :class:`RedisRecords` reads the Redis view (``shared.redis_keys``),
:class:`shared.memory.records.MemoryRecords` keeps them in memory for the service cores' unit tests.
:class:`RecordLog` writes the record (the spec, the wrapped data key and its tombstone, status snapshots
and one result per item); :mod:`shared.view_rebuild` reads it back into Redis. Keys (compacted, the
latest per key is kept): ``spec:<mid>``, ``dek:<mid>``, ``status:<mid>:<writer>``, ``result:<mid>|<item_key>``,
and ``notice:<project_id>``, a project's end notice until it is told (:mod:`shared.notify_due`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from shared import redis_keys as k
from shared import topics
from shared.edges import ProducerEdge
from shared.events import ItemResult, MigrationRequested, decode_as
from shared.ledger import LedgerStore, RedisLedger
from shared.redis_view import require_view

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
        """None only when the view is whole and still has no such spec (else :class:`ViewRebuilding`)."""
        raw, view = self.r.mget([k.spec(mid), k.VIEW])
        if raw is None:
            require_view(view)
        return None if raw is None else decode_as(raw, MigrationRequested)

    def state(self, mid: str) -> str:
        pipe = self.r.pipeline(transaction=False)
        pipe.hget(k.migration(mid), "state")
        pipe.get(k.VIEW)
        raw, view = pipe.execute()
        if raw is None:
            require_view(view)
        return "" if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def plan_lock(self, mid: str, operation: str) -> str | None:
        raw = self.r.get(k.plan_lock(mid, operation))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def set_plan_lock(self, mid: str, operation: str, value: str) -> None:
        self.r.set(k.plan_lock(mid, operation), value, ex=PLAN_LOCK_SECONDS)

    def ledger(self, pair_id: str) -> LedgerStore:
        return RedisLedger(self.r, pair_id)


# -- the record on its topic -----------------------------------------------------------------------------
SPEC, DEK, STATUS, RESULT, NOTICE = "spec:", "dek:", "status:", "result:", "notice:"


def result_line(res: ItemResult) -> str:
    """The report's line of a result ("" for a plain copy: only what could not be kept whole is reported)."""
    if res.result != "done" or res.reason:
        return json.dumps(res.model_dump(), ensure_ascii=False)
    return ""


class RecordLog:
    """Sends a migration's record to ``migrations.record``; :meth:`flush` makes it durable. ``writer`` names
    the service, so two writers' status snapshots never overwrite each other (the newest ``rev`` wins)."""

    def __init__(self, producer: ProducerEdge, writer: str) -> None:
        self.producer = producer
        self.writer = writer

    def _send(self, key: str, value: Any) -> None:
        raw = None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        self.producer.send_raw(topics.MIGRATIONS_RECORD, key, raw)

    def spec(self, mid: str, spec_json: str) -> None:
        self.producer.send_raw(topics.MIGRATIONS_RECORD, SPEC + mid, spec_json.encode())

    def data_key(self, mid: str, wrapped: str | None) -> None:
        """The wrapped data key, or None: a tombstone, so compaction forgets it and nothing can unseal."""
        self._send(DEK + mid, wrapped)

    def status(self, mid: str, fields: Mapping[str, str], history: Sequence[Mapping[str, Any]]) -> None:
        self._send(f"{STATUS}{mid}:{self.writer}", {"fields": dict(fields), "history": list(history)})

    def results(self, mid: str, results: Sequence[ItemResult]) -> None:
        stamp = time.time_ns()
        for i, res in enumerate(results):
            self._send(f"{RESULT}{mid}|{res.item_key}", {"r": res.result, "t": res.item_type, "b": res.bytes,
                                                          "line": result_line(res), "seq": stamp + i})

    def notice(self, project_id: str, event: bytes | None) -> None:
        """A project's end notice (its encoded ``ProjectEnded``) while it is owed; None once told: a tombstone."""
        self.producer.send_raw(topics.MIGRATIONS_RECORD, NOTICE + project_id, event)

    def flush(self, timeout: float = 60.0) -> None:
        self.producer.flush(timeout)


@dataclass
class RecordState:
    """One migration's record as read back from the topic (what :mod:`shared.view_rebuild` writes to Redis)."""

    spec: str | None = None
    dek: str | None = None
    fields: dict[str, str] | None = None
    history: list[Any] | None = None
    rev: int = -1
    results: dict[str, dict[str, Any]] | None = None


def read_record(states: dict[str, RecordState], key: str, value: bytes | None) -> None:
    """Fold one record of the topic into ``states`` (pure; later records of a key replace earlier ones)."""
    if key.startswith(RESULT):
        mid, _, item_key = key[len(RESULT):].partition("|")
        st = states.setdefault(mid, RecordState())
        st.results = st.results if st.results is not None else {}
        if value is None:
            st.results.pop(item_key, None)
        else:
            st.results[item_key] = json.loads(value)
    elif key.startswith(STATUS):
        mid = key[len(STATUS):].rsplit(":", 1)[0]
        st = states.setdefault(mid, RecordState())
        if value is not None:
            snap = json.loads(value)
            rev = int(snap["fields"].get("rev", 0))
            if rev >= st.rev:
                st.fields, st.history, st.rev = snap["fields"], snap["history"], rev
    elif key.startswith(SPEC):
        states.setdefault(key[len(SPEC):], RecordState()).spec = None if value is None else value.decode()
    elif key.startswith(DEK):
        states.setdefault(key[len(DEK):], RecordState()).dek = None if value is None else json.loads(value)
