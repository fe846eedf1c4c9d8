"""The ledger in memory: one :class:`MemoryLedger` per pair, behind :class:`shared.ledger.LedgerStore`."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from shared.ledger import LedgerEntry


@dataclass
class MemoryLedgers:
    """Every pair's ledger and every migration's undo index, shared like Redis is."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)  # pair → key → entry JSON
    inflight: dict[str, set[str]] = field(default_factory=dict)
    rules_before: dict[str, dict[str, str]] = field(default_factory=dict)
    undo: dict[str, list[str]] = field(default_factory=dict)  # migration → undo records JSON
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ledger(self, pair_id: str) -> MemoryLedger:
        return MemoryLedger(self, pair_id)


class MemoryLedger:
    def __init__(self, store: MemoryLedgers, pair_id: str) -> None:
        self.store = store
        self.pair = pair_id
        with store.lock:
            self.entries = store.entries.setdefault(pair_id, {})
            self.marks = store.inflight.setdefault(pair_id, set())
            self.before = store.rules_before.setdefault(pair_id, {})

    def lookup(self, item_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        with self.store.lock:
            return {k: LedgerEntry.from_json(self.entries[k]) for k in item_keys if k in self.entries}

    def lookup_with_inflight(self, item_keys: Sequence[str]) -> tuple[dict[str, LedgerEntry], set[str]]:
        with self.store.lock:
            known = {k: LedgerEntry.from_json(self.entries[k]) for k in item_keys if k in self.entries}
            return known, {k for k in item_keys if k in self.marks}

    def mark_inflight(self, item_keys: Iterable[str]) -> None:
        with self.store.lock:
            self.marks.update(item_keys)

    def record(self, entries: dict[str, LedgerEntry], migration_id: str = "", created: Sequence[str] = (),
               cleared: Collection[str] = ()) -> None:
        with self.store.lock:
            self.entries.update({k: e.to_json() for k, e in entries.items()})
            self.marks.difference_update(entries)
            self.marks.difference_update(cleared)
            if created:
                self.store.undo.setdefault(migration_id, []).extend(created)

    def undo_index(self, migration_id: str) -> list[str]:
        with self.store.lock:
            return list(self.store.undo.get(migration_id, []))

    def forget(self, item_keys: Iterable[str]) -> None:
        with self.store.lock:
            for k in item_keys:
                self.entries.pop(k, None)

    def keep_rules_before(self, item_keys: Collection[str], rule_ids: Sequence[str]) -> None:
        with self.store.lock:
            for k in item_keys:
                self.before.setdefault(k, json.dumps(sorted(rule_ids)))

    def rules_before(self, item_key: str) -> set[str] | None:
        with self.store.lock:
            raw = self.before.get(item_key)
        return None if raw is None else set(json.loads(raw))

    def forget_rules_before(self, item_keys: Iterable[str]) -> None:
        with self.store.lock:
            for k in item_keys:
                self.before.pop(k, None)
