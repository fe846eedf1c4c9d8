"""The tracker: folds progress events into the status view and decides when a migration ends.

Consumes ``progress`` and ``undo``. Every fold is idempotent (item results are
counted once per item key; states only move along the allowed transitions), so
a redelivered batch changes nothing. At a final state it deletes the migration's
data key, which makes its sealed credentials unreadable everywhere.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import redis
from confluent_kafka import Message

from services.runtime import ServiceContext, run_service
from services.tracker.metrics import TrackerMetrics
from services.tracker.notify import Notifier, compose
from services.tracker.stall import StallWatch, idle_migrations
from shared import migration_state as ms
from shared import topics
from shared.config import Settings
from shared.credentials import CredentialStore
from shared.errors import EventError
from shared.events import (
    Event,
    ItemResults,
    MigrationFailed,
    MigrationValidating,
    OperationPlanned,
    OperationRequested,
    OperationSkipped,
    OperationStarted,
    UndoFinished,
    UndoProgress,
    decode,
)
from shared.kafka_edge import EventProducer, make_producer, next_offsets
from shared.spool import PstUnavailable, spool_file
from shared.status_store import StatusStore

log = logging.getLogger(__name__)
SERVICE = "tracker"


class Tracker:
    def __init__(self, r: redis.Redis, creds: CredentialStore, producer: EventProducer,
                 metrics: TrackerMetrics, notifier: Notifier | None = None, spool: Path | None = None) -> None:
        self.r = r
        self.spool = spool
        self.status = StatusStore(r)
        self.creds = creds
        self.producer = producer
        self.metrics = metrics
        self.notifier = notifier
        self._last_gauges = 0.0

    def handle(self, batch: list[Message]) -> list[tuple[str, int, int]]:
        touched: set[str] = set()
        for msg in batch:
            try:
                ev = decode(msg.value())
            except EventError as exc:
                self.metrics.base.dead_letter(exc.code)
                log.warning("undecodable event skipped", extra={"error": str(exc), "topic": msg.topic()})
                continue
            if self.status.exists(ev.migration_id):
                self.apply(ev)
                touched.add(ev.migration_id)
        for mid in touched:
            self.advance(mid)
        self.producer.flush()
        self.refresh_gauges()
        return next_offsets(batch)

    def apply(self, ev: Event) -> None:
        """Fold one event into the status; each branch is idempotent."""
        mid = ev.migration_id
        if isinstance(ev, MigrationValidating):
            self.status.transition(mid, ms.VALIDATING)
        elif isinstance(ev, OperationStarted):
            self.status.transition(mid, ms.RUNNING)
            self.status.set_fields(mid, current_operation=ev.operation)
        elif isinstance(ev, OperationPlanned):
            types = ms.OPERATION_ITEM_TYPES[ev.operation]
            fields = {f"planned:{ev.operation}": "1", f"total:{types[0]}": str(ev.total)}
            if "folder" in types:
                fields["total:folder"] = str(ev.folders)
            self.status.set_fields(mid, **fields)
        elif isinstance(ev, ItemResults):
            self.status.apply_results(mid, ev.results)
        elif isinstance(ev, OperationSkipped):
            if self.status.transition(mid, ms.CANCELLED) is not None:
                self.finished(mid, ms.CANCELLED)
        elif isinstance(ev, MigrationFailed):
            if self.status.transition(mid, ms.FAILED) is not None:
                self.status.set_fields(mid, error=ev.reason, error_code=ev.code)
                self.finished(mid, ms.FAILED)
        elif isinstance(ev, UndoProgress):
            self.status.set_fields(mid, undo_done=str(ev.done), undo_total=str(ev.total), undo_kept=str(ev.kept))
        elif isinstance(ev, UndoFinished):
            self.undo_finished(ev)

    def advance(self, mid: str) -> None:
        """After a batch: end the migration, or start its next operation, when the current one is done."""
        fields = self.status.fields(mid)
        if fields.get("state") not in (ms.RUNNING, ms.CANCELLING):
            return
        options = json.loads(fields.get("options", "[]"))
        final, nxt = ms.after_operation(fields, options)
        if final and self.status.transition(mid, final) is not None:
            self.finished(mid, final)
        elif nxt and fields.get(f"requested:{nxt}") != "1":
            self.status.set_fields(mid, **{f"requested:{nxt}": "1"})
            self.producer.send(topics.MIGRATIONS_REQUESTED, mid, OperationRequested(migration_id=mid, operation=nxt))

    def finished(self, mid: str, state: str) -> None:
        """The final state: credentials go, metrics count it, the user is told."""
        self.creds.delete(mid)
        fields = self.status.fields(mid)
        self.remove_spool_file(mid, fields.get("spool_file", ""))
        self.status.set_fields(mid, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        self.metrics.finished.labels(state).inc()
        try:
            started = datetime.fromisoformat(fields["created_at"])
            elapsed = (datetime.now(started.tzinfo) - started).total_seconds()
            self.metrics.duration.labels(state).observe(max(0.0, elapsed))
        except (KeyError, ValueError):
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

    def undo_finished(self, ev: UndoFinished) -> None:
        mid = ev.migration_id
        state = ms.UNDONE if ev.ok else ms.UNDO_FAILED
        if self.status.transition(mid, state) is None:
            return
        self.creds.delete(mid)
        self.status.set_fields(mid, undo_finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                               undo_removed_messages=str(ev.removed_messages),
                               undo_removed_folders=str(ev.removed_folders),
                               undo_restored_settings=str(ev.restored_settings),
                               undo_kept_reasons=json.dumps(ev.kept[:50]), undo_error=ev.reason)
        self.metrics.undo.labels("undone" if ev.ok else "failed").inc()
        if self.notifier and self.status.fields(mid).get("notify_email"):
            self.notifier.enqueue(mid, "undo")
        log.info("undo ended", extra={"migration_id": mid, "state": state})

    def build_notification(self, mid: str, kind: str) -> EmailMessage | None:
        fields = self.status.fields(mid)
        to = fields.get("notify_email")
        if not to or self.notifier is None:
            return None
        return compose(mid, kind, fields, self.status.errors(mid), self.notifier.smtp.sender, to)

    def refresh_gauges(self, every: float = 5.0) -> None:
        if time.monotonic() - self._last_gauges < every:
            return
        self._last_gauges = time.monotonic()
        for state, n in self.status.count_by_state().items():
            self.metrics.migrations.labels(state).set(n)
        self.metrics.stalled.set(self._stalled())

    def _stalled(self, after_seconds: float = 900) -> int:
        return sum(1 for _mid, _state, idle in idle_migrations(self.r, (ms.RUNNING,), time.time())
                   if idle > after_seconds)


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service tracker``."""

    def make(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        tracker = Tracker(ctx.redis, ctx.credentials, ctx.producer, TrackerMetrics(ctx.registry, ctx.metrics),
                          spool=settings.spool)
        if settings.smtp.host:
            tracker.notifier = Notifier(ctx.redis, settings.smtp, tracker.build_notification)
            tracker.notifier.start()
        # Its own producer: a flush from the handler's thread must not collect this thread's delivery errors.
        watch = StallWatch(ctx.redis, EventProducer(make_producer(settings.kafka_bootstrap), settings.topic_prefix),
                           settings.stall_timeout_minutes, stop=stop)
        watch.start()
        return tracker.handle

    run_service(SERVICE, settings, stop, [topics.PROGRESS], make, batch_size=500)
