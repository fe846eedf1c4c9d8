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
from datetime import datetime

import redis
from confluent_kafka import Message

from services.runtime import ServiceContext, run_service
from services.tracker.metrics import TrackerMetrics
from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.config import Settings
from shared.credentials import CredentialStore
from shared.errors import EventError
from shared.events import (
    Event,
    ItemResults,
    MigrationFailed,
    OperationPlanned,
    OperationStarted,
    UndoRecords,
    decode,
)
from shared.kafka_edge import next_offsets
from shared.status_store import StatusStore

log = logging.getLogger(__name__)
SERVICE = "tracker"


class Tracker:
    def __init__(self, r: redis.Redis[bytes], creds: CredentialStore, metrics: TrackerMetrics) -> None:
        self.r = r
        self.status = StatusStore(r)
        self.creds = creds
        self.metrics = metrics
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
            self.maybe_finish(mid)
        self.refresh_gauges()
        return next_offsets(batch)

    def apply(self, ev: Event) -> None:
        mid = ev.migration_id
        if isinstance(ev, OperationStarted):
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
        elif isinstance(ev, MigrationFailed):
            if self.status.transition(mid, ms.FAILED) is not None:
                self.status.set_fields(mid, error=ev.reason, error_code=ev.code)
                self.finished(mid, ms.FAILED)
        elif isinstance(ev, UndoRecords):
            self.r.rpush(k.undo_index(mid), *[json.dumps(rec.model_dump()) for rec in ev.records])

    def maybe_finish(self, mid: str) -> None:
        fields = self.status.fields(mid)
        if fields.get("state") != ms.RUNNING:
            return
        options = json.loads(fields.get("options", "[]"))
        final = ms.final_state(fields, options)
        if final and self.status.transition(mid, final) is not None:
            self.finished(mid, final)

    def finished(self, mid: str, state: str) -> None:
        """The final state: credentials go, metrics count it."""
        self.creds.delete(mid)
        fields = self.status.fields(mid)
        self.status.set_fields(mid, finished_at=datetime.now().astimezone().isoformat(timespec="seconds"))
        self.metrics.finished.labels(state).inc()
        try:
            started = datetime.fromisoformat(fields["created_at"])
            elapsed = (datetime.now(started.tzinfo) - started).total_seconds()
            self.metrics.duration.labels(state).observe(max(0.0, elapsed))
        except (KeyError, ValueError):
            pass
        log.info("migration ended", extra={"migration_id": mid, "state": state})

    def refresh_gauges(self, every: float = 5.0) -> None:
        if time.monotonic() - self._last_gauges < every:
            return
        self._last_gauges = time.monotonic()
        for state, n in self.status.count_by_state().items():
            self.metrics.migrations.labels(state).set(n)
        self.metrics.stalled.set(self._stalled())

    def _stalled(self, after_seconds: float = 900) -> int:
        now = datetime.now().astimezone()
        n = 0
        for mid in self.r.smembers(k.by_state(ms.RUNNING)):
            updated = self.r.hget(k.migration(mid.decode()), "updated_at")
            if updated and (now - datetime.fromisoformat(updated.decode())).total_seconds() > after_seconds:
                n += 1
        return n


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service tracker``."""

    def make(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        tracker = Tracker(ctx.redis, ctx.credentials, TrackerMetrics(ctx.registry, ctx.metrics))
        return tracker.handle

    run_service(SERVICE, settings, stop, [topics.PROGRESS, topics.UNDO], make, batch_size=500)
