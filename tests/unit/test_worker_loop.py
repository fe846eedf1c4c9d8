"""The consume → handle → commit loop: retries what waiting cures, sets aside what it does not."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry

from shared.errors import Transient
from shared.metrics import ServiceMetrics
from shared.worker_loop import POISON_ATTEMPTS, WorkerLoop


@dataclass
class FakeMessage:
    """Only what the loop reads from a confluent-kafka Message."""

    _offset: int
    _topic: str = "items"
    _partition: int = 0

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return b"{}"


@dataclass
class FakeConsumer:
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    assigned: bool = True

    def commit(self, offsets: Any) -> None:
        self.commits.append(list(offsets))


def make_loop(handler: Any, poison: Any) -> tuple[WorkerLoop, FakeConsumer]:
    consumer = FakeConsumer()
    loop = WorkerLoop(consumer, handler, ServiceMetrics(CollectorRegistry(), "loader"),  # type: ignore[arg-type]
                      redis.Redis(), threading.Event(), poison=poison, initial_backoff=0.001, max_backoff=0.001)
    return loop, consumer


def test_a_batch_failing_for_a_bug_is_set_aside_after_a_few_attempts() -> None:
    calls: list[int] = []
    poisoned: list[Exception] = []

    def handler(batch: list[Any]) -> list[tuple[str, int, int]]:
        calls.append(1)
        raise ValueError("a bug")

    loop, consumer = make_loop(handler, lambda batch, exc: poisoned.append(exc))
    loop._handle_with_retry([FakeMessage(7), FakeMessage(8)])  # type: ignore[list-item]
    assert len(calls) == POISON_ATTEMPTS
    assert len(poisoned) == 1 and isinstance(poisoned[0], ValueError)
    assert consumer.commits == [[("items", 0, 9)]]  # moved past the batch


def test_transient_failures_are_retried_until_they_pass_and_never_poisoned() -> None:
    attempts = iter([Transient("down")] * (POISON_ATTEMPTS + 3) + [None])
    poisoned: list[Exception] = []

    def handler(batch: list[Any]) -> list[tuple[str, int, int]]:
        exc = next(attempts)
        if exc:
            raise exc
        return [("items", 0, 4)]

    loop, consumer = make_loop(handler, lambda batch, exc: poisoned.append(exc))
    loop._handle_with_retry([FakeMessage(3)])  # type: ignore[list-item]
    assert poisoned == []
    assert consumer.commits == [[("items", 0, 4)]]


def test_a_member_the_group_dropped_gives_the_batch_back_instead_of_retrying() -> None:
    """After its session expired (the broker was away), commits answer Unknown member forever: the loop must go
    back to polling (where librdkafka rejoins) instead of retrying the commit."""
    calls: list[int] = []

    def handler(batch: list[Any]) -> list[tuple[str, int, int]]:
        calls.append(1)
        return [("items", 0, 6)]

    loop, consumer = make_loop(handler, None)

    def refuse(offsets: Any) -> None:
        consumer.commits.append(list(offsets))
        raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))

    consumer.commit = refuse  # type: ignore[method-assign]
    loop._handle_with_retry([FakeMessage(5)])  # type: ignore[list-item]
    assert calls == [1] and consumer.commits == [[("items", 0, 6)]]


def test_a_poison_handler_may_say_where_to_stop_committing() -> None:
    def handler(batch: list[Any]) -> list[tuple[str, int, int]]:
        raise ValueError("a bug")

    loop, consumer = make_loop(handler, lambda batch, exc: [("items", 0, 8)])  # e.g. an unfinished large message
    loop._handle_with_retry([FakeMessage(7), FakeMessage(8), FakeMessage(9)])  # type: ignore[list-item]
    assert consumer.commits == [[("items", 0, 8)]]
