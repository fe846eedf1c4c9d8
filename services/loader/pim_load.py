"""Loading a batch's contacts, groups, events, tasks, rules and auto-reply, once each (the ledger).

The order of durability for these items: ledger lookup, in-flight marks, the write (the adapter's),
undo records flushed (also when an error ends the batch, so what reached the target stays undoable),
ledger, progress.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from shared import topics
from shared.adapters.ports import ItemOutcome, ItemTarget, WriteContext
from shared.errors import ConnectionCheckFailed, NotSupported, SecretUnavailable
from shared.events import CreatedThing, ItemResult, ItemResults, PimItem, UndoRecords
from shared.kafka_edge import EventProducer
from shared.ledger import Ledger, LedgerEntry
from shared.migration_state import OPERATION_OF


def load_pim(mid: str, pair_id: str, items: list[PimItem], target: Callable[[], ItemTarget], ledger: Ledger,
             producer: EventProducer) -> None:
    """A batch's non-mail items into the target, once each (the ledger), undo records written first.

    ``target`` opens (or reuses) the migration's item target (the registry's writer for the items); a
    login that cannot succeed fails the items with its reason, one that may succeed later is raised
    (the batch is retried).
    """
    todo, known = ledger.split(items, lambda i: i.item_key)
    results = [ItemResult(item_key=item.item_key, item_type=item.item_type,  # type: ignore[arg-type]
                          result="done" if entry.migration_id == mid else "skipped", subject=item.name,
                          reason="" if entry.migration_id == mid else "already copied by an earlier migration")
               for item, entry in known]
    if todo:
        results += _write_pim(mid, pair_id, todo, target, ledger, producer)
    by_op: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        by_op[OPERATION_OF[r.item_type]].append(r)
    for op, rs in by_op.items():
        producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation=op, results=rs))
    producer.flush()


def _write_pim(mid: str, pair_id: str, todo: list[PimItem], target: Callable[[], ItemTarget], ledger: Ledger,
               producer: EventProducer) -> list[ItemResult]:
    try:
        session = target()
    except (SecretUnavailable, ConnectionCheckFailed, NotSupported) as exc:  # NotSupported: no writer for them
        if isinstance(exc, ConnectionCheckFailed) and exc.retryable:
            raise
        return [ItemResult(item_key=i.item_key, item_type=i.item_type,  # type: ignore[arg-type]
                           result="failed", subject=i.name, reason=str(exc)) for i in todo]

    def write_ahead(rec: CreatedThing) -> None:
        producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=pair_id, records=[rec]))
        producer.flush()
        ledger.record({}, mid, [rec.model_dump_json()])

    keys = [i.item_key for i in todo]
    ctx = WriteContext(migration_id=mid, pair_id=pair_id, inflight=frozenset(ledger.inflight(keys)),
                       write_ahead=write_ahead, snapshots=ledger)
    ledger.mark_inflight(keys)
    out = ItemOutcome()
    try:
        session.write(todo, ctx, out)
    finally:  # also when an error ends the batch: what reached the target can be undone, even if it is given up
        if out.created:
            producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=pair_id, records=out.created))
            producer.flush()
            ledger.record({}, mid, [c.model_dump_json() for c in out.created])  # the index undo reads
    refs: dict[str, list[str]] = defaultdict(list)
    for c in out.created:
        refs[c.item_key].append(c.ref)
    done = {r.item_key: r for r in out.results if r.result == "done"}
    ledger.record({k: LedgerEntry(mid, "pim", 0, 0, r.bytes, " ".join(refs[k])) for k, r in done.items()})
    # A failed item of which nothing reached the target needs no search if it comes again.
    ledger.clear_inflight(r.item_key for r in out.results if r.result == "failed" and r.item_key not in refs)
    # A rule's written-ahead snapshot is needed only while it may be on the target unrecorded.
    ledger.forget_rules_before(r.item_key for r in out.results
                               if r.item_type == "rule" and (r.item_key in done or r.item_key not in refs))
    return out.results
