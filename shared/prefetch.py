"""Polling and preparing the next batch while the current one is handled.

A loader's batch is CPU work (decoding) followed by waiting (the target's
answers, the broker's acknowledgements). Done one after the other, the CPU idles
while the loader waits and the target idles while it decodes. :class:`Prefetcher`
stands in for the consumer in :class:`shared.worker_loop.WorkerLoop`: a thread
polls and runs ``prepare`` on batch N+1 while the loop handles batch N.

Every call into the Kafka consumer happens on that one thread (two threads
calling one consumer at once, a commit beside a poll, were seen to hang during a
rebalance). The loop's commits are handed to the thread and made, in order,
before its next poll; a commit that fails is logged and covered by the next one
(offsets only grow), and a crash before it redelivers what was handled, which the
handlers make harmless. At most ``depth`` prepared batches wait in memory, and the next
batch is polled only once the loop has taken the previous one, so it holds everything that has arrived.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import Message

from shared.kafka_edge import BatchConsumer

log = logging.getLogger(__name__)

Prepare = Callable[[list[Message]], object]


class PreparedBatch(list[Message]):
    """A polled batch carrying what ``prepare`` made of it (None if that failed), so the handler
    does not do the work again."""

    def __init__(self, batch: list[Message], made: object) -> None:
        super().__init__(batch)
        self.made = made
POLL_SLICE = 0.05  # the thread's longest wait in the consumer, so commits are made promptly
LAG_EVERY = 10.0


class Prefetcher:
    def __init__(self, consumer: BatchConsumer, prepare: Prepare, *, batch_size: int, linger: float,
                 batch_bytes: int, depth: int = 1) -> None:
        self._consumer = consumer
        self._prepare = prepare
        self._args = (batch_size, POLL_SLICE, min(linger, POLL_SLICE), batch_bytes)
        self._ready: queue.Queue[PreparedBatch] = queue.Queue()
        # A batch is polled only when there is room for it: polled earlier, it would be held back while
        # newer records pile up behind it, and batches would stay small and late.
        self._room = threading.Semaphore(depth)
        self._commits: queue.Queue[list[tuple[str, int, int]]] = queue.Queue()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._lag: dict[str, int] = {}
        self._lag_at = 0.0
        self._thread = threading.Thread(target=self._run, name="prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._make_commits()
                if time.monotonic() - self._lag_at > LAG_EVERY:
                    self._lag, self._lag_at = self._consumer.lag(), time.monotonic()
                if not self._room.acquire(timeout=POLL_SLICE):
                    continue
                batch = self._consumer.poll_batch(*self._args)
                if not batch:
                    self._room.release()
                    continue
                made = None
                try:
                    made = self._prepare(batch)
                except Exception:  # the handler prepares it again itself, and reports what fails
                    log.warning("preparing a batch ahead failed", exc_info=True)
                self._ready.put(PreparedBatch(batch, made))
            self._make_commits()
        except BaseException as exc:  # surfaced to the loop by poll_batch
            self._failure = exc

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
        """The next prepared batch (its size was set when the prefetcher was made)."""
        if self._failure is not None:
            raise self._failure
        try:
            batch = self._ready.get(timeout=timeout)
        except queue.Empty:
            return []
        self._room.release()  # the thread polls the next batch now, while this one is handled
        return batch

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
