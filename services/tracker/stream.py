"""The tracker as a faust-streaming app: one agent folds ``progress`` into tables recovered from changelogs.

The agent runs with concurrency 1 and at-least-once delivery (the known trap: with ``concurrency > 1``
faust has committed offsets past events still in flight, faust issue #606; its exactly-once mode has
open duplicate reports). It takes one event at a time, so every table write lands in the changelog
partition of the event that caused it, and hands it to :class:`services.tracker.service.Tracker`, whose
fold is the pure one (:mod:`services.tracker.fold`) and whose status keeper is the tables
(:class:`services.tracker.table_status.TableStatus`). A failing event is retried with back-off (Redis or
the broker away) and never skipped: faust commits an event's offset only after the agent moved past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import faust

from shared import topics
from shared.config import Settings
from shared.worker_loop import retryable

log = logging.getLogger(__name__)

STATUS_TABLE = "status"
RESULTS_TABLE = "results"


class Received:
    """A faust event as the tracker's handler takes it (:class:`shared.edges.Delivered`)."""

    def __init__(self, event: Any) -> None:
        self._event = event

    def value(self) -> bytes | None:
        value = self._event.value
        return value if isinstance(value, bytes) else None

    def key(self) -> bytes | None:
        key = self._event.key
        return key if isinstance(key, bytes) else None

    def topic(self) -> str | None:
        return str(self._event.message.topic)

    def partition(self) -> int | None:
        return int(self._event.message.partition)

    def offset(self) -> int | None:
        return int(self._event.message.offset)


def app_id(settings: Settings) -> str:
    """The consumer group and the changelog topics' prefix (the same group name the tracker always had)."""
    return f"{settings.topic_prefix}mailferry-tracker"


def make_app(settings: Settings) -> faust.App:
    return faust.App(
        app_id(settings),
        broker=[f"kafka://{host}" for host in settings.kafka_bootstrap.split(",")],
        store="memory://",  # the tables are rebuilt from their changelogs at start: no local state to lose
        topic_partitions=settings.topic_partitions,
        # Only faust's own leader-election topic is created by faust (the changelogs are in the registry and
        # exist before it starts): replicated in a production-sized cluster, single on a local broker.
        topic_replication_factor=1 if settings.topic_partitions < 12 else 3,
        producer_acks=-1,
        web_enabled=False,
        broker_session_timeout=10.0,  # a SIGKILLed tracker's partitions are given to the next one sooner
        broker_heartbeat_interval=3.0,
        stream_wait_empty=False,
        logging_config=None,
    )


def tables(app: faust.App, settings: Settings) -> tuple[Any, Any]:
    """The status per migration and the result per ``<mid>|<item_key>``, co-partitioned with ``progress``."""
    statuses = app.Table(STATUS_TABLE, default=None, partitions=settings.topic_partitions)
    results = app.Table(RESULTS_TABLE, default=None, partitions=settings.topic_partitions)
    return statuses, results


def fold_agent(app: faust.App, settings: Settings, handle: Callable[[list[Received]], object],
               before: Callable[[], None] = lambda: None, max_backoff: float = 30.0) -> None:
    """``before`` (a rebuild of the Redis view) runs in a thread: faust's event loop must not stall on it
    (a stalled loop during a rebalance has left the agent waiting for good here)."""
    progress = app.topic(topics.PROGRESS.full_name(settings.topic_prefix), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    @app.agent(progress, concurrency=1)
    async def fold_progress(stream: Any) -> AsyncIterator[None]:
        async for event in stream.events():
            backoff = 0.5
            while True:
                try:
                    await asyncio.get_running_loop().run_in_executor(None, before)
                    handle([Received(event)])
                    break
                except Exception as exc:
                    log.warning("progress event failed, will retry", extra={"error": str(exc)[:500],
                                                                            "retryable": retryable(exc)})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, max_backoff)
            yield None
