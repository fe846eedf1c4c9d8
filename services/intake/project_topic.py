"""The ``projects`` topic: every project change is recorded there, and intake rebuilds Redis from it at start.

Kafka is the record (as for migrations): the topic is compacted, so its latest record per key is the
project's current part (fields, a row, a slice of refused lines) and a tombstone is a deleted one. At start
intake reads it to the end and puts back every project Redis has lost; one it still has is left as it is.
The project's data key (wrapped under the master key) is on the topic too, as ``dek:<project_id>``, the way a
migration's is on ``migrations.record``: a project restored after Redis lost everything shows its rows, errors
and history and can run again; a deleted project's key is a tombstone, so it never comes back.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from shared import topics
from shared.errors import EventError
from shared.events import ProjectRecord, decode_as
from shared.kafka_edge import EventProducer
from shared.project_store import ProjectStore
from shared.view_rebuild import read_topics

log = logging.getLogger(__name__)
DEK = "dek:"


class TopicLog:
    """:class:`shared.project_store.ProjectLog` on the ``projects`` topic."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer

    def put(self, key: str, record: ProjectRecord) -> None:
        self.producer.send(topics.PROJECTS, key, record)

    def tombstone(self, key: str) -> None:
        self.producer.send_raw(topics.PROJECTS, key, None)

    def data_key(self, pid: str, wrapped: str | None) -> None:
        self.producer.send_raw(topics.PROJECTS, DEK + pid, None if wrapped is None else json.dumps(wrapped).encode())

    def flush(self) -> None:
        self.producer.flush(30)


def read_all(bootstrap: str, prefix: str) -> dict[str, bytes | None]:
    """The latest value of every key on the topic (None: a tombstone), read from the start to its end (the
    end as the fetch reports it, as the Redis view's rebuild reads: the listed watermarks can fall short)."""
    return {key: value for _topic, key, value in read_topics(bootstrap, prefix, [topics.PROJECTS])}


def restore_missing(store: ProjectStore, latest: dict[str, bytes | None]) -> int:
    """Every project the topic holds that Redis does not, put back; returns how many."""
    parts: dict[str, dict[str, Any]] = defaultdict(lambda: {"fields": None, "rows": [], "errors": []})
    keys: dict[str, str] = {}
    for key, value in latest.items():
        if value is None:
            continue
        if key.startswith(DEK):
            keys[key[len(DEK):]] = json.loads(value)
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
        store.restore(pid, part["fields"], part["rows"], part["errors"], keys.get(pid))
        restored += 1
    return restored


def rebuild(store: ProjectStore, bootstrap: str, prefix: str) -> int:
    restored = restore_missing(store, read_all(bootstrap, prefix))
    if restored:
        log.info("projects restored from their topic", extra={"projects": restored})
    return restored
