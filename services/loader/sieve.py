"""Loading Sieve scripts (rules, vacation auto-reply) into the target, once each (the ledger).

A script is a *setting*: the target may already have one by that name. The target writes the
undo record holding its previous content ahead (durable before the script is written), so an
undo can always put the old one back. What was written is recorded in the ledger even when an
error ends the batch; writing a script again after a crash is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared import topics
from shared.adapters.ports import ItemOutcome, ItemTarget, WriteContext
from shared.events import CreatedThing, ItemResult, ItemResults, SieveScriptItem, UndoRecords
from shared.kafka_edge import EventProducer
from shared.ledger import Ledger, LedgerEntry


class SieveLoader:
    def __init__(self, mid: str, pair_id: str, open_target: Callable[[], ItemTarget], ledger: Ledger,
                 producer: EventProducer) -> None:
        self.mid = mid
        self.pair_id = pair_id
        self.open_target = open_target
        self.ledger = ledger
        self.producer = producer

    def _write_ahead(self, rec: CreatedThing) -> None:
        self.producer.send(topics.UNDO, self.mid, UndoRecords(migration_id=self.mid, pair_id=self.pair_id,
                                                              records=[rec]))
        self.producer.flush()
        self.ledger.record({}, self.mid, [rec.model_dump_json()])

    def load(self, items: Sequence[SieveScriptItem]) -> None:
        todo, known = self.ledger.split(items, lambda i: i.item_key)
        results = [ItemResult(item_key=item.item_key, item_type="rule", result="done", bytes=entry.bytes,
                              subject=item.name) if entry.migration_id == self.mid else
                   ItemResult(item_key=item.item_key, item_type="rule", result="skipped", subject=item.name,
                              reason="already copied to the target by an earlier migration")
                   for item, entry in known]
        if todo:
            results += self._write(todo)
        self.producer.send(topics.PROGRESS, self.mid, ItemResults(migration_id=self.mid, operation="rules",
                                                                  results=results))
        self.producer.flush()

    def _write(self, items: Sequence[SieveScriptItem]) -> list[ItemResult]:
        target = self.open_target()
        out = ItemOutcome()
        ctx = WriteContext(migration_id=self.mid, pair_id=self.pair_id, inflight=frozenset(),
                           write_ahead=self._write_ahead, snapshots=self.ledger)
        try:
            target.write(items, ctx, out)
        finally:  # what was written is recorded, also when an error ends the batch
            self.ledger.record({r.item_key: LedgerEntry(self.mid, "sieve", 0, 0, r.bytes)
                                for r in out.results if r.result == "done"})
            target.close()
        return out.results
