"""The stall watch on a real Redis and broker, with its clock injected: it ends a migration only after the
configured time without progress, and never counts the time its tracker was not running."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis as redis_lib

from services.tracker.stall import StallWatch
from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.events import Event, MigrationFailed, UndoFinished
from shared.kafka_edge import EventProducer, ensure_topics, make_producer
from shared.redis_view import run_id
from shared.status_store import StatusStore
from shared.topics import TopicSpec
from tests.servers import Process, start_redis

pytestmark = pytest.mark.integration
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()


class Recording(EventProducer):
    def __init__(self, broker: Process) -> None:
        prefix = f"stall{secrets.token_hex(3)}."
        ensure_topics(broker.address, prefix, 1)
        super().__init__(make_producer(broker.address), prefix)
        self.sent: list[tuple[TopicSpec, Event]] = []

    def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        self.sent.append((spec, event))
        super().send(spec, key, event)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[redis_lib.Redis]:
    """Redis of this test alone: the watch looks at every migration in it."""
    proc = start_redis(tmp_path / "redis")
    client = redis_lib.Redis.from_url(proc.address)
    client.set(k.VIEW, run_id(client))  # a whole view: these tests write the store directly
    yield client
    proc.stop()


def migration_in(r: redis_lib.Redis, state: str, last_change: float) -> str:
    mid = secrets.token_urlsafe(16)
    store = StatusStore(r)
    store.create(mid, {"options": '["emails"]'}, "{}", "wrapped")
    path = {ms.RUNNING: [ms.RUNNING], ms.CANCELLING: [ms.RUNNING, ms.CANCELLING],
            ms.UNDOING: [ms.RUNNING, ms.COMPLETED, ms.UNDOING], ms.COMPLETED: [ms.RUNNING, ms.COMPLETED]}[state]
    for step in path:
        assert store.transition(mid, step) is not None
    r.hset(k.migration(mid), "updated_at", datetime.fromtimestamp(last_change, UTC).isoformat(timespec="seconds"))
    return mid


def test_ends_only_what_made_no_progress_for_the_timeout_counted_from_its_own_start(
        own_redis: redis_lib.Redis, broker: Process) -> None:
    now = [T0]
    producer = Recording(broker)
    hour_ago = T0 - 3600  # older than the timeout, but the tracker only starts now: not a stall yet
    mids = {state: migration_in(own_redis, state, hour_ago) for state in (ms.RUNNING, ms.CANCELLING, ms.UNDOING,
                                                                              ms.COMPLETED)}
    watch = StallWatch(own_redis, producer, timeout_minutes=30, clock=lambda: now[0])
    assert watch.sweep() == 0

    now[0] = T0 + 29 * 60
    assert watch.sweep() == 0
    own_redis.hset(k.migration(mids[ms.RUNNING]), "updated_at",  # progress at minute 29
                      datetime.fromtimestamp(now[0], UTC).isoformat(timespec="seconds"))

    now[0] = T0 + 31 * 60
    assert watch.sweep() == 2
    ended = {ev.migration_id: ev for spec, ev in producer.sent if spec is topics.PROGRESS}
    assert set(ended) == {mids[ms.CANCELLING], mids[ms.UNDOING]}
    assert isinstance(ended[mids[ms.CANCELLING]], MigrationFailed)
    assert isinstance(ended[mids[ms.UNDOING]], UndoFinished) and not ended[mids[ms.UNDOING]].ok

    now[0] = T0 + 60 * 60
    producer.sent.clear()
    assert watch.sweep() == 3  # the two not folded yet (no tracker here) are decided again: harmless
    assert {ev.migration_id for _spec, ev in producer.sent} == {mids[ms.RUNNING], mids[ms.CANCELLING],
                                                               mids[ms.UNDOING]}
