"""The consume → handle → commit loop every worker runs, with health and metrics around it.

The handler does all its writes (target, topics, Redis) and returns the offsets
that are now safe; only then are they committed. A handler exception commits
nothing: the batch is retried after a back-off, which is safe because every
handler is idempotent. SIGTERM ends the loop between batches.

While Redis or the broker is down every batch fails the same retryable way: the loop waits (back-off
capped at a few seconds) and goes on by itself once they answer again, with nothing committed in
between, so nothing is lost. Readiness says which dependency is missing meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import redis
from confluent_kafka import KafkaError, KafkaException, Message

from shared.dependency_watch import UP, DependencyWatch
from shared.errors import MailferryError
from shared.kafka_edge import DeliveryFailed, next_offsets
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

Handler = Callable[[list[Message]], list[tuple[str, int, int]]]
# Called with a batch that failed the same way too often: report its items as failed, dead-letter them. It may
# return the offsets to commit (a loader stops before a large message it has not seen the end of); None: all.
PoisonHandler = Callable[[list[Message], Exception], list[tuple[str, int, int]] | None]
POISON_ATTEMPTS = 5
# Commit refusals that mean the group has moved on without this member (its session expired while the broker
# was away, or a rebalance took the partitions): retrying cannot succeed, and librdkafka rejoins only while
# the consumer is polled. The batch goes back to the group (uncommitted; handlers are idempotent).
NOT_A_MEMBER = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
                          KafkaError.REBALANCE_IN_PROGRESS})


class Consumer(Protocol):
    """What the loop needs: a :class:`shared.kafka_edge.BatchConsumer` or a :class:`shared.prefetch.Prefetcher`."""

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0,
                   max_bytes: int = 0) -> list[Message]: ...

    def commit(self, offsets: Iterable[tuple[str, int, int]]) -> None: ...

    @property
    def assigned(self) -> bool: ...

    def lag(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def retryable(exc: Exception) -> bool:
    """Worth waiting for: network, broker and Redis trouble, and our own transient kinds (the adapters
    raise a protocol library's dropped connection as ``Transient``)."""
    if isinstance(exc, MailferryError):
        return exc.retryable
    return isinstance(exc, (OSError, redis.RedisError, KafkaException, DeliveryFailed))


class WorkerLoop:
    def __init__(self, consumer: Consumer, handler: Handler, metrics: ServiceMetrics,
                 redis_client: redis.Redis, stop: threading.Event, *, batch_size: int = 200,
                 poll_timeout: float = 0.5, max_backoff: float = 5.0, poison: PoisonHandler | None = None,
                 initial_backoff: float = 0.5, linger: float = 0.0, batch_bytes: int = 0,
                 watch: DependencyWatch | None = None, broker_trouble: Callable[[], None] | None = None) -> None:
        self.consumer = consumer
        self.handler = handler
        self.metrics = metrics
        self.redis = redis_client
        self.stop = stop
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.max_backoff = max_backoff
        self.poison = poison
        self.initial_backoff = initial_backoff
        self.linger = linger
        self.batch_bytes = batch_bytes
        self.watch = watch
        self.broker_trouble = broker_trouble
        self._last_check = 0.0

    def ready(self) -> tuple[bool, dict[str, str]]:
        """Ready once Redis and the broker answer and the consumer owns partitions (before that, a
        migration would wait in ``queued`` for the group to form)."""
        checks = self.watch.state() if self.watch is not None else {}
        checks["consumer"] = "assigned" if self.consumer.assigned else "no partitions assigned yet"
        ok = self.consumer.assigned and all(v == UP for n, v in checks.items() if n != "consumer")
        return ok, checks

    def _check(self) -> None:
        lag = self.consumer.lag()
        for topic, n in lag.items():
            self.metrics.consumer_lag.labels(self.metrics.service, topic).set(n)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if time.monotonic() - self._last_check > 10:
                    self._last_check = time.monotonic()
                    self._check()
                t0 = time.perf_counter()
                batch = self.consumer.poll_batch(self.batch_size, self.poll_timeout, self.linger, self.batch_bytes)
                if batch:
                    self.metrics.stage_seconds.labels(self.metrics.service, "poll").observe(time.perf_counter() - t0)
                    self._handle_with_retry(batch)
        finally:
            self.consumer.close()

    def _broker_trouble(self) -> None:
        try:
            self.broker_trouble()  # type: ignore[misc]
        except (KafkaException, OSError) as exc:
            log.info("broker still unavailable", extra={"error": str(exc)[:200]})

    def _handle_with_retry(self, batch: list[Message]) -> None:
        backoff = self.initial_backoff
        failures = 0
        while True:
            try:
                with self.metrics.stage("handle"):
                    offsets = self.handler(batch)
                with self.metrics.stage("commit"):
                    self.consumer.commit(offsets)
                return
            except Exception as exc:
                if isinstance(exc, KafkaException) and exc.args and exc.args[0].code() in NOT_A_MEMBER:
                    log.warning("partitions taken away meanwhile; the batch goes back to the group",
                                extra={"error": str(exc)[:300]})
                    self.metrics.error("not_a_member")
                    return
                kind = exc.code if isinstance(exc, MailferryError) else type(exc).__name__
                self.metrics.error(kind)
                log.warning("batch failed, will retry", extra={"error": str(exc)[:500], "kind": kind},
                            exc_info=not isinstance(exc, MailferryError))
                failures = 0 if retryable(exc) else failures + 1
                if isinstance(exc, (KafkaException, DeliveryFailed)) and self.broker_trouble is not None:
                    self._broker_trouble()
                if failures >= POISON_ATTEMPTS and self.poison is not None:
                    # The same batch keeps failing for a reason waiting will not cure: report its items
                    # as failed and move on, instead of stalling every migration behind it.
                    log.error("batch given up as poison", extra={"error": str(exc)[:500], "kind": kind})
                    limits = self.poison(batch, exc)
                    self.consumer.commit(next_offsets(batch) if limits is None else limits)
                    return
                if self.stop.wait(backoff):
                    # Stopping: leave the batch uncommitted; it is redelivered to whoever owns it next.
                    return
                backoff = min(backoff * 2, self.max_backoff)
