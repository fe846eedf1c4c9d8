"""The loader service: items from Kafka → the target account, then commit.

Consumes ``items`` (and undo commands from ``migrations.control``). Decodes a batch,
reassembles chunked messages on disk, sorts the records per migration and operation, and
hands each share to the one durable write path (:class:`shared.durable_write.DurableWrite`)
with the target the registry opens for it. Offsets are committed only after the target
writes, their undo records, the progress and the ledger are durable, and never past the
first chunk of an unfinished item.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from services.loader.chunks import ChunkAssembler
from services.loader.poison import given_up
from services.loader.undo_run import run_undo
from services.runtime import ServiceContext, run_service
from shared import topics
from shared.adapters import registry
from shared.adapters.ports import (
    AdapterEnv,
    ItemRecord,
    MailRecord,
    MailTarget,
    PimRecord,
    Record,
    ScriptRecord,
    Target,
    WriteLanes,
)
from shared.config import Settings
from shared.credentials import CredentialStore
from shared.dead_letters import send_undecodable
from shared.durable_write import DurableWrite
from shared.edges import Delivered, ProducerEdge
from shared.errors import EventError, NotSupported, ServerBusy, Throttled
from shared.events import (
    ControlCommand,
    FolderItem,
    FolderRef,
    ItemResults,
    MailChunk,
    MailItem,
    MigrationRequested,
    PimItem,
    SieveScriptItem,
    UndoFinished,
    decode,
)
from shared.flow_window import FlowWindow
from shared.host_leases import HostLeases, SessionGate
from shared.json_log import redact
from shared.kafka_edge import next_offsets, position
from shared.metrics import ServiceMetrics
from shared.migration_records import MigrationRecords, RedisRecords
from shared.migration_state import EMAILS, OPERATION_OF
from shared.prefetch import PreparedBatch
from shared.session_caps import host_name
from shared.session_pool import SessionPool
from shared.session_target import SessionTarget

log = logging.getLogger(__name__)
SERVICE = "loader"
UNKNOWN = "the migration is unknown to this service (its record is gone)"
IDLE_SECONDS = 15.0
MIGRATIONS_SIDE_BY_SIDE = 8  # migrations of one batch written at once, each on its own session(s)
# A migration's first number of write sessions; the session rule moves it (the first round doubles it, and
# it grows on while batches are written faster). One, not the extractor's four: measured on this project's
# benchmark, four lanes wrote no faster than one on tmpfs or on ext4 and cost Dovecot more CPU on disk.
START_LANES = 1
LANES_MEMORY = 10_000


@dataclass
class MigrationWork:
    """One migration's share of a batch: its messages and folders, its other records by operation."""

    mail: list[MailRecord] = field(default_factory=list)
    folders: list[FolderRef] = field(default_factory=list)
    items: defaultdict[str, list[ItemRecord]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class BatchWork:
    """One batch, decoded and sorted."""

    migrations: defaultdict[str, MigrationWork] = field(default_factory=lambda: defaultdict(MigrationWork))
    undos: list[ControlCommand] = field(default_factory=list)
    accepted: list[MigrationRequested] = field(default_factory=list)  # targets to log in to ahead
    finished_chunks: list[tuple[str, str]] = field(default_factory=list)
    safe_offsets: list[tuple[str, int, int]] = field(default_factory=list)

    def absorb(self, later: BatchWork) -> None:
        """Take in the records decoded after this batch's (the prefetcher grows a waiting batch while the
        loader is busy). Per partition the later commit limit wins: it was decided knowing every chunk of
        both parts, while a partition only this part holds keeps its own."""
        for mid, share in later.migrations.items():
            mine = self.migrations[mid]
            mine.mail += share.mail
            mine.folders += share.folders
            for operation, records in share.items.items():
                mine.items[operation] += records
        self.undos += later.undos
        self.accepted += later.accepted
        self.finished_chunks += later.finished_chunks
        limits = {(t, p): o for t, p, o in self.safe_offsets} | {(t, p): o for t, p, o in later.safe_offsets}
        self.safe_offsets = [(t, p, o) for (t, p), o in limits.items()]


class Loader:
    def __init__(self, settings: Settings, records: MigrationRecords, producer: ProducerEdge, creds: CredentialStore,
                 env: AdapterEnv, metrics: ServiceMetrics, leases: HostLeases | None = None,
                 flow: FlowWindow | None = None) -> None:
        self.records = records
        self.producer = producer
        self.creds = creds
        # Every target session holds a lease on its server's and account's session caps while it is open.
        self.gate = SessionGate(leases)
        self.flow = flow  # counts what was taken in, so a migration's extraction stays within its window
        # A migration's e-mail is written through up to load_connections sessions side by side (_lane_rule).
        connections = max(1, settings.load_connections)
        self.env = dataclasses.replace(env, write_sessions=connections, write_pool=ThreadPoolExecutor(
            max_workers=connections, thread_name_prefix="append"), gate=self.gate if leases is not None else None)
        self.metrics = metrics
        self.specs: dict[str, MigrationRequested] = {}
        # Target sessions keyed <mid> (e-mail) and <mid>#<operation>: all of a migration's are dropped together
        # after a failure, so the retry logs in again. Idle ones go soon: they hold a lease on the caps.
        self.mail_targets: SessionPool[MailTarget] = SessionPool(_unnamed, self._close, idle_seconds=IDLE_SECONDS)
        self.item_targets: SessionPool[Target[Any]] = SessionPool(_unnamed, self._close, idle_seconds=IDLE_SECONDS)
        if leases is not None:
            for pool in (self.mail_targets, self.item_targets):
                leases.add_reclaimer(self._reclaimer(pool), pool.expire, pool.close_all)
        self.chunks = ChunkAssembler(settings.spool / "loader" / f"{socket.gethostname()}-{os.getpid()}")
        self.undo_batch = settings.undo_batch
        # Per migration, how many sessions its batches are written through: the extractor's rule
        # (:mod:`shared.session_target`), one round per batch, capped like the extractor's sessions.
        self.settings = settings
        self._lanes: dict[str, SessionTarget] = {}
        self._ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="login-ahead")
        self._current: tuple[Sequence[Delivered], BatchWork] | None = None  # the batch being handled, decoded
        self.side_by_side = ThreadPoolExecutor(max_workers=MIGRATIONS_SIDE_BY_SIDE, thread_name_prefix="load")

    def _close(self, session: MailTarget | Target[Any]) -> None:
        try:
            session.close()
        finally:
            self.gate.closed(session)

    def _reclaimer(self, pool: SessionPool[Any]) -> Callable[[str], None]:
        return lambda host: pool.drop_idle(lambda s: self.gate.host_of(s) == host)

    def _spec(self, mid: str) -> MigrationRequested | None:
        if mid not in self.specs:
            spec = self.records.spec(mid)
            if spec is None:
                return None
            self.specs[mid] = spec
        return self.specs[mid]

    def _secret(self, mid: str) -> Callable[[], str]:
        spec = self.specs[mid].target
        return lambda: self.creds.password(mid, spec, "target")

    def prepare(self, batch: list[Delivered]) -> BatchWork:
        """Decode a batch ahead, while the previous one is written (run by the prefetch thread)."""
        return self._decode(batch)

    def handle(self, batch: Sequence[Delivered]) -> list[tuple[str, int, int]]:
        self._observe_queued(batch)
        work = self._work_of(batch)
        for ev in work.accepted:
            self._log_in_ahead(ev)
        self._load_all(work.migrations)
        if self.flow is not None:
            self.flow.loaded({mid: len(share.mail) for mid, share in work.migrations.items()})
        for cmd in work.undos:
            self._undo(cmd)
        for mid, key in work.finished_chunks:
            self.chunks.release(mid, key)
        self._current = None
        return work.safe_offsets

    def _observe_queued(self, batch: Sequence[Delivered]) -> None:
        """Stage ``queued``: how long the batch's oldest record waited (produced → handled): about one batch's
        time when the loader keeps up, growing when it is what the pipeline waits for."""
        stamps = [ts for msg in batch if (stamp := getattr(msg, "timestamp", None)) is not None
                  and (ts := stamp()[1]) > 0]
        if stamps:
            age = max(0.0, time.time() - min(stamps) / 1000)
            self.metrics.stage_seconds.labels(self.metrics.service, "queued").observe(age)

    def _work_of(self, batch: Sequence[Delivered]) -> BatchWork:
        """The batch decoded once: ahead by the prefetch thread, or now and kept until it succeeds.
        A retry must reuse the commit limits decided when it was decoded (see :meth:`_decode`)."""
        if isinstance(batch, PreparedBatch) and isinstance(batch.made, BatchWork):
            if rest := batch.undecoded():  # a part whose decoding ahead failed: that part alone, now
                batch.made.absorb(self._decode(rest))
                batch.decoded = len(batch)
            return batch.made
        if self._current is not None and self._current[0] is batch:
            return self._current[1]
        work = self._decode(batch)
        if isinstance(batch, PreparedBatch):
            batch.made, batch.decoded = work, len(batch)
        else:
            self._current = (batch, work)
        return work

    def _decode(self, batch: Sequence[Delivered]) -> BatchWork:
        with self.metrics.stage("decode"):
            work = self._sort(batch)
        # Decided now, not after the write: a batch decoded later may finish an item this one started,
        # and this batch's commit must still stop before that item's first chunk.
        work.safe_offsets = self._safe_offsets(batch)
        return work

    def _sort(self, batch: Sequence[Delivered]) -> BatchWork:
        """Decode a batch into records per migration and kind; chunks go to disk until their item is whole."""
        work = BatchWork()
        for msg in batch:
            try:
                ev = decode(msg.value() or b"")
            except EventError as exc:
                send_undecodable(self.producer, self.metrics, msg, exc)
                continue
            if isinstance(ev, MailItem):
                work.migrations[ev.migration_id].mail.append(MailRecord(ev.meta, ev.data))
            elif isinstance(ev, FolderItem):
                work.migrations[ev.migration_id].folders.append(ev.folder)
            elif isinstance(ev, MailChunk):
                t, p, o = position(msg)
                done = self.chunks.add(ev, (t, p), o)
                if done:
                    work.migrations[ev.migration_id].mail.append(MailRecord(done.meta, done.path.read_bytes()))
                    work.finished_chunks.append((ev.migration_id, ev.item_key))
            elif isinstance(ev, SieveScriptItem):
                work.migrations[ev.migration_id].items["rules"].append(ScriptRecord(ev))
            elif isinstance(ev, PimItem):
                work.migrations[ev.migration_id].items[OPERATION_OF.get(ev.item_type, "")].append(PimRecord(ev))
            elif isinstance(ev, ControlCommand) and ev.command == "undo":
                work.undos.append(ev)
            elif isinstance(ev, MigrationRequested):
                work.accepted.append(ev)
        return work

    def _load_all(self, shares: Mapping[str, MigrationWork]) -> None:
        """Each migration's share of the batch on its own session, several migrations side by side: a small
        migration's write is mostly round trips (login, folders, appends), and written one after another
        they made a batch of many small migrations take one round-trip chain each. A failed share fails the
        batch (after the others are written: the retry finds them in the ledger)."""
        if len(shares) <= 1:
            for mid, share in shares.items():
                self._timed_load(mid, share)
            return
        futures = [self.side_by_side.submit(self._timed_load, mid, share) for mid, share in shares.items()]
        errors = [exc for fut in futures if (exc := fut.exception()) is not None]
        if errors:
            raise errors[0]

    def _timed_load(self, mid: str, work: MigrationWork) -> None:
        """Stage ``share``: one migration's share of a batch; a batch takes as long as its slowest share."""
        with self.metrics.stage("share"):
            self._load(mid, work)

    def _load(self, mid: str, work: MigrationWork) -> None:
        spec = self._spec(mid)
        if spec is None:
            self._fail_all(mid, [*work.mail, *(r for rs in work.items.values() for r in rs)], UNKNOWN)
            return
        writes = DurableWrite(self.records.ledger(spec.pair_id), self.producer, self.metrics, mid, spec.pair_id)
        host = registry.session_host(spec.target)
        self.gate.wait(host)  # a host that throttled is left alone by every replica for a while
        try:
            with contextlib.ExitStack() as held:  # the sessions this share writes through stay open meanwhile
                held.enter_context(self.mail_targets.hold(mid))
                for operation in work.items:
                    held.enter_context(self.item_targets.hold(f"{mid}#{operation}"))
                if work.mail or work.folders:
                    rule = self._lane_rule(mid, host)
                    lanes = WriteLanes(wanted=rule.sessions)
                    writes.write_mail(work.mail, work.folders,
                                      lambda: self.mail_targets.get(mid, self._mail_opener(mid)), lanes)
                    rule.observe(lanes.messages, lanes.seconds, lanes.used)
                for operation, records in work.items.items():
                    writes.write_items(records, self._item_session(mid, operation))
        except (Throttled, ServerBusy) as exc:
            self.gate.throttled(host, exc.backoff_seconds)
            if mid in self._lanes:
                self._lanes[mid].throttled()
            self.mail_targets.drop_migration(mid)
            self.item_targets.drop_migration(mid)
            raise
        except Exception:
            self.mail_targets.drop_migration(mid)  # reconnect on the retry
            self.item_targets.drop_migration(mid)
            raise

    def _log_in_ahead(self, ev: MigrationRequested) -> None:
        """A migration was accepted: log in to its target now, on a thread, while the extractor logs in to the
        source and plans, so its first folders and messages find the session open (a small mailbox's copy
        no longer waits for a login after the plan). Best effort: a login that fails or finds no free lease
        here is made (and reported) when the first batch comes; an unused session is closed as idle. Not when
        the source is on the same server: the extractor is logging in there at this moment, and a busy server
        that refuses one login must not see a second one before every worker has heard of its back-off."""
        mid = ev.migration_id
        if EMAILS not in ev.options or registry.system(ev.target.type).mail_target is None:
            return
        host = registry.session_host(ev.target)
        if host is not None and host_name(host) == host_name(registry.session_host(ev.source) or ""):
            return
        self.specs.setdefault(mid, ev)

        def log_in() -> None:
            try:
                self.mail_targets.get(mid, lambda: self._mail_target(mid, wait=False))
            except (Throttled, ServerBusy) as exc:  # the server is busy: every worker leaves it alone a while
                self.gate.throttled(host, exc.backoff_seconds)
            except Exception as exc:  # the first batch logs in itself
                log.info("the target could not be logged in to ahead", extra={"migration_id": mid,
                                                                             "error": type(exc).__name__})

        self._ahead.submit(log_in)

    def _lane_rule(self, mid: str, host: str | None) -> SessionTarget:
        """The migration's write sessions in this replica: from START_LANES up to the smallest of the
        loader's limit and the host's and account's caps, moved by what each batch's write achieved — once the
        migration has written more than a task's worth of messages (``MAILFERRY_TASK_SIZE``) here. As the
        extractor keeps a migration that fits in one task on one session, a small migration keeps one write
        session: a further lane is a login and a lease on the caps, for a write of a few round trips. The rule
        counts what it was shown itself (:mod:`shared.session_target`): after a restart, or in each of two
        loaders, a migration starts on one lane again until that replica has written a task's worth."""
        found = self._lanes.get(mid)
        if found is None:
            caps = self.settings.session_caps
            cap = min([max(1, self.settings.load_connections),
                       *((caps.for_host(host), caps.account_default) if host else ())])
            found = self._lanes[mid] = SessionTarget(cap=cap, sessions=min(cap, START_LANES),
                                                     judged_after=self.settings.task_size)
            while len(self._lanes) > LANES_MEMORY:
                del self._lanes[next(iter(self._lanes))]
        return found

    def _mail_opener(self, mid: str) -> Callable[[], MailTarget]:
        def opened() -> MailTarget:
            with self.metrics.stage("open"):  # a lease (waited for while the host is full) and a login
                return self._mail_target(mid)
        return opened

    def _item_session(self, mid: str, operation: str) -> Callable[[], Target[Any]]:
        return lambda: self.item_targets.get(f"{mid}#{operation}", lambda: self._item_target(mid, operation))

    def _mail_target(self, mid: str, *, wait: bool = True) -> MailTarget:
        spec = self.specs[mid].target
        system = registry.system(spec.type)
        mail_target = system.mail_target
        if mail_target is None:
            raise NotSupported(f"e-mails cannot be written to {system.label} by this version")
        return self.gate.open(registry.session_host(spec), spec.login,
                              lambda: mail_target(spec, self._secret(mid), self.env), wait=wait)

    def _item_target(self, mid: str, operation: str) -> Target[Any]:
        """The migration's session writing ``operation`` (NotSupported when the target's system has none)."""
        spec = self.specs[mid].target
        found = registry.SYSTEMS.get(spec.type)
        writing = found.writers.get(operation) if found else None
        if writing is None:
            label = registry.label(spec.type)
            raise NotSupported(f"{operation or 'this item type'} cannot be written to {label} by this version")
        return self.gate.open(registry.session_host(spec), spec.login,
                              lambda: writing.open(spec, self._secret(mid), self.env))

    def _undo(self, cmd: ControlCommand) -> None:
        spec = self._spec(cmd.migration_id)
        if spec is None or not cmd.target_password_sealed:
            return
        mid = cmd.migration_id
        target = spec.target
        system = registry.system(target.type)
        open_undo = system.undo
        if open_undo is None:
            self.producer.send(topics.PROGRESS, mid, UndoFinished(
                migration_id=mid, ok=False, removed_messages=0, removed_folders=0, restored_settings=0, kept=[],
                reason=f"what was written to {system.label} cannot be undone by this version"))
            self.producer.flush()
            return
        with self.gate.held(registry.session_host(target), target.login):
            run_undo(mid, cmd.target_password_sealed, self.creds, self.records.ledger(spec.pair_id),
                     lambda pw: open_undo(target, lambda: pw, self.env), self.producer, self.undo_batch,
                     spec.pair_id)

    def poison(self, batch: Sequence[Delivered], exc: Exception) -> list[tuple[str, int, int]]:
        """A batch that keeps failing: every item in it reported failed under its own operation, an undo in it
        reported as a failed undo, and all of it dead-lettered, so every migration can still end. Returns the
        offsets to commit: not past the first chunk of a large message whose last chunk is not in the batch (it
        is reported with its last chunk; committed past its start, a restart would read its rest as chunks
        without a start and it would never be reported)."""
        self._current = None
        events = []
        for msg in batch:
            try:
                events.append(decode(msg.value() or b""))
            except EventError:
                continue
            send_undecodable(self.producer, self.metrics, msg, EventError(f"poison batch: {exc}"))
        error = f"{type(exc).__name__}: {redact(str(exc))}"[:200]
        if self.flow is not None:  # taken in too: the migration's extraction must not wait for these forever
            taken: dict[str, int] = defaultdict(int)
            for ev in events:
                if isinstance(ev, MailItem) or (isinstance(ev, MailChunk) and ev.last):
                    taken[ev.migration_id] += 1
            self.flow.loaded(taken)
        for ev in given_up(events, error).events():
            self.producer.send(topics.PROGRESS, ev.migration_id, ev)
        self.producer.flush()
        for ev in events:  # reported failed with their last chunk: their files go
            if isinstance(ev, MailChunk) and ev.last:
                self.chunks.release(ev.migration_id, ev.item_key)
        return self._safe_offsets(batch)

    def _fail_all(self, mid: str, records: Sequence[Record], reason: str) -> None:
        by_operation: dict[str, list[Record]] = defaultdict(list)
        for r in records:
            by_operation[OPERATION_OF.get(r.item_type, EMAILS)].append(r)
        for operation, rs in by_operation.items():
            self.producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation=operation,
                                                                 results=[r.report("failed", reason) for r in rs]))
            for r in rs:
                self.metrics.item(r.item_type, "failed")
        self.producer.flush()

    def _safe_offsets(self, batch: Sequence[Delivered]) -> list[tuple[str, int, int]]:
        out = []
        for t, p, nxt in next_offsets(batch):
            barrier = self.chunks.barrier((t, p))
            out.append((t, p, nxt if barrier is None else min(nxt, barrier)))
        return out


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service loader``."""

    def make(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        loader = Loader(settings, RedisRecords(ctx.redis), ctx.producer, ctx.credentials, ctx.adapters, ctx.metrics,
                        leases=HostLeases(ctx.redis, settings.session_caps),
                        flow=FlowWindow(ctx.redis, settings.migration_window))
        # A partition taken away: its half-built large messages are forgotten, so a stale first-chunk offset
        # never holds that partition's commits back if it comes back after another loader went on with it.
        return loader.handle, loader.poison, loader.prepare, loader.chunks.forget_partitions

    run_service(SERVICE, settings, stop, [topics.ITEMS, topics.MIGRATIONS_CONTROL, topics.MIGRATIONS_REQUESTED], make,
                batch_size=settings.load_batch, linger=0.05, batch_bytes=settings.load_batch_bytes,
                # Prefetch bounded: a loader's memory must not grow with the backlog of large items.
                consumer_overrides={"queued.max.messages.kbytes": 32_768})


def _unnamed(key: str) -> Any:
    raise NotSupported(f"no target session was named for {key}")  # every caller passes its opener
