"""The one durable write path: every item kind reaches its target through :class:`DurableWrite`.

E-mail with its folders, contacts, groups, events, tasks, Exchange rules, the auto-reply and Sieve
scripts all go the same way (README "Correctness"):

1. the ledger and the in-flight marks of the batch's keys, in one round trip; :func:`plan_write`
   (pure) answers what the ledger already has — "done" if this migration put it there, else
   "skipped" (:data:`shared.ledger.ALREADY_COPIED`) — drops a second copy of a key, and says
   which of the rest may already be on the target;
2. e-mail only: the folders, created at once and recorded as soon as they exist (a retry finds them
   there and could not tell they were this migration's);
3. the rest marked in flight (on the ``ledger`` topic, flushed, then in Redis), then written by the item
   kind's target (the adapter looks for the in-flight ones first, and writes a setting's previous
   value ahead through ``write_ahead``);
4. the undo records, the progress, the dead letters of refused items and the ledger's records (the
   compacted ``ledger`` topic: the entries, and tombstones for the marks of refused items) in **one**
   flush, then the ledger's Redis view (which clears the in-flight marks): whatever the ledger says is
   on the target can be undone, and after a crash between the two the items are found again and
   counted once;
5. the caller commits.

If the write raises, the undo records of what it created are still flushed and indexed, so what
reached the target stays undoable even if the batch is given up; nothing else is recorded and the
in-flight marks stay, so the retry looks for those items instead of writing them twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from shared import topics
from shared.adapters.ports import Announce, MailTarget, Placed, Target, WriteContext, WriteLanes
from shared.adapters.records import MailRecord, Record
from shared.edges import ProducerEdge
from shared.errors import ConnectionCheckFailed, FoldersRefused, ItemRejected, NotSupported, SecretUnavailable
from shared.events import (
    CreatedThing,
    DeadLetter,
    FolderRef,
    ItemResult,
    ItemResults,
    MigrationFailed,
    UndoRecords,
)
from shared.folder_names import renamed_note
from shared.item_keys import folder_key
from shared.ledger import ALREADY_COPIED, INFLIGHT, RULES_BEFORE, LedgerEntry, LedgerStore, ledger_record
from shared.metrics import ServiceMetrics
from shared.migration_state import OPERATION_OF

R = TypeVar("R", bound=Record)
T = TypeVar("T", bound="Target[Any]")
RESULTS_PER_EVENT = 1000


@dataclass(frozen=True)
class WritePlan(Generic[R]):
    """What a batch needs before anything is written (pure: :func:`plan_write`)."""

    already: list[ItemResult]  # in the ledger: "done" if this migration put it there, else "skipped"
    todo: list[R]  # to write, in arrival order, each key once
    inflight: frozenset[str]  # keys of ``todo`` that may already be on the target


def plan_write(records: Sequence[R], known: Mapping[str, LedgerEntry], inflight: Set[str], mid: str) -> WritePlan[R]:
    """Sort a batch by what the ledger says. A second copy of a key (the extractor sent it again) is
    dropped: it is the same item, and writing both would put it on the target twice."""
    already: list[ItemResult] = []
    todo: list[R] = []
    seen: set[str] = set()
    for r in records:
        key = r.key
        if key in seen:
            continue
        seen.add(key)
        entry = known.get(key)
        if entry is None:
            todo.append(r)
        elif entry.migration_id == mid:
            already.append(r.report("done", nbytes=entry.bytes))
        else:
            already.append(r.report("skipped", ALREADY_COPIED))
    return WritePlan(already, todo, frozenset(k for k in inflight if k in seen and k not in known))


class Outcome:
    """What a batch did, filled as the target settles each record (the :class:`PlacementSink`)."""

    def __init__(self, mid: str) -> None:
        self.mid = mid
        self.results: list[ItemResult] = []
        self.created: list[CreatedThing] = []
        self.entries: dict[str, LedgerEntry] = {}
        self.refused: list[tuple[Record, ItemRejected]] = []
        self.cleared: list[str] = []  # refused with nothing on the target: no search needed if it comes again
        self.done: dict[str, list[int]] = {}  # item type → [count, bytes]

    def placed(self, record: Record, where: Placed, created: Sequence[CreatedThing], note: str = "") -> None:
        if created:
            self.created.extend(created)
        size = record.size
        self.entries[record.key] = LedgerEntry(self.mid, where.folder, where.uidvalidity, where.uid, size, where.ref)
        self.results.append(record.report("done", note, size))
        counts = self.done.get(record.item_type)
        if counts is None:
            self.done[record.item_type] = [1, size]
        else:
            counts[0] += 1
            counts[1] += size

    def rejected(self, record: Record, error: ItemRejected, created: Sequence[CreatedThing] = ()) -> None:
        self.created.extend(created)
        self.results.append(record.refused(error))
        self.refused.append((record, error))
        if not created:
            self.cleared.append(record.key)

    def undoable(self, created: Sequence[CreatedThing]) -> None:
        self.created.extend(created)


class _Snapshots:
    """The ledger's rule snapshots, remembering which keys got one in this batch (forgotten once settled).

    Undo needs them (they tell a rule that was already there from the one mailferry created), and they
    cannot be taken again once the rule is written: each goes to the ``ledger`` topic (flushed) before
    Redis, so a view rebuilt after Redis was lost still has it. The first snapshot of a key wins."""

    def __init__(self, ledger: LedgerStore, producer: ProducerEdge, pair_id: str) -> None:
        self.ledger = ledger
        self.producer = producer
        self.pair_id = pair_id
        self.kept: set[str] = set()

    def keep_rules_before(self, item_keys: Iterable[str], rule_ids: Sequence[str]) -> None:
        keys = list(item_keys)
        self.kept.update(keys)
        new = [key for key in keys if self.ledger.rules_before(key) is None]
        if new:
            value = json.dumps(sorted(rule_ids)).encode()
            for key in new:
                self.producer.send_raw(topics.LEDGER, ledger_record(self.pair_id, RULES_BEFORE + key), value)
            self.producer.flush()
        self.ledger.keep_rules_before(keys, rule_ids)

    def rules_before(self, item_key: str) -> set[str] | None:
        return self.ledger.rules_before(item_key)


def _ensure_folders(target: MailTarget, names: list[str],
                    announce: Announce) -> tuple[list[str], dict[str, ItemRejected]]:
    """The folders created, and those the target refused (a name it cannot take), each with its refusal. All are
    asked in one call; when the target refuses one, they are asked one by one, so one name it cannot take costs
    only its own messages, never the other folders' in the batch."""
    try:
        return target.ensure_folders(names, announce), {}
    except FoldersRefused as exc:
        return exc.created, {name: ItemRejected(why) for name, why in exc.refused.items()}
    except ItemRejected:
        pass
    created: list[str] = []
    refused: dict[str, ItemRejected] = {}
    for name in names:
        try:
            created += target.ensure_folders([name], announce)
        except ItemRejected as exc:
            refused[name] = exc
    return created, refused


