"""The ``projects`` topic: every project change is recorded there, and intake rebuilds Redis from it at start.

Kafka is the record (as for migrations): the topic is compacted, so its latest record per key is the
project's current part (fields, a row, a slice of refused lines) and a tombstone is a deleted one. At start
intake reads it to the end and puts back every project Redis has lost; one it still has is left as it is.
The project's data key is not on the topic (deliberately, as a migration's): a project restored after Redis
lost everything shows its rows, errors and history, but its credentials are gone and it cannot run again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from shared import topics
from shared.errors import EventError
from shared.events import ProjectRecord, decode_as
from shared.kafka_edge import EventProducer
from shared.project_store import ProjectStore

log = logging.getLogger(__name__)
GROUP = "mailferry-intake"


class TopicLog:
    """:class:`shared.project_store.ProjectLog` on the ``projects`` topic."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer

    def put(self, key: str, record: ProjectRecord) -> None:
        self.producer.send(topics.PROJECTS, key, record)

    def tombstone(self, key: str) -> None:
        self.producer.send_raw(topics.PROJECTS, key, None)

    def flush(self) -> None:
        self.producer.flush(30)


def read_all(bootstrap: str, prefix: str, timeout: float = 60.0) -> dict[str, bytes | None]:
    """The latest value of every key on the topic (None: a tombstone), read from the start to the end."""
    topic = topics.PROJECTS.full_name(prefix)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    latest: dict[str, bytes | None] = {}
    try:
        found = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if found is None or found.error is not None:
            return latest
        ends: dict[int, int] = {}
        starts = []
        for p in found.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                starts.append(TopicPartition(topic, p, low))
        consumer.assign(starts)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                key, offset, partition = msg.key(), msg.offset(), msg.partition()
                if msg.error() is not None or key is None or offset is None or partition is None:
                    continue
                latest[key.decode() if isinstance(key, bytes) else str(key)] = msg.value()
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
        if ends:
            log.warning("the projects topic was not read to its end", extra={"partitions": len(ends)})
    finally:
        consumer.close()
    return latest


def restore_missing(store: ProjectStore, latest: dict[str, bytes | None]) -> int:
    """Every project the topic holds that Redis does not, put back; returns how many."""
    parts: dict[str, dict[str, Any]] = defaultdict(lambda: {"fields": None, "rows": [], "errors": []})
    for key, value in latest.items():
        if value is None:
            continue
        try:
            record = decode_as(value, ProjectRecord)
        except EventError as exc:
            log.warning("a project record cannot be read; left out", extra={"error": str(exc)})
            continue
        part = parts[record.migration_id]
        if record.part == "project":
            part["fields"] = record.fields
        elif record.part == "row":
            part["rows"].append(record.row)
        else:
            part["errors"].append((int(key.rsplit("/", 1)[-1]), record.errors))
    restored = 0
    for pid, part in parts.items():
        if part["fields"] is None or store.exists(pid):  # deleted (tombstone), or still in Redis
            continue
        store.restore(pid, part["fields"], part["rows"], part["errors"])
        restored += 1
    return restored


def rebuild(store: ProjectStore, bootstrap: str, prefix: str) -> int:
    restored = restore_missing(store, read_all(bootstrap, prefix))
    if restored:
        log.info("projects restored from their topic", extra={"projects": restored})
    return restored
