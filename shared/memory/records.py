"""A migration's records in memory: what intake creates, the workers read and the tracker folds — the
spec, the status view with its results, report and history, the plan locks, the wrapped data keys and
the ledgers. It implements the protocols the services use for Redis (:class:`MigrationRecords`,
:class:`~shared.migration_status.StatusKeeper`, what ``create_migration`` and the credential store
need), with the same rules: a result counts once per item key, a state moves only as allowed."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import migration_state as ms
from shared import redis_keys as k
from shared.events import MigrationRequested, decode_as
from shared.ledger import LedgerStore
from shared.memory.ledger import MemoryLedgers
from shared.migration_status import Status, is_count
from shared.status_store import now_iso


@dataclass
class MemoryRecords:
    ledgers: MemoryLedgers = field(default_factory=MemoryLedgers)
    specs: dict[str, MigrationRequested] = field(default_factory=dict)
    status: dict[str, dict[str, str]] = field(default_factory=dict)
    results: dict[str, dict[str, str]] = field(default_factory=dict)
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    locks: dict[tuple[str, str], str] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)  # the wrapped data keys, by their Redis key name
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- what intake writes --------------------------------------------------------------------------
    def create(self, mid: str, fields: dict[str, str], spec_json: str, wrapped_key: str) -> None:
        with self.lock:
            at = now_iso()
            self.status[mid] = {**fields, "state": ms.QUEUED, "created_at": at, "updated_at": at}
            self.specs[mid] = decode_as(spec_json.encode(), MigrationRequested)
            self.keys[k.data_key(mid)] = wrapped_key.encode()
            self.results[mid], self.reports[mid] = {}, []
            self.history[mid] = [{"state": ms.QUEUED, "at": at}]

    def abandon(self, mid: str, reason: str) -> None:
        with self.lock:
            at = now_iso()
            self.status[mid].update(error=reason, error_code="not_queued", finished_at=at)
            self.transition(mid, ms.FAILED, at)
            self.keys.pop(k.data_key(mid), None)

    def transition(self, mid: str, new_state: str, at: str = "") -> str | None:
        with self.lock:
            fields = self.status.get(mid)
            if fields is None or not ms.can_move(fields.get("state", ""), new_state):
                return None
            before = fields["state"]
            when = at or now_iso()
            fields.update(state=new_state, updated_at=when)
            self.history[mid].append({"state": new_state, "at": when})
            return before

    # -- the credential store's data keys --------------------------------------------------------------
    def get(self, name: str) -> bytes | None:
        with self.lock:
            return self.keys.get(name)

    def delete(self, *names: str) -> int:
        with self.lock:
            return sum(self.keys.pop(n, None) is not None for n in names)

    # -- MigrationRecords ------------------------------------------------------------------------------
    def spec(self, mid: str) -> MigrationRequested | None:
        return self.specs.get(mid)

    def state(self, mid: str) -> str:
        with self.lock:
            return self.status.get(mid, {}).get("state", "")

    def plan_lock(self, mid: str, operation: str) -> str | None:
        return self.locks.get((mid, operation))

    def set_plan_lock(self, mid: str, operation: str, value: str) -> None:
        self.locks[(mid, operation)] = value

    def ledger(self, pair_id: str) -> LedgerStore:
        return self.ledgers.ledger(pair_id)

    # -- StatusKeeper --------------------------------------------------------------------------------
    def load(self, mid: str, item_keys: Sequence[str]) -> Status | None:
        with self.lock:
            fields = self.status.get(mid)
            if fields is None:
                return None
            known = self.results[mid]
            return Status(dict(fields), {key: known[key] for key in item_keys if key in known})

    def save(self, mid: str, before: Status, after: Status) -> set[str]:
        with self.lock:
            fields, known, report = self.status[mid], self.results[mid], self.reports[mid]
            for r in after.added[len(before.added):]:
                if r.item_key in known:
                    continue
                known[r.item_key] = r.result
                name = f"{r.result}:{r.item_type}"
                fields[name] = str(ms.count(fields, name) + 1)
                if r.bytes > 0:
                    fields[f"bytes:{r.item_type}"] = str(ms.count(fields, f"bytes:{r.item_type}") + r.bytes)
                if r.result != "done" or r.reason:
                    report.append(r.model_dump())
            fields.update({name: value for name, value in after.fields.items()
                           if before.fields.get(name) != value and name != "state" and not is_count(name)})
            return {state for state, at in after.moves[len(before.moves):]
                    if self.transition(mid, state, at) is not None}

    def fields(self, mid: str) -> dict[str, str]:
        with self.lock:
            return dict(self.status.get(mid, {}))

    def errors(self, mid: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.reports.get(mid, []) if r["result"] == "failed"][:50]

    def report(self, mid: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.reports.get(mid, []))

    def count_by_state(self) -> dict[str, int]:
        with self.lock:
            states = [f.get("state", "") for f in self.status.values()]
        return {s: states.count(s) for s in ms.STATES}

    def options(self, mid: str) -> list[str]:
        return list(json.loads(self.status[mid].get("options", "[]")))
