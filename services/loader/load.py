"""Loading one migration's share of a batch into its target, exactly once in effect.

Order of durability, per batch: mark in-flight → write to the target → undo
records flushed to Kafka → ledger in Redis (clears in-flight) → progress →
(the caller) commit. A crash anywhere re-delivers the batch: the ledger answers
for what was recorded, and only in-flight items cost a search on the target.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from services.extractor.plan import folder_key
from services.loader.imap import Outgoing, Placed
from services.loader.target import MailTarget
from shared import topics
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
from shared.kafka_edge import EventProducer
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


def runs_by_folder(work: Sequence[Work]) -> Iterator[list[Work]]:
    """Consecutive work for the same folder, so MULTIAPPEND can take it in one go."""
    run: list[Work] = []
    for w in work:
        if run and (isinstance(w, FolderWork) or isinstance(run[0], FolderWork)
                    or w.meta.folder.folder_id != run[0].meta.folder.folder_id):  # type: ignore[union-attr]
            yield run
            run = []
        run.append(w)
    if run:
        yield run


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
        for run in runs_by_folder(work):
            if isinstance(run[0], FolderWork):
                self._folder(run[0].folder, out)
            else:
                self._mails([w for w in run if isinstance(w, MailWork)], out)
        self._make_durable(out)

    def _folder(self, folder: FolderRef, out: Outcome) -> str:
        name = self.target.folder_name(folder.path)
        created = self.target.ensure_folder(name)
        out.created += self._folders_created(created)
        out.results.append(ItemResult(item_key=folder_key(folder.folder_id), item_type="folder", result="done",
                                      folder=folder.display, reason="" if created else "existed on the target"))
        return name

    def _mails(self, mails: list[MailWork], out: Outcome) -> None:
        folder = mails[0].meta.folder
        name = self.target.folder_name(folder.path)
        out.created += self._folders_created(self.target.ensure_folder(name))
        keys = [m.meta.item_key for m in mails]
        known = self.ledger.lookup(keys)
        inflight = self.ledger.inflight(keys)
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
        self.ledger.mark_inflight(m.meta.item_key for m in todo)
        groups = list(append_groups(todo))
        for group, placed_list in zip(groups, self._append_all(name, groups), strict=True):
            for m, placed in zip(group, placed_list, strict=True):
                if isinstance(placed, ItemRejected):
                    self._rejected(m, placed, out)
                else:
                    self._placed(m, placed, out)

    def _append_all(self, name: str, groups: list[list[MailWork]]) -> list[list[Placed | ItemRejected]]:
        """Groups spread over the sessions, each session's share in order; results in group order."""
        if len(groups) <= 1 or len(self.appenders) == 1 or self.pool is None:
            return [self.target.append_many(name, [outgoing(m) for m in g]) for g in groups]
        lanes = [groups[i::len(self.appenders)] for i in range(len(self.appenders))]

        def run(target: MailTarget, share: list[list[MailWork]]) -> list[list[Placed | ItemRejected]]:
            target.ensure_folder(name)
            return [target.append_many(name, [outgoing(m) for m in g]) for g in share]

        futures = [self.pool.submit(run, t, share) for t, share in zip(self.appenders, lanes, strict=False) if share]
        per_lane = [f.result() for f in futures]
        results: list[list[Placed | ItemRejected]] = []
        for i in range(len(groups)):
            results.append(per_lane[i % len(self.appenders)][i // len(self.appenders)])
        return results

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
                                      folder=m.meta.folder.display, subject=m.meta.subject))
        self.metrics.item("email", "done", 1, len(m.data))

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
        if out.created:
            self.producer.send(topics.UNDO, self.mid, UndoRecords(migration_id=self.mid, pair_id=self.pair_id,
                                                                  records=out.created))
            self.producer.flush()
        self.ledger.record(out.ledger, self.mid, [c.model_dump_json() for c in out.created])
        for i in range(0, len(out.results), 1000):
            self.producer.send(topics.PROGRESS, self.mid, ItemResults(
                migration_id=self.mid, operation=OPERATION, results=out.results[i:i + 1000]))
        self.producer.flush()
