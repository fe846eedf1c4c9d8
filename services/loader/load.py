"""Loading one migration's share of a batch into its target, exactly once in effect.

Order of durability, per batch: mark in-flight → write to the target → undo
records and progress flushed to Kafka → ledger in Redis (clears in-flight) →
(the caller) commit. A crash anywhere re-delivers the batch: the ledger answers
for what was recorded, and only in-flight items cost a search on the target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shared import topics
from shared.adapters.imap.flags import not_kept_reason
from shared.adapters.ports import MailTarget, Outgoing, Placed
from shared.errors import ItemRejected
from shared.events import (
    CreatedThing,
    DeadLetter,
    FolderRef,
    ItemResult,
    ItemResults,
    MailMeta,
    UndoRecords,
)
from shared.item_keys import folder_key
from shared.kafka_edge import EventProducer
from shared.lanes import deal, undeal
from shared.ledger import Ledger, LedgerEntry
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)
OPERATION = "emails"
APPEND_GROUP_MESSAGES = 50
APPEND_GROUP_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class MailWork:
    meta: MailMeta
    data: bytes


@dataclass(frozen=True)
class FolderWork:
    folder: FolderRef


Work = MailWork | FolderWork


@dataclass
class Outcome:
    """What a batch produced for one migration: the records to make durable."""

    results: list[ItemResult] = field(default_factory=list)
    created: list[CreatedThing] = field(default_factory=list)
    ledger: dict[str, LedgerEntry] = field(default_factory=dict)


def sort_batch(work: Sequence[Work], folder_name: Callable[[Sequence[str]], str]
               ) -> tuple[list[FolderRef], dict[str, list[MailWork]]]:
    """A batch as (folders to create, mail per target folder in arrival order).

    A second copy of an item in the same batch (the extractor re-sent it) is dropped:
    it is the same item, and loading both would put it on the target twice.
    """
    folders: list[FolderRef] = []
    by_folder: dict[str, list[MailWork]] = {}
    seen: set[str] = set()
    for w in work:
        if isinstance(w, FolderWork):
            folders.append(w.folder)
        elif w.meta.item_key not in seen:
            seen.add(w.meta.item_key)
            by_folder.setdefault(folder_name(w.meta.folder.path), []).append(w)
    return folders, by_folder


def append_groups(items: Sequence[MailWork]) -> Iterator[list[MailWork]]:
    group: list[MailWork] = []
    size = 0
    for it in items:
        if group and (len(group) >= APPEND_GROUP_MESSAGES or size + len(it.data) > APPEND_GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(it)
        size += len(it.data)
    if group:
        yield group


def outgoing(w: MailWork) -> Outgoing:
    return Outgoing(data=w.data, flags=tuple(w.meta.flags), internaldate=w.meta.internaldate,
                    message_id=w.meta.message_id)


class MigrationLoader:
    """Loads work for one migration into its (already logged-in) target."""

    def __init__(self, mid: str, pair_id: str, target: MailTarget, ledger: Ledger, producer: EventProducer,
                 metrics: ServiceMetrics, appenders: Sequence[MailTarget] = (),
                 pool: ThreadPoolExecutor | None = None) -> None:
        """``appenders``: further sessions to the same target, so several APPENDs are in flight at once
        (each round trip to a distant server costs tens of milliseconds)."""
        self.mid = mid
        self.pair_id = pair_id
        self.target = target
        self.ledger = ledger
        self.producer = producer
        self.metrics = metrics
        self.appenders = [target, *appenders]
        self.pool = pool

    def load(self, work: Sequence[Work]) -> None:
        out = Outcome()
        folders, by_folder = sort_batch(work, self.target.folder_name)
        names = [self.target.folder_name(f.path) for f in folders]
        created = self.target.ensure_folders([*names, *by_folder])  # all at once: one round trip
        if created:
            # Recorded before any message is written: if the batch then fails, its retry finds these folders
            # already there and would not know that this migration created them, so undo would leave them.
            self._record_now(self._folders_created(created))
        # A folder that was already there is done too: nothing is lost, so nothing goes into the report.
        for folder in folders:
            out.results.append(ItemResult(item_key=folder_key(folder.folder_id), item_type="folder", result="done",
                                          folder=folder.display))
        if by_folder:
            self._mails(by_folder, out)
        with self.metrics.stage("durable"):
            self._make_durable(out)
        self.metrics.item("email", "done", len(out.ledger), sum(e.bytes for e in out.ledger.values()))

    def _mails(self, by_folder: dict[str, list[MailWork]], out: Outcome) -> None:
        """The whole batch at once: one ledger lookup, then every folder's groups spread over the sessions."""
        keys = [m.meta.item_key for mails in by_folder.values() for m in mails]
        with self.metrics.stage("lookup"):
            known = self.ledger.lookup(keys)
            inflight = self.ledger.inflight(keys)
        jobs: list[tuple[str, list[MailWork]]] = []
        for name, mails in by_folder.items():
            todo: list[MailWork] = []
            claimed = {e.key for e in known.values() if e.target_folder == name}
            for m in mails:
                key = m.meta.item_key
                if key in known:
                    self._already(m, known[key], out)
                elif key in inflight and (found := self.target.find(name, outgoing(m), claimed)) is not None:
                    # Appended before a crash, never recorded: record it now instead of copying again.
                    claimed.add(found.key)
                    self._placed(m, found, out)
                else:
                    todo.append(m)
            jobs += [(name, group) for group in append_groups(todo)]
        self.ledger.mark_inflight(m.meta.item_key for _name, group in jobs for m in group)
        with self.metrics.stage("write"):
            written = self._append_all(jobs)
        for (_name, group), placed_list in zip(jobs, written, strict=True):
            for m, placed in zip(group, placed_list, strict=True):
                if isinstance(placed, ItemRejected):
                    self._rejected(m, placed, out)
                else:
                    self._placed(m, placed, out)

    def _append_all(self, jobs: list[tuple[str, list[MailWork]]]) -> list[list[Placed | ItemRejected]]:
        """Groups dealt over the sessions; each session pipelines its share. Results in job order."""
        lanes = len(self.appenders) if self.pool is not None else 1
        if len(jobs) <= 1 or lanes == 1:
            return self.target.append_pipelined([(name, [outgoing(m) for m in g]) for name, g in jobs])

        def run(target: MailTarget, share: list[tuple[str, list[MailWork]]]) -> list[list[Placed | ItemRejected]]:
            return target.append_pipelined([(name, [outgoing(m) for m in g]) for name, g in share])

        assert self.pool is not None
        futures = [self.pool.submit(run, t, share) for t, share in zip(self.appenders, deal(jobs, lanes), strict=False)
                   if share]
        return undeal([f.result() for f in futures], len(jobs))

    def _record_now(self, created: list[CreatedThing]) -> None:
        self.producer.send(topics.UNDO, self.mid, UndoRecords(migration_id=self.mid, pair_id=self.pair_id,
                                                              records=created))
        self.producer.flush()
        self.ledger.record({}, self.mid, [c.model_dump_json() for c in created])

    def _folders_created(self, names: list[str]) -> list[CreatedThing]:
        return [CreatedThing(kind="folder", target_folder=n, ref=self.target.folder_ref(n)) for n in names]

    def _already(self, m: MailWork, entry: LedgerEntry, out: Outcome) -> None:
        mine = entry.migration_id == self.mid
        out.results.append(ItemResult(
            item_key=m.meta.item_key, result="done" if mine else "skipped", bytes=entry.bytes if mine else 0,
            folder=m.meta.folder.display, subject=m.meta.subject,
            reason="" if mine else "already copied to the target by an earlier migration"))

    def _placed(self, m: MailWork, p: Placed, out: Outcome) -> None:
        out.created.append(CreatedThing(kind="message", target_folder=p.folder, uidvalidity=p.uidvalidity,
                                        uid=p.uid, ref=p.ref, item_key=m.meta.item_key))
        out.ledger[m.meta.item_key] = LedgerEntry(self.mid, p.folder, p.uidvalidity, p.uid, len(m.data), p.ref)
        out.results.append(ItemResult(item_key=m.meta.item_key, result="done", bytes=len(m.data),
                                      folder=m.meta.folder.display, subject=m.meta.subject,
                                      reason=not_kept_reason(p.not_kept)[:300] if p.not_kept else ""))

    def _rejected(self, m: MailWork, exc: ItemRejected, out: Outcome) -> None:
        self.ledger.clear_inflight([m.meta.item_key])
        out.results.append(ItemResult(item_key=m.meta.item_key, result="failed", bytes=0,
                                      folder=m.meta.folder.display, subject=m.meta.subject or m.meta.message_id,
                                      reason=f"{exc} (size {len(m.data)} bytes)"))
        self.metrics.item("email", "failed")
        self.metrics.dead_letter(exc.code)
        self.producer.send(topics.ITEMS_FAILED, self.mid, DeadLetter(
            migration_id=self.mid, service="loader", code=exc.code, reason=str(exc), topic=topics.ITEMS.name,
            item_key=m.meta.item_key, excerpt=m.data[:500].decode("utf-8", "replace")))

    def _make_durable(self, out: Outcome) -> None:
        """Undo records and progress in one flush, then the ledger: whatever the ledger says is on the
        target can always be undone. Progress may come before the ledger: after a crash between the two
        the items are found again on the target, and the tracker counts each item key once."""
        if out.created:
            self.producer.send(topics.UNDO, self.mid, UndoRecords(migration_id=self.mid, pair_id=self.pair_id,
                                                                  records=out.created))
        for i in range(0, len(out.results), 1000):
            self.producer.send(topics.PROGRESS, self.mid, ItemResults(
                migration_id=self.mid, operation=OPERATION, results=out.results[i:i + 1000]))
        self.producer.flush()
        self.ledger.record(out.ledger, self.mid, [c.model_dump_json() for c in out.created])
