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

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from shared.edges import Delivered
from shared.events import Event, encode
from shared.topics import TOPICS, TopicSpec

log = logging.getLogger(__name__)


def topic_name(spec: TopicSpec, prefix: str) -> str:
    return spec.full_name(prefix)


WAITED = 0.002  # a first record that took longer than this to come was not already waiting in the client


def batch_linger(waited: float, linger: float) -> float:
    """How long a batch waits to fill after its first record. A record that was already waiting means a flow
    is under way: wait ``linger`` for more. A record the consumer had to wait for starts a flow (a migration's
    first folder events, a lone control record): its batch goes at once, with whatever else already came, as
    lingering would only delay the flow's first step (the loader's target login and CREATEs) by ``linger``."""
    return linger if waited <= WAITED else 0.0


class TopicMismatch(RuntimeError):
    """A registered topic exists with settings other than the configured ones: the service refuses to start."""


def partition_mismatches(existing: dict[str, int], prefix: str, partitions: int,
                         specs: Sequence[TopicSpec] = TOPICS) -> list[str]:
    """One sentence per registered topic whose partition count differs from ``partitions``."""
    return [f"topic {name} has {existing[name]} partitions, the configuration says {partitions} "
            "(MAILFERRY_TOPIC_PARTITIONS); it was created with other settings, perhaps auto-created by the "
            "broker: recreate it or change the setting"
            for name in (t.full_name(prefix) for t in specs)
            if name in existing and existing[name] != partitions]


