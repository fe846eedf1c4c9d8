"""The Kafka edge (confluent-kafka): topic creation, one producer setup, a batch consumer.

Every service uses these so that producer settings (idempotence, compression,
batching) and the commit discipline (commit only after the work and its records
are durable) are the same everywhere. Nothing here depends on a particular broker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from shared.edges import Delivered
from shared.events import Event, encode
from shared.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


def topic_name(spec: TopicSpec, prefix: str) -> str:
    return spec.full_name(prefix)


def ensure_topics(bootstrap: str, prefix: str, partitions: int, timeout: float = 30.0,
                  specs: Sequence[TopicSpec] = TOPICS) -> None:
    """Create every registered topic that does not exist yet (safe to call from every service)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            t.full_name(prefix),
            num_partitions=partitions,
            replication_factor=-1,
            config={
                "retention.ms": str(t.retention_ms),
                "max.message.bytes": str(t.max_message_bytes),
                "cleanup.policy": t.cleanup_policy,
            },
        )
        for t in specs
        if t.full_name(prefix) not in existing
    ]
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic", extra={"topic": name})
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def make_producer(bootstrap: str, **overrides: Any) -> Producer:
    """Idempotent, acks=all, batched and compressed: mail compresses well and travels in bulk."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 10,
        "batch.size": 1_000_000,
        "message.max.bytes": 4_000_000,
        "queue.buffering.max.kbytes": 262_144,
    }
    conf.update(overrides)
    return Producer(conf)


class DeliveryFailed(RuntimeError):
    """The broker did not take a record; the caller must not commit its input."""


class EventProducer:
    """Produces events and knows, after :meth:`flush`, whether all of them were stored."""

    def __init__(self, producer: Producer, prefix: str) -> None:
        self._producer = producer
        self._prefix = prefix
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self.bytes_sent = 0

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            with self._lock:
                self._errors.append(str(err))

    def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        self.send_raw(spec, key, encode(event))

    def send_raw(self, spec: TopicSpec, key: str, value: bytes | None) -> None:
        """``None`` is a tombstone: a compacted topic forgets the key."""
        topic = spec.full_name(self._prefix)
        self.bytes_sent += len(value or b"")
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value, on_delivery=self._on_delivery)
                break
            except BufferError:
                # Local queue full: let the background thread drain it, then try again.
                self._producer.poll(0.5)
        self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every record so far is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout)
        with self._lock:
            errors, self._errors = self._errors, []
        if remaining or errors:
            raise DeliveryFailed(f"{remaining} records unsent, errors: {errors[:3]}")


POLL_STEP = 50  # messages taken from the local queue at a time while a batch fills


class BatchConsumer:
    """A consumer that hands out batches and commits exactly the offsets it is told.

    Auto-commit is off: the caller commits after its writes and their records are
    durable, so a crash re-delivers instead of losing.
    """

    def __init__(self, bootstrap: str, group: str, topics: Sequence[str], **overrides: Any) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 15_000,
            "heartbeat.interval.ms": 1_000,
            "max.poll.interval.ms": 900_000,
            "fetch.max.bytes": 16_000_000,
            "max.partition.fetch.bytes": 4_000_000,
            # How long the broker may hold a fetch when it has nothing new. Kafka answers at once when
            # data arrives; a broker that waits out the whole time would add it to every hop.
            "fetch.wait.max.ms": 100,
            # When the local queue is full (queued.min.messages or queued.max.messages.kbytes), librdkafka
            # stops fetching a partition for this long, 1 s by default. A loader that had just caught up
            # after a burst then sat idle while records waited on the broker (0.5 s of a 3 s copy).
            "fetch.queue.backoff.ms": 20,
        }
        conf.update(overrides)
        self._consumer = Consumer(conf)
        self._assigned: set[tuple[str, int]] = set()
        self._on_revoke: list[Callable[[list[tuple[str, int]]], None]] = []
        self._consumer.subscribe(list(topics), on_assign=self._assign, on_revoke=self._revoke,
                                 on_lost=self._revoke)

    def on_revoke(self, callback: Callable[[list[tuple[str, int]]], None]) -> None:
        self._on_revoke.append(callback)

    def _assign(self, _c: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned.update((p.topic, p.partition) for p in partitions)

    def _revoke(self, _c: Consumer, partitions: list[TopicPartition]) -> None:
        gone = [(p.topic, p.partition) for p in partitions]
        for cb in self._on_revoke:
            cb(gone)
        self._assigned.difference_update(gone)

    @property
    def assigned(self) -> bool:
        return bool(self._assigned)

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0,
                   max_bytes: int = 0) -> list[Message]:
        """Up to ``max_messages`` (and about ``max_bytes`` of values, if given): waits up to
        ``timeout`` for the first, then at most ``linger`` more for the batch to fill
        (librdkafka alone would wait the whole timeout for a full batch)."""
        got = self._consumer.consume(1, timeout)
        size = sum(len(m.value() or b"") for m in got)
        deadline = time.monotonic() + linger
        while got and len(got) < max_messages and not (max_bytes and size >= max_bytes):
            want = min(POLL_STEP, max_messages - len(got))
            more = self._consumer.consume(want, max(0.0, deadline - time.monotonic()))
            got += more
            size += sum(len(m.value() or b"") for m in more)
            if len(more) < want:
                break
        out = []
        for msg in got:
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", extra={"error": str(err)})
        return out

    def commit(self, offsets: Iterable[tuple[str, int, int]]) -> None:
        """Commit ``(topic, partition, next_offset)`` synchronously."""
        tps = [TopicPartition(t, p, o) for t, p, o in offsets]
        if tps:
            self._consumer.commit(offsets=tps, asynchronous=False)

    def lag(self) -> dict[str, int]:
        """Messages not yet consumed, per topic, over the assigned partitions.

        Local figures only (the consumer's position and the high watermark it
        learnt from its last fetch): asking the broker here would block the
        worker's loop for seconds. KEDA reads the group's committed lag itself.
        """
        parts = [TopicPartition(t, p) for t, p in self._assigned]
        if not parts:
            return {}
        lag: dict[str, int] = {}
        try:
            for tp in self._consumer.position(parts):
                low, high = self._consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
                if high < 0:
                    continue
                done = tp.offset if tp.offset >= 0 else low
                lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - done)
        except KafkaException as exc:
            log.debug("lag unavailable", extra={"error": str(exc)})
        return lag

    def close(self) -> None:
        self._consumer.close()


def position(msg: Delivered) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message (never None for one without error)."""
    return str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)


def next_offsets(messages: Iterable[Delivered]) -> list[tuple[str, int, int]]:
    """The offsets to commit after handling these messages: last offset + 1 per partition."""
    top: dict[tuple[str, int], int] = {}
    for m in messages:
        t, p, o = position(m)
        top[(t, p)] = max(top.get((t, p), -1), o)
    return [(t, p, o + 1) for (t, p), o in top.items()]
