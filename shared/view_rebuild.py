"""Rebuilding Redis from the topics: Kafka is the record, Redis a view of it.

Every service calls :meth:`ViewGuard.ensure` before it acts (the workers per batch, intake before
each read of a status). When the view's mark is missing (Redis flushed, or restarted empty) or names
another Redis run (restarted from a file that may be behind), one process takes the rebuild lock and
reads, from their beginning to their current end, ``migrations.record`` (specs, data keys, status
snapshots, one result per item), ``ledger`` (entries, in-flight marks, tombstones) and ``undo`` (the
undo records), writes the view, and sets the mark; the others wait for the mark. Readers refuse to
answer meanwhile (:class:`shared.redis_view.ViewRebuilding`), so nothing acts on a half view.

What the view gets (:func:`apply_view`): the status fields of the newest snapshot with the counters
recounted from the results (so a result is never counted twice nor lost, whichever snapshot made it
to the topic), the history, the results, the report and first errors, the state sets, the spec, the
data key only while the migration has not ended, the ledger merged with what is there (a live writer
may have written newer entries) and the undo index. Each rebuild is logged and measured
(``mailferry_rebuild_seconds``, ``mailferry_rebuild_records``).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Histogram

from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.errors import EventError
from shared.events import ProjectEnded, UndoRecords, decode_as
from shared.ledger import INFLIGHT, RULES_BEFORE, split_record
from shared.migration_records import NOTICE, RecordState, read_record
from shared.notify_due import PROJECT, PROJECT_NOTICE_SECONDS, notice_owed, notify_job, owed
from shared.redis_view import ViewRebuilding, run_id, view_is_current

log = logging.getLogger(__name__)

ERRORS_KEPT = 100  # as the status store keeps them
PIPELINE_COMMANDS = 5000
LOCK_SECONDS = 600


@dataclass
class TopicView:
    """What the topics say, folded (pure): the input of :func:`apply_view`."""

    migrations: dict[str, RecordState] = field(default_factory=dict)
    ledgers: dict[str, dict[str, bytes | None]] = field(default_factory=dict)  # pair → item key → value
    undo: dict[str, list[str]] = field(default_factory=dict)  # mid → undo records (JSON) in order
    notices: dict[str, bytes | None] = field(default_factory=dict)  # project → its end notice while owed
    rules_before: dict[str, dict[str, bytes | None]] = field(default_factory=dict)  # pair → rule key → snapshot
    records: int = 0

    def add(self, topic: str, key: str, value: bytes | None) -> None:
        self.records += 1
        if topic == topics.MIGRATIONS_RECORD.name and key.startswith(NOTICE):
            self.notices[key[len(NOTICE):]] = value
        elif topic == topics.MIGRATIONS_RECORD.name:
            read_record(self.migrations, key, value)
        elif topic == topics.LEDGER.name:
            pair, item_key = split_record(key)
            if item_key.startswith(RULES_BEFORE):
                self.rules_before.setdefault(pair, {})[item_key[len(RULES_BEFORE):]] = value
            else:
                self.ledgers.setdefault(pair, {})[item_key] = value
        elif topic == topics.UNDO.name and value is not None:
            ev = decode_as(value, UndoRecords)
            self.undo.setdefault(ev.migration_id, []).extend(r.model_dump_json() for r in ev.records)


def read_topics(bootstrap: str, prefix: str, specs: Sequence[topics.TopicSpec],
                timeout: float = 30.0) -> Iterator[tuple[str, str, bytes | None]]:
    """Every record of ``specs`` from the beginning to their end, as (logical topic, key, value).

    A partition is read when the consumer reports its end (partition EOF) at or past the high watermark
    it had when the read began: the fetch's own watermark decides, not only the listed offsets (which
    some brokers report short of the last batch)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"mailferry-rebuild-{secrets.token_hex(4)}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 8_388_608})
    try:
        names = {s.full_name(prefix): s.name for s in specs}
        meta = consumer.list_topics(timeout=timeout).topics
        ends: dict[tuple[str, int], int] = {}
        for full in names:
            for p in (meta[full].partitions if full in meta else {}):
                ends[(full, p)] = consumer.get_watermark_offsets(TopicPartition(full, p), timeout=timeout)[1]
        if not ends:
            return
        consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
        deadline = time.monotonic() + max(timeout, 300.0)
        while ends:
            if time.monotonic() > deadline:
                raise ViewRebuilding(f"the topics could not be read to their end: {sorted(ends)[:3]}")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                where = (str(msg.topic()), int(msg.partition() or 0))
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF and int(msg.offset() or 0) >= ends.get(where, 0):
                        ends.pop(where, None)
                    continue
                yield names[where[0]], (msg.key() or b"").decode(), msg.value()
    finally:
        consumer.close()