def ensure_topics(bootstrap: str, prefix: str, partitions: int, timeout: float = 30.0,
                  specs: Sequence[TopicSpec] = TOPICS) -> list[str]:
    """Create every registered topic that does not exist yet (safe to call from every service); raise
    :class:`TopicMismatch` if one exists with another partition count (keys would land elsewhere).
    Returns the topics it created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    found = admin.list_topics(timeout=timeout).topics
    existing = set(found)
    wrong = partition_mismatches({n: len(m.partitions) for n, m in found.items()}, prefix, partitions, specs)
    if wrong:
        raise TopicMismatch("; ".join(wrong))
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
    created: list[str] = []
    if not wanted:
        return created
    for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            future.result()
            log.info("created topic", extra={"topic": name})
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def make_producer(bootstrap: str, **overrides: Any) -> Producer:
    """Idempotent, acks=all, batched and compressed: mail compresses well and travels in bulk.

    Never lets the broker create a topic it does not know (it would use its own defaults, not the registry's).
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "allow.auto.create.topics": False,
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
    """Produces events and knows, after :meth:`flush`, whether all of them were stored.

    A producer that hit a fatal error (e.g. ``Unknown Producer Id`` after a broker lost its state) never
    sends again. Built by :func:`event_producer`, this one notices it and builds a new producer at the
    next send; if records of the dead one were not yet acknowledged, the next :meth:`flush` fails, so the
    caller sends its batch again (every handler is idempotent). :meth:`renew` asks for the same after an
    outage, before a broker that came back without its state refuses the old producer's id. Only the
    thread that sends swaps the producer: a record is never sent on one producer and flushed on another.
    Without a way to rebuild, :attr:`fatal` stays set and readiness says so.
    """

    def __init__(self, producer: Producer, prefix: str, rebuild: Callable[[], Producer] | None = None) -> None:
        self._producer = producer
        self._prefix = prefix
        self._rebuild = rebuild
        self._errors: list[str] = []
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.fatal = ""  # the fatal error this producer hit, if any
        self._stale = ""  # why a new producer is wanted before the next send
        self._unflushed = 0  # records sent since the last flush
        self._lost = ""  # why records sent since the last flush were dropped with a dead producer
        self.rebuilds = 0

    def on_error(self, err: KafkaError) -> None:
        """librdkafka's error callback: remember a fatal error (the others it retries by itself)."""
        if err.fatal():
            log.error("producer hit a fatal error", extra={"error": str(err)})
            with self._lock:
                self.fatal = str(err)

    def renew(self, why: str) -> None:
        """A new producer before the next send (any thread may ask; the sending thread does it)."""
        if self._rebuild is not None:
            self._stale = why

    def _renew_if_needed(self) -> None:
        why = self.fatal or self._stale
        if not why:
            return
        if self._rebuild is None:
            raise DeliveryFailed(f"the producer hit a fatal error and cannot send: {why}")
        if self.fatal or self._unflushed:
            self._lost = why
        self._producer.purge()  # whatever the old one still holds is not sent later behind our back
        self._producer = self._rebuild()
        self.rebuilds += 1
        with self._lock:
            self.fatal, self._stale, self._errors = "", "", []
        log.warning("producer rebuilt", extra={"error": why})

    def reachable(self, timeout: float = 2.0) -> str:
        """"" if the broker answers a metadata request within ``timeout``, else why not."""
        if self.fatal and self._rebuild is None:
            return f"producer failed: {self.fatal}"
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            return f"broker unreachable: {exc.args[0].str() if exc.args else exc}"
        return ""

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            with self._lock:
                self._errors.append(str(err))

    def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        self.send_raw(spec, key, encode(event))

    def send_raw(self, spec: TopicSpec, key: str, value: bytes | None) -> None:
        """``None`` is a tombstone: on a compacted topic the key's records go at the next compaction."""
        self._renew_if_needed()
        topic = spec.full_name(self._prefix)
        self.bytes_sent += len(value or b"")
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value, on_delivery=self._on_delivery)
                break
            except BufferError:
                # Local queue full: let the background thread drain it, then try again.
                self._producer.poll(0.5)
        self._unflushed += 1
        self._producer.poll(0)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every record so far is acknowledged; raise if any was not."""
        remaining = self._producer.flush(timeout)
        if self.fatal:
            self._renew_if_needed()
        with self._lock:
            errors, self._errors = self._errors, []
        lost, self._lost, self._unflushed = self._lost, "", 0
        if lost:
            raise DeliveryFailed(f"records dropped with a failed producer ({lost}); send them again")
        if remaining or errors:
            raise DeliveryFailed(f"{remaining} records unsent, errors: {errors[:3]}")


def event_producer(bootstrap: str, prefix: str, **overrides: Any) -> EventProducer:
    """An :class:`EventProducer` that rebuilds its producer, with the same settings, after a fatal error."""
    holder: list[EventProducer] = []

    def on_error(err: KafkaError) -> None:
        if holder:
            holder[0].on_error(err)

    def build() -> Producer:
        return make_producer(bootstrap, error_cb=on_error, **overrides)

    holder.append(EventProducer(build(), prefix, rebuild=build))
    return holder[0]


def after_outage(ensure: Callable[[], list[str]], producer: EventProducer,
                 consumer: BatchConsumer | None = None) -> None:
    """The broker answers again: its topics as the registry says (it may have lost them), and a new
    producer before the next send (it may have lost the old one's id: ``Unknown Producer Id``). If topics
    had to be created again, the broker lost its data, committed offsets included: the consumer starts its
    partitions over from the beginning, or it would wait at its old position in the new, empty topics and
    skip everything written before it got there."""
    created = ensure()
    producer.renew("the broker answers again after an outage")
    if created and consumer is not None:
        log.warning("the broker lost its topics; reading them again from the start", extra={"topics": created})
        consumer.rewind()


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
            "allow.auto.create.topics": False,
            # A topic created again after the broker lost it is found within this time, not after 5 minutes.
            "topic.metadata.refresh.interval.ms": 10_000,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Kafka's lowest allowed (group.min.session.timeout.ms). Heartbeats come from librdkafka's own
            # thread, so a slow batch does not miss them; a group forms (and a dead member's partitions move)
            # in about half the time: 15 s made the first migration after `up` wait 7.5 s in `queued`.
            "session.timeout.ms": 6_000,
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
        self._rewind = threading.Event()
        self._on_revoke: list[Callable[[list[tuple[str, int]]], None]] = []
        self._revoked_in_poll: set[tuple[str, int]] = set()  # taken away while poll_batch ran (see there)
        self._consumer.subscribe(list(topics), on_assign=self._assign, on_revoke=self._revoke,
                                 on_lost=self._revoke)

    def on_revoke(self, callback: Callable[[list[tuple[str, int]]], None]) -> None:
        self._on_revoke.append(callback)

    def _assign(self, _c: Consumer, partitions: list[TopicPartition]) -> None:
        given = {(p.topic, p.partition) for p in partitions}
        self._assigned.update(given)
        self._revoked_in_poll -= given

    def _revoke(self, _c: Consumer, partitions: list[TopicPartition]) -> None:
        gone = [(p.topic, p.partition) for p in partitions]
        for cb in self._on_revoke:
            cb(gone)
        self._assigned.difference_update(gone)
        self._revoked_in_poll.update(gone)

    def _without_revoked(self, got: list[Message]) -> list[Message]:
        """What a poll gathered, less the records of partitions taken away since (the rebalance callbacks run
        inside ``consume``): their new owner reads them from the last commit, and handled here as well they
        would be written twice at once. A partition given back within the same call keeps its records (which
        of them came before the revoke cannot be told): at worst handled twice, which the ledger makes
        harmless; never dropped while later records of it are kept, which would commit past them."""
        gone, self._revoked_in_poll = self._revoked_in_poll, set()
        if not gone:
            return got
        return [m for m in got if (m.topic(), m.partition()) not in gone]

    @property
    def assigned(self) -> bool:
        return bool(self._assigned)

    def rewind(self) -> None:
        """Before the next poll (in the polling thread), every assigned partition from its beginning."""
        self._rewind.set()

    def _rewind_now(self) -> None:
        self._rewind.clear()
        for topic, partition in list(self._assigned):
            try:
                self._consumer.seek(TopicPartition(topic, partition, OFFSET_BEGINNING))
            except KafkaException as exc:
                log.warning("could not rewind a partition", extra={"topic": topic, "error": str(exc)})

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0,
                   max_bytes: int = 0) -> list[Message]:
        """Up to ``max_messages`` (and about ``max_bytes`` of values, if given): waits up to
        ``timeout`` for the first, then at most ``linger`` more for the batch to fill
        (librdkafka alone would wait the whole timeout for a full batch)."""
        if self._rewind.is_set():
            self._rewind_now()
        asked = time.monotonic()
        self._revoked_in_poll.clear()
        got = self._without_revoked(self._consumer.consume(1, timeout))
        size = sum(len(m.value() or b"") for m in got)
        deadline = time.monotonic() + batch_linger(time.monotonic() - asked, linger)
        while got and len(got) < max_messages and not (max_bytes and size >= max_bytes):
            want = min(POLL_STEP, max_messages - len(got))
            more = self._consumer.consume(want, max(0.0, deadline - time.monotonic()))
            got = self._without_revoked(got + more)
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
