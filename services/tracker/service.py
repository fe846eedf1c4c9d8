"""The tracker: folds progress events into the status view and decides when a migration ends.

Consumes ``progress``. The fold is pure (:mod:`services.tracker.fold`); this edge loads each
migration's status, folds the batch's events, saves what changed and does what the change calls
for. Every fold is idempotent (item results are counted once per item key; states only move along
the allowed transitions), so a redelivered batch changes nothing. At a final state it deletes the
migration's data key, which makes its sealed credentials unreadable everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import redis

from services.runtime import ServiceContext, run_service
from services.tracker.fold import Finished, RequestOperation, UndoEnded, fold_all, next_steps, settle, when
from services.tracker.metrics import TrackerMetrics
from services.tracker.notify import Notifier, compose, compose_project
from services.tracker.stall import StallWatch, idle_migrations
from shared import migration_state as ms
from shared import topics
from shared.config import Settings
from shared.credentials import CredentialStore
from shared.edges import Delivered, ProducerEdge
from shared.errors import EventError
from shared.events import Event, ItemResults, OperationRequested, ProjectEnded, decode, decode_as, encode
from shared.kafka_edge import EventProducer, make_producer, next_offsets
from shared.migration_records import RecordLog
from shared.migration_status import StatusKeeper
from shared.notify_due import ENDS, PROJECT, marker, told
from shared.spool import PstUnavailable, spool_file
from shared.status_store import StatusStore

log = logging.getLogger(__name__)
SERVICE = "tracker"


class Tracker:
    def __init__(self, status: StatusKeeper, creds: CredentialStore, producer: ProducerEdge,
                 metrics: TrackerMetrics, notifier: Notifier | None = None, spool: Path | None = None,
                 stalled: Callable[[], int] = lambda: 0, record: RecordLog | None = None) -> None:
        self.status = status
        self.record = record  # where a project's end notice is kept until it is told (None: unit tests)
        self.spool = spool
        self.creds = creds
        self.producer = producer
        self.metrics = metrics
        self.notifier = notifier
        self.stalled = stalled  # how many running migrations made no progress lately (a gauge)
        self._last_gauges = 0.0
        # Where the notifier's thread says an end was told (its own producer: see serve); None: not said.
        self.notify_status: StatusStore | None = None

    def handle(self, batch: Sequence[Delivered]) -> list[tuple[str, int, int]]:
        """Per migration of the batch: load its status, fold its events (:mod:`services.tracker.fold`), save
        what changed, then do what the change calls for."""
        events: dict[str, list[Event]] = {}
        for msg in batch:
            try:
                ev = decode(msg.value() or b"")
            except EventError as exc:
                self.metrics.base.dead_letter(exc.code)
                log.warning("undecodable event skipped", extra={"error": str(exc), "topic": msg.topic()})
                continue
            if isinstance(ev, ProjectEnded):
                self.project_ended(ev)
                continue
            events.setdefault(ev.migration_id, []).append(ev)
        for mid, evs in events.items():
            self.fold(mid, evs)
        self.producer.flush()
        self.refresh_gauges()
        return next_offsets(batch)

    def fold(self, mid: str, events: Sequence[Event]) -> None:
        keys = [r.item_key for ev in events if isinstance(ev, ItemResults) for r in ev.results]
        before = self.status.load(mid, keys)
        if before is None:
            return  # not a migration this service knows (its status is gone)
        after = fold_all(before, events)
        moved = self.status.save(mid, before, after)
        steps = next_steps(before, after)
        if len(moved) < len(after.moves) - len(before.moves):
            # A move was refused: the state changed meanwhile (intake's cancel). Settle on the state as stored.
            fresh = self.status.load(mid, ())
            if fresh is not None:
                settled = settle(fresh, when(events[-1]))
                moved |= self.status.save(mid, fresh, settled)
                steps += next_steps(fresh, settled)
        for step in steps:
            if isinstance(step, RequestOperation):
                self.producer.send(topics.MIGRATIONS_REQUESTED, mid,
                                   OperationRequested(migration_id=mid, operation=step.operation))
            elif isinstance(step, Finished) and step.state in moved:
                self.finished(mid, step.state)
            elif isinstance(step, UndoEnded) and (ms.UNDONE if step.ok else ms.UNDO_FAILED) in moved:
                self.undo_finished(mid, step.ok)

    def finished(self, mid: str, state: str) -> None:
        """The final state: credentials go, metrics count it, the user is told."""
        self.creds.delete(mid)
        fields = self.status.fields(mid)
        self.remove_spool_file(mid, fields.get("spool_file", ""))
        self.metrics.finished.labels(state).inc()
        try:
            elapsed = (datetime.fromisoformat(fields["finished_at"])
                       - datetime.fromisoformat(fields["created_at"])).total_seconds()
            self.metrics.duration.labels(state).observe(max(0.0, elapsed))
        except (KeyError, ValueError, TypeError):
            pass
        if self.notifier and fields.get("notify_email"):
            self.notifier.enqueue(mid, "migration")
        log.info("migration ended", extra={"migration_id": mid, "state": state})

    def remove_spool_file(self, mid: str, relative: str) -> None:
        """An uploaded PST is deleted at the final state (a redelivered event finds it gone: harmless)."""
        if not relative or self.spool is None:
            return
        try:
            spool_file(self.spool, relative).unlink(missing_ok=True)
        except (OSError, PstUnavailable) as exc:
            log.warning("spool file not removed", extra={"migration_id": mid, "error": str(exc)})

    def undo_finished(self, mid: str, ok: bool) -> None:
        self.creds.delete(mid)
        self.metrics.undo.labels("undone" if ok else "failed").inc()
        if self.notifier and self.status.fields(mid).get("notify_email"):
            self.notifier.enqueue(mid, "undo")
        log.info("undo ended", extra={"migration_id": mid, "state": ms.UNDONE if ok else ms.UNDO_FAILED})

    def project_ended(self, ev: ProjectEnded) -> None:
        """A project's end: its notice goes on the record first (``notice:<project_id>`` on
        ``migrations.record``, tombstoned once told: a view rebuilt from the topics queues it again while it is
        there, :mod:`shared.notify_due`), then to Redis for the sender. A redelivery queues it again: the
        notification is at least once, as a migration's."""
        if self.notifier is None or not ev.notify_email:
            return
        notice = encode(ev)
        if self.record is not None:
            self.record.notice(ev.migration_id, notice)
            self.record.flush()
        self.notifier.keep_notice(ev.migration_id, notice)
        self.notifier.enqueue(ev.migration_id, PROJECT)
        log.info("project ended", extra={"project_id": ev.migration_id, "state": ev.state})

    def build_notification(self, mid: str, kind: str) -> EmailMessage | None:
        if kind == PROJECT:
            raw = self.notifier.notice(mid) if self.notifier else None
            if raw is None or self.notifier is None:
                return None
            ev = decode_as(raw, ProjectEnded)
            return compose_project(ev.name, ev.state, ev.lines, self.notifier.smtp.sender, ev.notify_email)
        fields = self.status.fields(mid)
        to = fields.get("notify_email")
        if not to or self.notifier is None or (kind in ENDS and told(fields, kind)):
            return None  # nothing to tell, or told already (a job queued again by a rebuilt view)
        return compose(mid, kind, fields, self.status.errors(mid), self.notifier.smtp.sender, to)

    def notified(self, mid: str, kind: str) -> None:
        """The end of ``kind`` was told (or given up): said on the status and flushed to the record, so a view
        rebuilt from the topics does not owe it again (:mod:`shared.notify_due`). A failure here only means
        the notification may be sent again after Redis is lost: logged, never raised."""
        if kind == PROJECT:
            self.notice_told(mid)
            return
        if self.notify_status is None or kind not in ENDS:
            return
        try:
            fields = marker(self.notify_status.fields(mid), kind)
            if fields:
                self.notify_status.set_fields(mid, **fields)
                if self.notify_status.record is not None:
                    self.notify_status.record.flush(timeout=10)
        except Exception as exc:
            log.warning("notification not marked on the record", extra={"migration_id": mid, "error": str(exc)[:200]})

    def notice_told(self, pid: str) -> None:
        """A project's end was told (or given up): its notice is tombstoned on the record, then dropped from
        Redis, so neither a rebuilt view nor a job queued twice sends it again. Logged, never raised."""
        record = self.notify_status.record if self.notify_status is not None else None
        try:
            if record is not None:
                record.notice(pid, None)
                record.flush(timeout=10)
            if self.notifier is not None:
                self.notifier.forget_notice(pid)
        except Exception as exc:
            log.warning("project notice not marked told on the record", extra={"project_id": pid,
                                                                               "error": str(exc)[:200]})

    def refresh_gauges(self, every: float = 5.0) -> None:
        if time.monotonic() - self._last_gauges < every:
            return
        self._last_gauges = time.monotonic()
        for state, n in self.status.count_by_state().items():
            self.metrics.migrations.labels(state).set(n)
        self.metrics.stalled.set(self.stalled())


