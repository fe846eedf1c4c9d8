"""A broker in memory: topics of partitions of records, producers that publish at ``flush``, consumer
groups that commit, and a restart that redelivers from the last commit.

Records become visible only when their producer flushes, as a record is durable only once the
broker acknowledged it: a handler that commits before its output is flushed loses it here too.
A key always goes to the same partition (the order per key that the services rely on).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.edges import Delivered
from shared.events import Event, decode, encode
from shared.topics import TopicSpec


@dataclass(frozen=True)
class MemoryMessage:
    """One record as a consumer gets it (the :class:`~shared.edges.Delivered` protocol)."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes
    _value: bytes | None

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def error(self) -> None:
        return None


@dataclass
class MemoryBroker:
    partitions: int = 3
    prefix: str = ""
    topics: dict[str, list[list[MemoryMessage]]] = field(default_factory=dict)
    committed: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (group, topic, partition) → next
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def name(self, spec: TopicSpec) -> str:
        return spec.full_name(self.prefix)

    def _partitions(self, topic: str) -> list[list[MemoryMessage]]:
        return self.topics.setdefault(topic, [[] for _ in range(self.partitions)])

    def publish(self, records: Iterable[tuple[str, str, bytes | None]]) -> None:
        with self.lock:
            for topic, key, value in records:
                parts = self._partitions(topic)
                part = zlib.crc32(key.encode()) % len(parts)
                parts[part].append(MemoryMessage(topic, part, len(parts[part]), key.encode(), value))

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, group: str, specs: Sequence[TopicSpec]) -> MemoryConsumer:
        return MemoryConsumer(self, group, [self.name(s) for s in specs])

    def events(self, spec: TopicSpec) -> list[Event]:
        """Every event on a topic, partition by partition (for a test's assertions)."""
        with self.lock:
            return [decode(m.value() or b"") for part in self._partitions(self.name(spec)) for m in part]


class MemoryProducer:
    """The :class:`~shared.edges.ProducerEdge` of a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.pending: list[tuple[str, str, bytes | None]] = []
        self.lock = threading.Lock()

    def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        self.send_raw(spec, key, encode(event))

    def send_raw(self, spec: TopicSpec, key: str, value: bytes | None) -> None:
        with self.lock:
            self.pending.append((self.broker.name(spec), key, value))

    def flush(self, timeout: float = 60.0) -> None:
        with self.lock:
            pending, self.pending = self.pending, []
        self.broker.publish(pending)

    def drop_pending(self) -> None:
        """What was sent but not flushed is lost (the process died)."""
        with self.lock:
            self.pending = []


class MemoryConsumer:
    """A consumer group member owning every partition (the worker loop's ``Consumer`` protocol)."""

    def __init__(self, broker: MemoryBroker, group: str, topics: list[str]) -> None:
        self.broker = broker
        self.group = group
        self.topic_names = topics
        self.positions: dict[tuple[str, int], int] = {}
        self.restart()

    def restart(self) -> None:
        """A crash and a new member: everything after the last commit is delivered again."""
        with self.broker.lock:
            for t in self.topic_names:
                for p in range(len(self.broker._partitions(t))):
                    self.positions[(t, p)] = self.broker.committed.get((self.group, t, p), 0)

    def poll_batch(self, max_messages: int, timeout: float = 0.0, linger: float = 0.0,
                   max_bytes: int = 0) -> list[Delivered]:
        out: list[Delivered] = []
        size = 0
        with self.broker.lock:
            for (t, p), at in sorted(self.positions.items()):
                part = self.broker._partitions(t)[p]
                while at < len(part) and len(out) < max_messages and not (max_bytes and size >= max_bytes):
                    out.append(part[at])
                    size += len(part[at].value() or b"")
                    at += 1
                self.positions[(t, p)] = at
        return out

    def commit(self, offsets: Iterable[tuple[str, int, int]]) -> None:
        with self.broker.lock:
            for t, p, nxt in offsets:
                key = (self.group, t, p)
                self.broker.committed[key] = max(self.broker.committed.get(key, 0), nxt)

    @property
    def assigned(self) -> bool:
        return True

    def lag(self) -> dict[str, int]:
        with self.broker.lock:
            out: dict[str, int] = {}
            for (t, p), at in self.positions.items():
                out[t] = out.get(t, 0) + len(self.broker._partitions(t)[p]) - at
            return out

    def close(self) -> None:
        return None
