"""Loading Sieve scripts (rules, vacation auto-reply) into the target over ManageSieve.

A script is a *setting*: the target may already have one by that name. The undo
record holding its previous content is made durable *before* the script is
written (write-ahead), so an undo can always put the old one back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shared import topics
from shared.adapters.sieve.client import ManageSieve
from shared.errors import ItemRejected
from shared.events import CreatedThing, ItemResult, ItemResults, SieveScriptItem, UndoRecords
from shared.kafka_edge import EventProducer
from shared.ledger import Ledger, LedgerEntry


class SieveLoader:
    def __init__(self, mid: str, pair_id: str, open_sieve: Callable[[], ManageSieve], ledger: Ledger,
                 producer: EventProducer) -> None:
        self.mid = mid
        self.pair_id = pair_id
        self.open_sieve = open_sieve
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
        out = []
        sieve = self.open_sieve()
        try:
            scripts = sieve.list_scripts()
            active = next((name for name, on in scripts.items() if on), None)
            for item in items:
                previous = sieve.get_script(item.name) if item.name in scripts else None
                self._write_ahead(CreatedThing(kind="sieve_script", name=item.name, previous=previous,
                                               previous_active=active, item_key=item.item_key))
                try:
                    sieve.put_script(item.name, item.script)
                    if item.active:
                        sieve.set_active(item.name)
                        active = item.name
                except ItemRejected as exc:
                    out.append(ItemResult(item_key=item.item_key, item_type="rule", result="failed",
                                          subject=item.name, reason=str(exc)))
                    continue
                size = len(item.script.encode())
                self.ledger.record({item.item_key: LedgerEntry(self.mid, "sieve", 0, 0, size)})
                out.append(ItemResult(item_key=item.item_key, item_type="rule", result="done", bytes=size,
                                      subject=item.name))
        finally:
            sieve.logout()
        return out
