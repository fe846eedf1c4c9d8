"""Polling and preparing the next batch while the current one is handled.

A loader's batch is CPU work (decoding) followed by waiting (the target's
answers, the broker's acknowledgements). Done one after the other, the CPU idles
while the loader waits and the target idles while it decodes. :class:`Prefetcher`
stands in for the consumer in :class:`shared.worker_loop.WorkerLoop`: a thread
polls and runs ``prepare`` on batch N+1 while the loop handles batch N.

The waiting batch keeps growing while the loop is busy, up to the batch's size and bytes, when what
``prepare`` made of it can take in what it makes of the next records (it has ``absorb``). Handed over as
first polled, a copy's first batches stayed small: the loader's first batch (a few dozen messages, all that
had arrived) made the next one be polled at once, with the handful that had arrived by then, and each small
batch cost a full chain of round trips to the target while the records piled up behind it (measured on the
benchmark's 5,000-message copy: three batches of 40, 10 and 242 messages took the loader's first 0.55 s).

Every call into the Kafka consumer happens on that one thread (two threads
calling one consumer at once, a commit beside a poll, were seen to hang during a
rebalance). The loop's commits are handed to the thread and made, in order,
before its next poll; a commit that fails is logged and covered by the next one
(offsets only grow), and a crash before it redelivers what was handled, which the
handlers make harmless. One batch at most waits in memory, bounded like the loop's own batches. When
partitions are taken away, their records leave the waiting batch (see :meth:`Prefetcher._revoked`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from confluent_kafka import Message

from shared.kafka_edge import BatchConsumer

log = logging.getLogger(__name__)

Prepare = Callable[[list[Message]], object]


@runtime_checkable
class Absorbing(Protocol):
    """What ``prepare`` makes of a batch, when it can take in what it makes of the records polled after it."""

    def absorb(self, later: Any) -> None: ...


class PreparedBatch(list[Message]):
    """A polled batch carrying what ``prepare`` made of it (None if that failed), so the handler
    does not do the work again. ``made`` covers the first ``decoded`` records; those after (a part whose
    ``prepare`` failed) are left to the handler, which must not decode the first ones again: decoding has
    effects (an undecodable record is dead-lettered, a chunk written to disk)."""

    def __init__(self, batch: list[Message], made: object, decoded: int | None = None) -> None:
        super().__init__(batch)
        self.made = made
        self.decoded = len(batch) if decoded is None else decoded

    def undecoded(self) -> list[Message]:
        """The records ``made`` does not cover (all of them when it is None)."""
        return list(self) if self.made is None else list(self)[self.decoded:]


@dataclass
class _Waiting:
    """The batch waiting for the loop, and whether more records may still join it."""

    messages: list[Message]
    made: object
    size: int
    parts: int = 1
    grows: bool = field(init=False)
    decoded: int = field(init=False)  # how many of the messages ``made`` covers

    def __post_init__(self) -> None:
        self.grows = isinstance(self.made, Absorbing)
        self.decoded = len(self.messages) if self.made is not None else 0

    def join(self, more: list[Message], made: object, size: int) -> None:
        """Called only while ``grows``: what was made of the waiting records can take in more."""
        self.messages += more
        self.size += size
        self.parts += 1
        if made is None:  # a part that failed: the handler decodes that part, and no more joins
            self.grows = False
        elif isinstance(self.made, Absorbing):
            self.made.absorb(made)
            self.decoded = len(self.messages)

    def drop(self, gone: set[tuple[str, int]]) -> bool:
        """Leave out the records of partitions taken away; False when none is left. What was made of the
        records is dropped with them (it cannot be taken apart): the handler decodes the rest again."""
        keep = [m for m in self.messages if (m.topic(), m.partition()) not in gone]
        if len(keep) == len(self.messages):
            return True
        self.messages, self.made, self.grows, self.decoded = keep, None, False, 0
        self.size = sum(len(m.value() or b"") for m in keep)
        return bool(keep)


POLL_SLICE = 0.05  # the thread's longest wait in the consumer, so commits are made promptly
LAG_EVERY = 10.0


class Prefetcher:
    def __init__(self, consumer: BatchConsumer, prepare: Prepare, *, batch_size: int, linger: float,
                 batch_bytes: int) -> None:
        self._consumer = consumer
        self._prepare = prepare
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._linger = min(linger, POLL_SLICE)
        self._waiting: _Waiting | None = None
        self._cond = threading.Condition()
        self._commits: queue.Queue[list[tuple[str, int, int]]] = queue.Queue()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._lag: dict[str, int] = {}
        self._lag_at = 0.0
        consumer.on_revoke(self._revoked)
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _revoked(self, partitions: list[tuple[str, int]]) -> None:
        """Partitions taken away (called on this thread, inside a poll): their waiting records are not
        handled here; the new owner reads them from the last commit, and written by both at once they could
        arrive twice."""
        with self._cond:
            if self._waiting is not None and not self._waiting.drop(set(partitions)):
                self._waiting = None

    def _room(self) -> tuple[int, int] | None:
        """How many more messages (and bytes, 0: no bound) the waiting batch takes; None when it is full
        or cannot grow. Called under the lock."""
        w = self._waiting
        if w is None:
            return self._batch_size, self._batch_bytes
        if not w.grows or len(w.messages) >= self._batch_size \
                or (self._batch_bytes and w.size >= self._batch_bytes):
            return None
        return self._batch_size - len(w.messages), (self._batch_bytes - w.size) if self._batch_bytes else 0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._make_commits()
                if time.monotonic() - self._lag_at > LAG_EVERY:
                    self._lag, self._lag_at = self._consumer.lag(), time.monotonic()
                with self._cond:
                    room = self._room()
                    if room is None:  # full: wait for the loop to take it
                        self._cond.wait(POLL_SLICE)
                        continue
                    first = self._waiting is None
                batch = self._consumer.poll_batch(room[0], POLL_SLICE, self._linger if first else 0.0, room[1])
                if not batch:
                    continue
                made = None
                try:
                    made = self._prepare(batch)
                except Exception:  # the handler prepares it again itself, and reports what fails
                    log.warning("preparing a batch ahead failed", exc_info=True)
                size = sum(len(m.value() or b"") for m in batch) if self._batch_bytes else 0
                with self._cond:
                    if self._waiting is None:  # the loop took the earlier part meanwhile: this one starts anew
                        self._waiting = _Waiting(list(batch), made, size)
                    else:
                        self._waiting.join(list(batch), made, size)
                    self._cond.notify_all()
            self._make_commits()
        except BaseException as exc:  # surfaced to the loop by poll_batch
            self._failure = exc
            with self._cond:
                self._cond.notify_all()

    def _make_commits(self) -> None:
        while True:
            try:
                offsets = self._commits.get_nowait()
            except queue.Empty:
                return
            try:
                self._consumer.commit(offsets)
            except Exception as exc:  # a later commit covers these offsets too
                log.warning("commit failed; the next one covers it", extra={"error": str(exc)[:300]})

    # -- what WorkerLoop uses of a BatchConsumer
    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0,
                   max_bytes: int = 0) -> list[Message]:
        """The waiting batch, as it has grown so far (its bounds were set when the prefetcher was made)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiting is None and self._failure is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            if self._failure is not None:
                raise self._failure
            assert self._waiting is not None
            taken, self._waiting = self._waiting, None
            self._cond.notify_all()  # the thread polls the next batch now, while this one is handled
        return PreparedBatch(taken.messages, taken.made, taken.decoded)

    def commit(self, offsets: Iterable[tuple[str, int, int]]) -> None:
        self._commits.put(list(offsets))

    @property
    def assigned(self) -> bool:
        return self._consumer.assigned

    def lag(self) -> dict[str, int]:
        return dict(self._lag)

    def close(self) -> None:
        """Make the commits handed over so far, then stop; a prepared batch not yet handled is not
        committed (it comes again)."""
        self._stop.set()
        self._thread.join(timeout=30)
        self._consumer.close()
