"""What one poll returns when the rebalance callbacks run inside it: records gathered before a partition was
taken away are left out (its new owner reads them from the last commit); records of a partition given back
are never left out while later ones of it are kept (that would commit past them).

The consumer's inner librdkafka consumer is replaced by a script of ``consume`` calls, each of which may run
the revoke/assign callbacks first, as librdkafka serves them from inside ``consume``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.kafka_edge import BatchConsumer

Step = tuple[Callable[[BatchConsumer], None] | None, list[Any]]


class Rec:
    def __init__(self, partition: int, offset: int) -> None:
        self.where = (partition, offset)

    def topic(self) -> str:
        return "items"

    def partition(self) -> int:
        return self.where[0]

    def value(self) -> bytes:
        return b"v"

    def error(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"p{self.where[0]}@{self.where[1]}"


class TP:
    def __init__(self, partition: int) -> None:
        self.topic, self.partition = "items", partition


def revoke(*parts: int) -> Callable[[BatchConsumer], None]:
    return lambda c: c._revoke(None, [TP(p) for p in parts])  # type: ignore[arg-type]


def assign(*parts: int) -> Callable[[BatchConsumer], None]:
    return lambda c: c._assign(None, [TP(p) for p in parts])  # type: ignore[arg-type]


class Script:
    def __init__(self, owner: BatchConsumer, steps: list[Step]) -> None:
        self.owner, self.steps = owner, list(steps)

    def consume(self, _n: int, _timeout: float) -> list[Any]:
        if not self.steps:
            return []
        callback, records = self.steps.pop(0)
        if callback is not None:
            callback(self.owner)
        return records

    def close(self) -> None:
        pass


def poll(steps: list[Step], revoked: list[list[tuple[str, int]]] | None = None) -> list[Rec]:
    consumer = BatchConsumer("127.0.0.1:9", "g", ["items"])
    try:
        if revoked is not None:
            consumer.on_revoke(revoked.append)
        assign(0, 1)(consumer)
        consumer._consumer = Script(consumer, steps)  # type: ignore[assignment]
        # POLL_STEP (50) at a time after the first record: each scripted call gives fewer, so a call that gives
        # less than asked ends the batch; the steps below give one record, then more in one call.
        return consumer.poll_batch(200, 0.1, linger=1.0)
    finally:
        consumer._consumer = Script(consumer, [])  # type: ignore[assignment]


def test_records_gathered_before_their_partition_was_taken_away_are_left_out() -> None:
    a, b, c = Rec(1, 10), Rec(0, 5), Rec(0, 6)
    seen: list[list[tuple[str, int]]] = []
    got = poll([(None, [a]), (revoke(1), [b, c])], seen)
    assert got == [b, c]
    assert seen == [[("items", 1)]]  # the loader's own callback still runs


def test_a_partition_taken_away_and_given_back_in_one_call_keeps_its_records() -> None:
    a, b = Rec(1, 10), Rec(1, 11)
    got = poll([(None, [a]), (lambda c: (revoke(1)(c), assign(1)(c)), [b])])
    assert got == [a, b]  # which came before the revoke cannot be told: handled (at worst twice), never skipped


def test_records_of_a_partition_given_back_later_are_kept() -> None:
    stale, other, fresh = Rec(1, 10), Rec(0, 3), Rec(1, 4)
    # The first call serves the revoke and gives a record fetched before it; the next serves the assignment
    # and gives the partition's records read again from the last commit.
    assert poll([(revoke(1), [stale, other]), (assign(1), [fresh])]) == [other, fresh]


def test_a_poll_of_stale_records_only_returns_none() -> None:
    assert poll([(revoke(1), [Rec(1, 10)]), (None, [Rec(0, 1)])]) == []


def test_a_poll_without_a_rebalance_returns_everything_in_order() -> None:
    recs = [Rec(0, 1), Rec(1, 1), Rec(0, 2)]
    assert poll([(None, recs[:1]), (None, recs[1:])]) == recs
