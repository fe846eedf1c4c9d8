"""Ending what makes no progress: a migration, a cancel or an undo that would otherwise never finish.

A worker that keeps dying on one item, a batch nobody reports, a service that is gone: the
status would stay ``running``, ``cancelling`` or ``undoing`` for ever, and a migration that
never ends can never be undone. So a migration with no change for the configured time
(``MAILFERRY_STALL_TIMEOUT_MINUTES``) is ended: ``failed`` with the reason (it can then be
undone), an undo ``undo_failed`` (it can be asked for again). The decision goes onto the
``progress`` topic like every other transition, so Kafka stays the record and the fold
stays the one place that changes a state; several trackers deciding it twice is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import redis

from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.events import Event, MigrationFailed, UndoFinished
from shared.kafka_edge import EventProducer

log = logging.getLogger(__name__)
# States that end as failed when nothing moves; an undo ends as a failed undo.
WATCHED = (ms.QUEUED, ms.VALIDATING, ms.RUNNING, ms.CANCELLING, ms.UNDOING)
STALLED = "stalled"


def stalled_event(mid: str, state: str, minutes: float) -> Event | None:
    """Pure: what ends a migration found without progress in ``state`` for ``minutes``."""
    if state not in WATCHED:
        return None
    why = f"no progress for {minutes:g} minutes (MAILFERRY_STALL_TIMEOUT_MINUTES)"
    if state == ms.UNDOING:
        return UndoFinished(migration_id=mid, ok=False, removed_messages=0, removed_folders=0, restored_settings=0,
                            kept=[], reason=f"the undo made {why}; it was stopped and can be asked for again")
    if state == ms.CANCELLING:
        reason = f"the cancel did not finish: {why}; what was copied can be undone"
    elif state == ms.RUNNING:
        reason = f"the migration made {why}; it was stopped, and what was copied can be undone"
    else:
        reason = f"the migration did not start: {why}"
    return MigrationFailed(migration_id=mid, code=STALLED, reason=reason)


def idle_migrations(r: redis.Redis, states: tuple[str, ...], now: float,
                    not_before: float = 0.0) -> list[tuple[str, str, float]]:
    """(migration id, state, seconds without a change, counted from ``not_before`` at the earliest) for
    every migration in ``states``."""
    out = []
    for state in states:
        for raw in r.smembers(k.by_state(state)):
            mid = _text(raw)
            updated = r.hget(k.migration(mid), "updated_at")
            try:
                since = datetime.fromisoformat(_text(updated)).timestamp() if updated else not_before
            except ValueError:
                since = not_before
            out.append((mid, state, now - max(since, not_before)))
    return out


class StallWatch:
    """Finds migrations without progress and ends them, from its own thread with its own producer.

    A migration's idle time counts from its last change, but not from before this watch started:
    a tracker that was down did not fold the progress waiting for it, which is not a stall.
    """

    def __init__(self, r: redis.Redis, producer: EventProducer, timeout_minutes: float,
                 clock: Callable[[], float] = time.time, stop: threading.Event | None = None) -> None:
        self.r = r
        self.producer = producer
        self.timeout_minutes = timeout_minutes
        self.clock = clock
        self.started = clock()
        self.stop = stop or threading.Event()

    def idle(self) -> list[tuple[str, str, float]]:
        return idle_migrations(self.r, WATCHED, self.clock(), self.started)

    def sweep(self) -> int:
        """End every migration idle for longer than the timeout; returns how many were ended."""
        limit = self.timeout_minutes * 60
        ended = 0
        for mid, state, seconds in self.idle():
            if seconds <= limit:
                continue
            ev = stalled_event(mid, state, self.timeout_minutes)
            if ev is not None:
                self.producer.send(topics.PROGRESS, mid, ev)
                log.warning("no progress: ended", extra={"migration_id": mid, "state": state,
                                                         "idle_seconds": int(seconds)})
                ended += 1
        if ended:
            self.producer.flush()
        return ended

    def interval(self) -> float:
        """How often to look: a tenth of the timeout, between one second and a minute."""
        return min(60.0, max(1.0, self.timeout_minutes * 6))

    def loop(self) -> None:
        while not self.stop.wait(self.interval()):
            try:
                self.sweep()
            except Exception as exc:  # Redis or the broker away: look again next time
                log.warning("stall check failed", extra={"error": str(exc)[:300]})

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.loop, name="stall-watch", daemon=True)
        thread.start()
        return thread


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
