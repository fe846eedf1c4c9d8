"""The prefetcher's contract with the worker loop, over a scripted consumer: order, preparation ahead,
bounded memory, and nothing committed that the loop did not commit."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from shared.kafka_edge import BatchConsumer
from shared.prefetch import Prefetcher, PreparedBatch


class ScriptedConsumer:
    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = list(batches)
        self.polls = 0
        self.commits: list[list[tuple[str, int, int]]] = []
        self.closed = False
        self.assigned = True
        self.revoke_callbacks: list[Any] = []

    def on_revoke(self, callback: Any) -> None:
        self.revoke_callbacks.append(callback)

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0, max_bytes: int = 0) -> list[Any]:
        if not self.batches:
            time.sleep(min(timeout, 0.01))
            return []
        self.polls += 1
        head = self.batches[0]
        if len(head) > max_messages:  # as the real consumer: never more than asked for
            self.batches[0] = head[max_messages:]
            return head[:max_messages]
        return self.batches.pop(0)

    def commit(self, offsets: Any) -> None:
        self.commits.append(list(offsets))

    def lag(self) -> dict[str, int]:
        return {"items": len(self.batches)}

    def close(self) -> None:
        self.closed = True


def make(consumer: ScriptedConsumer, prepare: Any, batch_size: int = 10) -> Prefetcher:
    return Prefetcher(cast(BatchConsumer, consumer), prepare, batch_size=batch_size, linger=0.0, batch_bytes=0)


def eventually(check: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_batches_come_in_order_each_prepared_before_it_is_handed_out() -> None:
    prepared: list[list[int]] = []
    consumer = ScriptedConsumer([[1, 2], [3], [4, 5, 6]])
    p = make(consumer, prepared.append)
    got = []
    while len(got) < 3:
        batch = p.poll_batch(10, 1.0)
        if batch:
            assert batch in prepared  # decoded before the loop sees it
            got.append(batch)
    assert got == [[1, 2], [3], [4, 5, 6]]
    assert p.poll_batch(10, 0.05) == []
    assert consumer.commits == []  # the prefetcher never commits on its own
    p.commit([("items", 0, 7)])  # made by the prefetch thread, the only one that calls the consumer
    assert eventually(lambda: consumer.commits == [[("items", 0, 7)]])
    assert p.assigned
    p.commit([("items", 0, 9)])
    p.close()  # commits handed over before close are made
    assert consumer.commits == [[("items", 0, 7)], [("items", 0, 9)]]
    assert consumer.closed


def test_a_batch_that_cannot_grow_waits_alone_while_the_loop_is_busy() -> None:
    consumer = ScriptedConsumer([[i] for i in range(10)])
    p = make(consumer, lambda _b: None)  # what prepare made cannot take in more records
    time.sleep(0.3)  # the loop is busy with a long batch
    # One batch waits; the next is not read until the loop takes it (it would go stale).
    assert consumer.polls == 1
    assert p.poll_batch(10, 1.0) == [0]
    assert eventually(lambda: consumer.polls == 2)
    p.close()


class Summed:
    """A prepared batch that takes in the records polled after it (as the loader's decoded batch does)."""

    def __init__(self, batch: list[int]) -> None:
        self.values = list(batch)

    def absorb(self, later: Summed) -> None:
        self.values += later.values


def test_the_waiting_batch_grows_while_the_loop_is_busy_up_to_its_size() -> None:
    consumer = ScriptedConsumer([[1], [2, 3], [4], [5, 6, 7], [8, 9, 10], [11, 12], [13]])
    p = make(consumer, Summed, batch_size=6)
    assert eventually(lambda: consumer.polls == 4)  # [1] + [2, 3] + [4] + two of [5, 6, 7]: full at 6
    time.sleep(0.2)
    assert consumer.polls == 4  # a full batch is not added to
    first = p.poll_batch(10, 1.0)
    assert isinstance(first, PreparedBatch)
    assert list(first) == [1, 2, 3, 4, 5, 6]
    assert isinstance(first.made, Summed) and first.made.values == [1, 2, 3, 4, 5, 6]
    rest: list[int] = []
    while len(rest) < 7:
        batch = p.poll_batch(10, 1.0)
        assert len(batch) <= 6
        assert isinstance(batch, PreparedBatch) and isinstance(batch.made, Summed) and batch.made.values == batch
        rest += batch
    assert rest == list(range(7, 14))  # nothing lost, reordered or handed twice
    p.close()


def test_a_part_whose_prepare_failed_leaves_the_whole_batch_to_the_handler() -> None:
    def prepare(batch: list[int]) -> Summed:
        if batch == [2]:
            raise ValueError("cannot decode")
        return Summed(batch)

    consumer = ScriptedConsumer([[1], [2], [3]])
    p = make(consumer, prepare)
    assert eventually(lambda: consumer.polls == 2)
    time.sleep(0.1)
    batch = p.poll_batch(10, 1.0)
    assert isinstance(batch, PreparedBatch)
    assert list(batch) == [1, 2]
    # What was made of [1] is kept: the handler decodes only the part that failed (decoding twice would
    # dead-letter an undecodable record twice).
    assert isinstance(batch.made, Summed) and batch.made.values == [1]
    assert batch.undecoded() == [2]
    assert p.poll_batch(10, 1.0) == [3]  # a batch that cannot grow is handed over alone
    p.close()


def test_a_failing_prepare_still_hands_the_batch_over() -> None:
    def prepare(batch: list[int]) -> None:
        raise ValueError("undecodable")

    p = make(ScriptedConsumer([[1]]), prepare)
    assert p.poll_batch(10, 1.0) == [1]  # the handler decodes it again and reports what fails
    p.close()


def test_close_stops_the_thread() -> None:
    p = make(ScriptedConsumer([]), lambda _b: None)
    p.close()
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())


