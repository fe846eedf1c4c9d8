"""What the services need of the broker, as protocols: confluent-kafka behind :mod:`shared.kafka_edge`
implements them in production, :mod:`shared.memory.broker` in the service cores' unit tests.

Handlers are typed with :class:`Delivered` (what a consumed record offers) and produce through a
:class:`ProducerEdge`, so the same handler runs on either.
"""

from __future__ import annotations

from typing import Protocol

from shared.events import Event
from shared.topics import TopicSpec


class Delivered(Protocol):
    """One consumed record (confluent-kafka's ``Message`` has these methods)."""

    def value(self) -> bytes | None: ...

    def key(self) -> bytes | None: ...

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...


class ProducerEdge(Protocol):
    """Sends events; :meth:`flush` returns only when every record sent so far is stored, or raises."""

    def send(self, spec: TopicSpec, key: str, event: Event) -> None: ...

    def send_raw(self, spec: TopicSpec, key: str, value: bytes | None) -> None:
        """``None`` is a tombstone (a compacted topic forgets the key)."""

    def flush(self, timeout: float = 60.0) -> None: ...