def stalled_in_redis(r: redis.Redis, after_seconds: float = 900) -> Callable[[], int]:
    """The gauge's count: running migrations without a change for ``after_seconds``."""
    return lambda: sum(1 for _mid, _state, idle in idle_migrations(r, (ms.RUNNING,), time.time())
                       if idle > after_seconds)


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service tracker``."""

    def make(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        tracker = Tracker(StatusStore(ctx.redis, ctx.record), ctx.credentials, ctx.producer,
                          TrackerMetrics(ctx.registry, ctx.metrics), spool=settings.spool,
                          stalled=stalled_in_redis(ctx.redis), record=ctx.record)
        if settings.smtp.host:
            # The notifier's thread writes its marks with a producer of its own (a flush from one thread must
            # not collect another's delivery errors).
            tracker.notify_status = StatusStore(ctx.redis, RecordLog(
                EventProducer(make_producer(settings.kafka_bootstrap), settings.topic_prefix), "notifier"))
            tracker.notifier = Notifier(ctx.redis, settings.smtp, tracker.build_notification,
                                        settled=tracker.notified)
            tracker.notifier.start()
        # Its own producer: a flush from the handler's thread must not collect this thread's delivery errors.
        watch = StallWatch(ctx.redis, EventProducer(make_producer(settings.kafka_bootstrap), settings.topic_prefix),
                           settings.stall_timeout_minutes, stop=stop)
        watch.start()
        return tracker.handle

    run_service(SERVICE, settings, stop, [topics.PROGRESS], make, batch_size=500)