def test_each_batch_carries_what_prepare_made_of_it_or_none_when_prepare_failed() -> None:
    def prepare(batch: list[int]) -> int:
        if batch == [3]:
            raise ValueError("cannot decode")
        return sum(batch)

    p = make(ScriptedConsumer([[1, 2], [3], [4, 5]]), prepare)
    got: list[PreparedBatch] = []
    while len(got) < 3:
        batch = p.poll_batch(10, 1.0)
        if batch:
            assert isinstance(batch, PreparedBatch)
            got.append(batch)
    p.close()
    assert [(list(b), b.made) for b in got] == [([1, 2], 3), ([3], None), ([4, 5], 9)]


class Rec:
    """A consumed record: where it came from (as confluent_kafka's Message says it)."""

    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def topic(self) -> str:
        return "items"

    def partition(self) -> int:
        return self._partition

    def value(self) -> bytes:
        return b"x" * 10

    def __repr__(self) -> str:
        return f"p{self._partition}@{self._offset}"


def test_records_of_partitions_taken_away_leave_the_waiting_batch() -> None:
    a0, a1, b0, b1 = Rec(0, 1), Rec(1, 1), Rec(0, 2), Rec(1, 2)
    consumer = ScriptedConsumer([[a0, a1], [b0, b1]])
    p = make(consumer, lambda batch: Summed(list(batch)))
    assert eventually(lambda: consumer.polls == 2)
    time.sleep(0.1)
    for callback in consumer.revoke_callbacks:  # as the consumer calls it during a poll
        callback([("items", 1)])
    batch = p.poll_batch(10, 1.0)
    assert isinstance(batch, PreparedBatch)
    assert list(batch) == [a0, b0]  # partition 1's records are its new owner's
    assert batch.made is None and batch.undecoded() == [a0, b0]  # decoded again without them
    p.close()


def test_a_waiting_batch_wholly_of_partitions_taken_away_is_dropped() -> None:
    consumer = ScriptedConsumer([[Rec(3, 7)]])
    p = make(consumer, lambda batch: Summed(list(batch)))
    assert eventually(lambda: consumer.polls == 1)
    time.sleep(0.1)
    for callback in consumer.revoke_callbacks:
        callback([("items", 3)])
    assert p.poll_batch(10, 0.2) == []
    p.close()