def _recount(fields: dict[str, str], results: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The status fields with every counter taken from the results (each item once)."""
    out = {name: value for name, value in fields.items() if not name.startswith(("done:", "failed:", "skipped:",
                                                                                    "bytes:"))}
    for res in results.values():
        name = f"{res['r']}:{res['t']}"
        out[name] = str(int(out.get(name, "0")) + 1)
        if int(res.get("b", 0)) > 0:
            out[f"bytes:{res['t']}"] = str(int(out.get(f"bytes:{res['t']}", "0")) + int(res["b"]))
    return out


class _Batch:
    """A pipeline sent every few thousand commands (a view of millions of keys never sits in memory twice)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self.n = 0

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            getattr(self.pipe, name)(*args, **kwargs)
            self.n += 1
            if self.n >= PIPELINE_COMMANDS:
                self.send()
        return call

    def send(self) -> None:
        if self.n:
            self.pipe.execute()
        self.pipe = self.client.pipeline(transaction=False)
        self.n = 0


def apply_view(client: redis.Redis, view: TopicView, now: float | None = None) -> None:
    """Write the view (see the module's doc). Keys of a migration are replaced; ledgers are merged; every
    end whose notification is owed (:func:`shared.notify_due.owed`, a project's notice still on the record)
    is queued again."""
    now = time.time() if now is None else now
    b = _Batch(client)
    for state in ms.STATES:
        b.delete(k.by_state(state))
    for mid, st in view.migrations.items():
        if st.fields is None:
            continue
        results = st.results or {}
        fields = _recount(st.fields, results)
        b.delete(k.migration(mid), k.history(mid), k.results(mid), k.report(mid), k.errors(mid), k.data_key(mid))
        b.hset(k.migration(mid), mapping=fields)
        if st.history:
            b.rpush(k.history(mid), *[json.dumps(h) for h in st.history])
        if results:
            b.hset(k.results(mid), mapping={key: r["r"] for key, r in results.items()})
        lines = sorted((r for r in results.values() if r.get("line")), key=lambda r: int(r.get("seq", 0)))
        if lines:
            b.rpush(k.report(mid), *[r["line"] for r in lines])
            failed = [r["line"] for r in lines if r["r"] == "failed"][:ERRORS_KEPT]
            if failed:
                b.rpush(k.errors(mid), *failed)
        state = fields.get("state", "")
        b.sadd(k.by_state(state), mid)
        if st.spec is not None:
            b.set(k.spec(mid), st.spec)
        if st.dek is not None and state not in ms.FINAL:
            b.set(k.data_key(mid), st.dek)  # an ended migration's key never comes back
        for kind in owed(fields, now):  # a sender drops it if it was told meanwhile
            b.rpush(k.NOTIFY_READY, notify_job(mid, kind))
    for pair, entries in view.ledgers.items():
        done = {key: v for key, v in entries.items() if v is not None and v != INFLIGHT}
        marks = [key for key, v in entries.items() if v == INFLIGHT]
        gone = [key for key, v in entries.items() if v is None]
        if done:
            b.hset(k.ledger(pair), mapping=done)
            b.srem(k.inflight(pair), *done)
        if marks:
            b.sadd(k.inflight(pair), *marks)
        if gone:
            b.hdel(k.ledger(pair), *gone)
            b.srem(k.inflight(pair), *gone)
    for pair, snaps in view.rules_before.items():
        for key, value in snaps.items():  # merged: the first snapshot of a key wins, as when it was taken
            if value is None:
                b.hdel(k.rules_before(pair), key)
            else:
                b.hsetnx(k.rules_before(pair), key, value)
    for mid, records in view.undo.items():
        b.delete(k.undo_index(mid))
        b.rpush(k.undo_index(mid), *records)
    for pid, notice in view.notices.items():
        if notice is not None and _notice_owed(pid, notice, now):
            b.set(k.project_notice(pid), notice, ex=PROJECT_NOTICE_SECONDS)
            b.rpush(k.NOTIFY_READY, notify_job(pid, PROJECT))
    b.send()


def _notice_owed(pid: str, notice: bytes, now: float) -> bool:
    try:
        return notice_owed(decode_as(notice, ProjectEnded).occurred_at, now)
    except EventError as exc:
        log.warning("a project's end notice on the record cannot be read; left out",
                    extra={"project_id": pid, "error": str(exc)})
        return False


class ViewGuard:
    """Rebuilds the Redis view from the topics when it is not whole, once per process at a time."""

    def __init__(self, client: redis.Redis, bootstrap: str, prefix: str, service: str,
                 registry: CollectorRegistry | None = None, wait_seconds: float = 300.0) -> None:
        self.r = client
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.service = service
        self.wait_seconds = wait_seconds
        registry = registry if registry is not None else CollectorRegistry()
        self.seconds = Histogram("mailferry_rebuild_seconds", "Time to rebuild the Redis view from the topics",
                                 ["service"], registry=registry,
                                 buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
        self.records = Counter("mailferry_rebuild_records", "Records read from the topics to rebuild the Redis view",
                               ["service"], registry=registry)

    def ensure(self) -> None:
        """Return once the view is whole; rebuild it first if needed (or wait for whoever does)."""
        if view_is_current(self.r):
            return
        deadline = time.monotonic() + self.wait_seconds
        token = secrets.token_hex(8)
        while not self.r.set(k.REBUILD_LOCK, token, nx=True, ex=LOCK_SECONDS):
            if view_is_current(self.r):
                return
            if time.monotonic() > deadline:
                raise ViewRebuilding("another process is still rebuilding the Redis view")
            time.sleep(0.1)
        try:
            if not view_is_current(self.r):
                self.rebuild()
        finally:
            if self.r.get(k.REBUILD_LOCK) == token.encode():
                self.r.delete(k.REBUILD_LOCK)

    def rebuild(self) -> TopicView:
        """Read the topics, write the view, set the mark (the caller holds the lock)."""
        t0 = time.perf_counter()
        self.r.delete(k.VIEW)  # a view that was merely behind is not trusted while it is rewritten
        rid = run_id(self.r)
        log.warning("Redis view missing or behind: rebuilding it from the topics", extra={"service": self.service})
        view = TopicView()
        specs = [t for t in topics.TOPICS if t.rebuilds]
        for topic, key, value in read_topics(self.bootstrap, self.prefix, specs):
            view.add(topic, key, value)
        apply_view(self.r, view)
        self.r.set(k.VIEW, rid)
        elapsed = time.perf_counter() - t0
        self.seconds.labels(self.service).observe(elapsed)
        self.records.labels(self.service).inc(view.records)
        log.warning("Redis view rebuilt from the topics", extra={
            "service": self.service, "records": view.records, "migrations": len(view.migrations),
            "pairs": len(view.ledgers), "seconds": round(elapsed, 3)})
        return view
