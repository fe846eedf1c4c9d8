"""The loader service: items from Kafka → the target account, then commit.

Consumes ``items``. Decodes a batch, reassembles chunked messages on disk,
groups the work per migration and hands it to :class:`MigrationLoader`. Offsets
are committed only after the target writes, their undo records, the ledger and
the progress are durable, and never past the first chunk of an unfinished item.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis
from confluent_kafka import Message

from services.loader.chunks import ChunkAssembler
from services.loader.load import OPERATION, FolderWork, MailWork, MigrationLoader, Work
from services.loader.pim_load import load_pim
from services.loader.poison import given_up
from services.loader.sieve import SieveLoader
from services.loader.undo import run_undo
from services.runtime import ServiceContext, run_service
from shared import redis_keys as k
from shared import topics
from shared.adapters import registry
from shared.adapters.descriptor import Writing
from shared.adapters.ports import AdapterEnv, ItemTarget, MailTarget
from shared.config import Settings
from shared.credentials import CredentialStore
from shared.dead_letters import send_undecodable
from shared.errors import ConnectionCheckFailed, EventError, NotSupported, SecretUnavailable
from shared.events import (
    ControlCommand,
    FolderItem,
    ItemResult,
    ItemResults,
    MailChunk,
    MailItem,
    MigrationFailed,
    MigrationRequested,
    PimItem,
    SieveScriptItem,
    UndoFinished,
    decode,
    decode_as,
)
from shared.json_log import redact
from shared.kafka_edge import EventProducer, next_offsets, position
from shared.ledger import Ledger
from shared.metrics import ServiceMetrics
from shared.migration_state import OPERATION_OF
from shared.prefetch import PreparedBatch
from shared.session_pool import SessionPool, slot_key

log = logging.getLogger(__name__)
SERVICE = "loader"


@dataclass
class BatchWork:
    """One batch, decoded and sorted: what each migration gets, by kind."""

    mail: defaultdict[str, list[Work]] = field(default_factory=lambda: defaultdict(list))
    scripts: defaultdict[str, list[SieveScriptItem]] = field(default_factory=lambda: defaultdict(list))
    pim: defaultdict[str, list[PimItem]] = field(default_factory=lambda: defaultdict(list))
    undos: list[ControlCommand] = field(default_factory=list)
    finished_chunks: list[tuple[str, str]] = field(default_factory=list)
    safe_offsets: list[tuple[str, int, int]] = field(default_factory=list)


class Loader:
    def __init__(self, settings: Settings, r: redis.Redis, producer: EventProducer, creds: CredentialStore,
                 env: AdapterEnv, metrics: ServiceMetrics) -> None:
        self.r = r
        self.producer = producer
        self.creds = creds
        self.env = env
        self.metrics = metrics
        self.specs: dict[str, MigrationRequested] = {}
        # Mail target sessions keyed <mid> (and <mid>#<slot> for further APPEND sessions); item target
        # sessions keyed <mid>#<operation>: all of a migration's are dropped together after a failure.
        self.targets: SessionPool[MailTarget] = SessionPool(self._open_target, lambda t: t.close(), idle_seconds=120)
        self.item_targets: SessionPool[ItemTarget] = SessionPool(_unnamed, lambda t: t.close(), idle_seconds=120)
        spool = settings.spool / "loader" / f"{socket.gethostname()}-{os.getpid()}"
        self.chunks = ChunkAssembler(spool)
        self.undo_batch = settings.undo_batch
        self.connections = max(1, settings.load_connections)
        self.append_pool = ThreadPoolExecutor(max_workers=self.connections, thread_name_prefix="append")
        self._current: tuple[list[Message], BatchWork] | None = None  # the batch being handled, decoded

    def _spec(self, mid: str) -> MigrationRequested | None:
        if mid not in self.specs:
            raw = self.r.get(k.spec(mid))
            if raw is None:
                return None
            self.specs[mid] = decode_as(raw, MigrationRequested)
        return self.specs[mid]

    def _secret(self, mid: str) -> Callable[[], str]:
        spec = self.specs[mid].target
        return lambda: self.creds.password(mid, spec, "target")

    def _open_target(self, key: str) -> MailTarget:
        mid = key.split("#", 1)[0]
        spec = self.specs[mid].target
        system = registry.system(spec.type)
        if system.mail_target is None:
            raise NotSupported(f"e-mails cannot be written to {system.label} by this version")
        return system.mail_target(spec, self._secret(mid), self.env)

    def _writing(self, mid: str, operation: str) -> Writing | None:
        found = registry.SYSTEMS.get(self.specs[mid].target.type)
        return found.writers.get(operation) if found else None

    def prepare(self, batch: list[Message]) -> BatchWork:
        """Decode a batch ahead, while the previous one is written (run by the prefetch thread)."""
        return self._decode(batch)

    def handle(self, batch: list[Message]) -> list[tuple[str, int, int]]:
        work = self._work_of(batch)
        for mid, mails in work.mail.items():
            self._load(mid, mails)
        for mid, items in work.scripts.items():
            self._load_scripts(mid, items)
        for mid, pims in work.pim.items():
            self._load_pim(mid, pims)
        for cmd in work.undos:
            self._undo(cmd)
        for mid, key in work.finished_chunks:
            self.chunks.release(mid, key)
        self._current = None
        return work.safe_offsets

    def _work_of(self, batch: list[Message]) -> BatchWork:
        """The batch decoded once: ahead by the prefetch thread, or now and kept until it succeeds.
        A retry must reuse the commit limits decided when it was decoded (see :meth:`_decode`)."""
        if isinstance(batch, PreparedBatch) and isinstance(batch.made, BatchWork):
            return batch.made
        if self._current is not None and self._current[0] is batch:
            return self._current[1]
        work = self._decode(batch)
        if isinstance(batch, PreparedBatch):
            batch.made = work
        else:
            self._current = (batch, work)
        return work

    def _decode(self, batch: list[Message]) -> BatchWork:
        with self.metrics.stage("decode"):
            work = self._sort(batch)
        # Decided now, not after the write: a batch decoded later may finish an item this one started,
        # and this batch's commit must still stop before that item's first chunk.
        work.safe_offsets = self._safe_offsets(batch)
        return work

    def _sort(self, batch: list[Message]) -> BatchWork:
        """Decode a batch into work per migration and kind; chunks go to disk until their item is whole."""
        work = BatchWork()
        for msg in batch:
            try:
                ev = decode(msg.value())
            except EventError as exc:
                send_undecodable(self.producer, self.metrics, msg, exc)
                continue
            if isinstance(ev, FolderItem):
                work.mail[ev.migration_id].append(FolderWork(ev.folder))
            elif isinstance(ev, MailItem):
                work.mail[ev.migration_id].append(MailWork(ev.meta, ev.data))
            elif isinstance(ev, MailChunk):
                t, p, o = position(msg)
                done = self.chunks.add(ev, (t, p), o)
                if done:
                    work.mail[ev.migration_id].append(MailWork(done.meta, done.path.read_bytes()))
                    work.finished_chunks.append((ev.migration_id, ev.item_key))
            elif isinstance(ev, SieveScriptItem):
                work.scripts[ev.migration_id].append(ev)
            elif isinstance(ev, PimItem):
                work.pim[ev.migration_id].append(ev)
            elif isinstance(ev, ControlCommand) and ev.command == "undo":
                work.undos.append(ev)
        return work

    def _load(self, mid: str, work: list[Work]) -> None:
        spec = self._spec(mid)
        if spec is None:
            self._fail_all(mid, work, "the migration is unknown to this service (its record is gone)")
            return
        try:
            target = self.targets.get(mid)
        except SecretUnavailable:
            self._fail_all(mid, work, "the migration had already ended; item not copied")
            return
        except (ConnectionCheckFailed, NotSupported) as exc:
            if exc.retryable:
                raise
            self.producer.send(topics.PROGRESS, mid, MigrationFailed(migration_id=mid, code=exc.code, reason=str(exc)))
            self._fail_all(mid, work, f"target login failed: {exc}")
            return
        # With LITERAL+ one session pipelines every APPEND of the batch, which Dovecot takes in
        # faster and at a quarter of the CPU than several sessions writing into one account at once
        # (they contend for its index locks). Without it, several sessions keep APPENDs in flight.
        more = [slot_key(mid, i) for i in range(1, self.connections)] if target.parallel_sessions else []
        appenders = list(self.append_pool.map(self.targets.get, more))  # they log in side by side
        loader = MigrationLoader(mid, spec.pair_id, target, Ledger(self.r, spec.pair_id), self.producer, self.metrics,
                                 appenders, self.append_pool)
        try:
            loader.load(work)
        except Exception:
            self.targets.drop_migration(mid)  # reconnect on the retry
            raise

    def _load_scripts(self, mid: str, items: list[SieveScriptItem]) -> None:
        spec = self._spec(mid)
        if spec is None:
            return
        writing = self._writing(mid, "rules")
        try:
            if writing is None or writing.format != "sieve":
                raise NotSupported(f"Sieve scripts cannot be written to {registry.label(spec.target.type)}")
            SieveLoader(mid, spec.pair_id, lambda: writing.open(spec.target, self._secret(mid), self.env),
                        Ledger(self.r, spec.pair_id), self.producer).load(items)
        except (SecretUnavailable, ConnectionCheckFailed, NotSupported) as exc:
            if isinstance(exc, ConnectionCheckFailed) and exc.retryable:
                raise
            self.producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation="rules", results=[
                ItemResult(item_key=i.item_key, item_type="rule", result="failed", subject=i.name, reason=str(exc))
                for i in items]))
            self.producer.flush()

    def _load_pim(self, mid: str, items: list[PimItem]) -> None:
        spec = self._spec(mid)
        if spec is None:
            return
        by_op: dict[str, list[PimItem]] = defaultdict(list)
        for item in items:
            by_op[OPERATION_OF.get(item.item_type, "")].append(item)
        for operation, group in by_op.items():
            load_pim(mid, spec.pair_id, group, functools.partial(self._item_target, mid, operation),
                     Ledger(self.r, spec.pair_id), self.producer)

    def _item_target(self, mid: str, operation: str) -> ItemTarget:
        """The migration's session writing ``operation`` (NotSupported when the target's system has none)."""
        writing = self._writing(mid, operation)
        if writing is None:
            label = registry.label(self.specs[mid].target.type)
            raise NotSupported(f"{operation or 'this item type'} cannot be written to {label} by this version")
        spec = self.specs[mid].target
        return self.item_targets.get(f"{mid}#{operation}", lambda: writing.open(spec, self._secret(mid), self.env))

    def _undo(self, cmd: ControlCommand) -> None:
        spec = self._spec(cmd.migration_id)
        if spec is None or not cmd.target_password_sealed:
            return
        mid = cmd.migration_id
        target = spec.target
        system = registry.system(target.type)
        open_undo, open_scripts = system.undo, system.script_undo
        if open_undo is None:
            self.producer.send(topics.PROGRESS, mid, UndoFinished(
                migration_id=mid, ok=False, removed_messages=0, removed_folders=0, restored_settings=0, kept=[],
                reason=f"what was written to {system.label} cannot be undone by this version"))
            self.producer.flush()
            return
        run_undo(mid, cmd.target_password_sealed, self.creds, Ledger(self.r, spec.pair_id),
                 lambda pw: open_undo(target, lambda: pw, self.env),
                 (lambda pw: open_scripts(target, lambda: pw, self.env)) if open_scripts is not None else None,
                 self.producer, self.undo_batch)

    def poison(self, batch: list[Message], exc: Exception) -> None:
        """A batch that keeps failing: every item in it reported failed under its own operation, an undo in it
        reported as a failed undo, and all of it dead-lettered, so every migration can still end."""
        self._current = None
        events = []
        for msg in batch:
            try:
                events.append(decode(msg.value()))
            except EventError:
                continue
            send_undecodable(self.producer, self.metrics, msg, EventError(f"poison batch: {exc}"))
        error = f"{type(exc).__name__}: {redact(str(exc))}"[:200]
        for ev in given_up(events, error).events():
            self.producer.send(topics.PROGRESS, ev.migration_id, ev)
        self.producer.flush()

    def _fail_all(self, mid: str, work: list[Work], reason: str) -> None:
        results = [ItemResult(item_key=w.meta.item_key, result="failed", folder=w.meta.folder.display,
                              subject=w.meta.subject, reason=reason) for w in work if isinstance(w, MailWork)]
        self.producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation=OPERATION, results=results))
        self.producer.flush()
        self.metrics.item("email", "failed", len(results))

    def _safe_offsets(self, batch: list[Message]) -> list[tuple[str, int, int]]:
        out = []
        for t, p, nxt in next_offsets(batch):
            barrier = self.chunks.barrier((t, p))
            out.append((t, p, nxt if barrier is None else min(nxt, barrier)))
        return out


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service loader``."""

    def make(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        loader = Loader(settings, ctx.redis, ctx.producer, ctx.credentials, ctx.adapters, ctx.metrics)
        return loader.handle, loader.poison, loader.prepare

    run_service(SERVICE, settings, stop, [topics.ITEMS, topics.MIGRATIONS_CONTROL], make,
                batch_size=settings.load_batch, linger=0.05, batch_bytes=settings.load_batch_bytes,
                # Prefetch bounded: a loader's memory must not grow with the backlog of large items.
                consumer_overrides={"queued.max.messages.kbytes": 32_768})


def _unnamed(key: str) -> ItemTarget:
    raise NotSupported(f"no item target was named for session {key}")  # every caller passes its opener