class DurableWrite:
    """One migration's writes into its target, in the order above. The caller commits after a call returns."""

    def __init__(self, ledger: LedgerStore, producer: ProducerEdge, metrics: ServiceMetrics, mid: str,
                 pair_id: str) -> None:
        self.ledger = ledger
        self.producer = producer
        self.metrics = metrics
        self.mid = mid
        self.pair_id = pair_id

    def write_mail(self, records: Sequence[MailRecord], folders: Sequence[FolderRef],
                   open_target: Callable[[], MailTarget], lanes: WriteLanes | None = None) -> None:
        """Messages and the folders of a batch. A target that cannot be logged into fails the migration.
        ``lanes``: how many sessions the batch may be written through; filled with what the write used."""
        def make_folders(target: MailTarget, todo: list[MailRecord], out: Outcome) -> dict[str, str]:
            return self._folders(target, folders, todo, out)

        # A message of a folder whose UIDVALIDITY changed since an earlier pass may be on the target under its
        # old key: looked for first, as one whose write may have landed before a crash.
        self._write(records, open_target, make_folders if folders or records else None, fails_migration=True,
                    lanes=lanes, look_first={r.key for r in records if r.meta.look_first})

    def write_items(self, records: Sequence[R], open_target: Callable[[], Target[R]]) -> None:
        """Records of an operation read whole. A target that cannot be logged into fails these items only."""
        self._write(records, open_target, None, fails_migration=False)

    def write_ahead(self, things: Sequence[CreatedThing]) -> None:
        """Undo records durable before what they describe happens: sent, flushed, then indexed."""
        self.producer.send(topics.UNDO, self.mid, UndoRecords(migration_id=self.mid, pair_id=self.pair_id,
                                                              records=list(things)))
        self.producer.flush()
        self.ledger.record({}, self.mid, [c.model_dump_json() for c in things])

    # -- the steps ------------------------------------------------------------------------------
    def _write(self, records: Sequence[R], open_target: Callable[[], T],
               prepare: Callable[[T, list[R], Outcome], dict[str, str]] | None, fails_migration: bool,
               lanes: WriteLanes | None = None, look_first: Set[str] = frozenset()) -> None:
        out = Outcome(self.mid)
        with self.metrics.stage("lookup"):
            known, inflight = self.ledger.lookup_with_inflight([r.key for r in records])
        plan = plan_write(records, known, inflight | look_first, self.mid)
        out.results += plan.already
        snapshots = _Snapshots(self.ledger, self.producer, self.pair_id)
        if plan.todo or prepare is not None:
            try:
                target = open_target()
            except (SecretUnavailable, ConnectionCheckFailed, NotSupported) as exc:
                self._unwritable(plan.todo, exc, fails_migration, out)
                target = None
            if target is not None:
                folders = prepare(target, plan.todo, out) if prepare is not None else {}
                if plan.todo:
                    self._mark_inflight([r.key for r in plan.todo])
                    ctx = WriteContext(migration_id=self.mid, pair_id=self.pair_id, inflight=plan.inflight,
                                       known=known, write_ahead=self.write_ahead, snapshots=snapshots,
                                       folders=folders, lanes=lanes)
                    started = time.perf_counter()
                    with self.metrics.stage("write"):
                        try:
                            target.write(plan.todo, ctx, out)
                        except Exception:
                            self._keep_undoable(out)
                            raise
                        finally:
                            if lanes is not None:
                                lanes.seconds = time.perf_counter() - started
        with self.metrics.stage("durable"):
            self._make_durable(out, snapshots.kept)

    def _mark_inflight(self, keys: Sequence[str]) -> None:
        """On the record before the write it announces, so a rebuilt view still knows to look first."""
        for key in keys:
            self.producer.send_raw(topics.LEDGER, ledger_record(self.pair_id, key), INFLIGHT)
        self.producer.flush()
        self.ledger.mark_inflight(keys)

    def _folders(self, target: MailTarget, folders: Sequence[FolderRef], todo: list[MailRecord],
                 out: Outcome) -> dict[str, str]:
        """Every folder the batch names or writes into, created in one call and recorded at once. A folder
        that was already there is done too: nothing is lost, so nothing goes into the report."""
        names: dict[str, str] = {}
        for f in folders:
            if f.folder_id not in names:
                names[f.folder_id] = target.folder_name(f.placed_path)
        for r in todo:
            ref = r.meta.folder
            if ref.folder_id not in names:
                names[ref.folder_id] = target.folder_name(ref.placed_path)
        announced: set[str] = set()

        def announce(about_to_be_created: list[str]) -> None:
            # On the record before the CREATE: killed between the target's answer and a record made after it,
            # the retry would find these folders there, not know this migration made them, and undo would
            # leave them. One the target then refuses is not there for undo to find: it counts as not removed.
            self.write_ahead([CreatedThing(kind="folder", target_folder=n) for n in about_to_be_created])
            announced.update(about_to_be_created)

        created, refused = _ensure_folders(target, list(dict.fromkeys(names.values())), announce)
        # Recorded before any message is written (a failed batch's retry finds them there), by the id the
        # create gave where the target names folders so.
        if after := [CreatedThing(kind="folder", target_folder=n, ref=folder_id) for n in created
                     if (folder_id := target.folder_ref(n)) or n not in announced]:
            self.write_ahead(after)
        out.results += [ItemResult(item_key=folder_key(f.folder_id), item_type="folder", result="done",
                                   folder=f.display, reason=renamed_note(f)) if names[f.folder_id] not in refused else
                        ItemResult(item_key=folder_key(f.folder_id), item_type="folder", result="failed",
                                   folder=f.display, reason=str(refused[names[f.folder_id]])) for f in folders]
        if refused:  # the messages of a folder the target refused are reported with its reason; the rest go on
            for r in [r for r in todo if names[r.meta.folder.folder_id] in refused]:
                out.rejected(r, refused[names[r.meta.folder.folder_id]])
            todo[:] = [r for r in todo if names[r.meta.folder.folder_id] not in refused]
        return names

    def _unwritable(self, todo: Sequence[Record], exc: Exception, fails_migration: bool, out: Outcome) -> None:
        """The target cannot be written (its login fails for good, no writer, the migration ended)."""
        if isinstance(exc, ConnectionCheckFailed) and exc.retryable:
            raise exc
        if isinstance(exc, SecretUnavailable):
            reason = "the migration had already ended; item not copied"
        elif isinstance(exc, ConnectionCheckFailed):
            reason = f"target login failed: {exc}"
        else:
            reason = str(exc)
        if fails_migration and isinstance(exc, (ConnectionCheckFailed, NotSupported)):
            self.producer.send(topics.PROGRESS, self.mid, MigrationFailed(migration_id=self.mid, code=exc.code,
                                                                          reason=str(exc)))
        out.results += [r.report("failed", reason) for r in todo]
        for r in todo:
            self.metrics.item(r.item_type, "failed")

    def _keep_undoable(self, out: Outcome) -> None:
        """The write failed: what it created is recorded for undo all the same (and nothing else)."""
        if out.created:
            self.write_ahead(out.created)

    def _make_durable(self, out: Outcome, snapshots: set[str]) -> None:
        """Undo records, progress and dead letters in one flush, then the ledger."""
        mid = self.mid
        if out.created:
            self.producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=self.pair_id,
                                                             records=out.created))
        by_operation: dict[str, list[ItemResult]] = {}
        for res in out.results:
            by_operation.setdefault(OPERATION_OF[res.item_type], []).append(res)
        for operation, results in by_operation.items():
            for i in range(0, len(results), RESULTS_PER_EVENT):
                self.producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation=operation,
                                                                     results=results[i:i + RESULTS_PER_EVENT]))
        for record, error in out.refused:
            self.metrics.item(record.item_type, "failed")
            self.metrics.dead_letter(error.code)
            self.producer.send(topics.ITEMS_FAILED, mid, DeadLetter(
                migration_id=mid, service="loader", code=error.code, reason=str(error), topic=topics.ITEMS.name,
                item_key=record.key, excerpt=record.excerpt()))
        for key, entry in out.entries.items():
            self.producer.send_raw(topics.LEDGER, ledger_record(self.pair_id, key), entry.to_json().encode())
        for key in out.cleared:
            self.producer.send_raw(topics.LEDGER, ledger_record(self.pair_id, key), None)
        # A rule's written-ahead snapshot is needed only while it may be on the target unrecorded.
        settled = [key for key in snapshots if key in out.entries or key in out.cleared]
        for key in settled:
            self.producer.send_raw(topics.LEDGER, ledger_record(self.pair_id, RULES_BEFORE + key), None)
        self.producer.flush()
        self.ledger.record(out.entries, mid, [c.model_dump_json() for c in out.created], out.cleared)
        if settled:
            self.ledger.forget_rules_before(settled)
        for item_type, (n, nbytes) in out.done.items():
            self.metrics.item(item_type, "done", n, nbytes)
