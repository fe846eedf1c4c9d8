"""Wiring a worker service: settings → Redis, Kafka, keys, metrics, health → the loop.

The one place where a worker's dependencies are built, so each service module
only says which topics it reads and how it handles a batch.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from shared import kafka_edge, topics
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.config import Settings
from shared.credential_seal import MasterKeys
from shared.credentials import CredentialStore
from shared.dependency_watch import DependencyWatch
from shared.metrics import ServiceMetrics
from shared.migration_records import RecordLog
from shared.prefetch import Prefetcher, Prepare
from shared.service_runtime import HealthServer
from shared.topics import TopicSpec
from shared.view_rebuild import ViewGuard
from shared.worker_loop import Consumer, Handler, PoisonHandler, WorkerLoop

Revoked = Callable[[list[tuple[str, int]]], None]
Made = (Handler | tuple[Handler, PoisonHandler] | tuple[Handler, PoisonHandler, Prepare]
        | tuple[Handler, PoisonHandler, Prepare, Revoked])

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    settings: Settings
    redis: redis.Redis
    producer: kafka_edge.EventProducer
    credentials: CredentialStore
    adapters: AdapterEnv  # what the adapters need of the settings: connection options, spool
    registry: CollectorRegistry
    metrics: ServiceMetrics
    view: ViewGuard  # rebuilds Redis from the topics when it is not whole
    record: RecordLog  # this service's writes to the migration's record


def build_context(service: str, settings: Settings) -> ServiceContext:
    client = redis.Redis.from_url(settings.redis_url)
    registry = CollectorRegistry()
    opts = ConnectOptions(allow=settings.allow_hosts, ca_file=settings.ca_file, timeout=settings.connect_timeout)
    producer = kafka_edge.event_producer(settings.kafka_bootstrap, settings.topic_prefix)
    record = RecordLog(producer, service)
    return ServiceContext(
        settings=settings,
        redis=client,
        producer=producer,
        credentials=CredentialStore(client, MasterKeys.parse(settings.secret_key), record=record, guarded=True),
        adapters=AdapterEnv(connect=opts, spool=settings.spool, max_connections=settings.ews_max_connections),
        registry=registry,
        metrics=ServiceMetrics(registry, service),
        view=ViewGuard(client, settings.kafka_bootstrap, settings.topic_prefix, service, registry),
        record=record,
    )


def _parts(made: Made) -> tuple[Handler, PoisonHandler | None, Prepare | None, Revoked | None]:
    """The handler, and what else the service gave: its poison handler, its ``prepare`` (decoding ahead), and
    what it forgets of partitions taken from it (called on the polling thread, during a poll)."""
    if not isinstance(made, tuple):
        return made, None, None, None
    if len(made) == 2:
        return made[0], made[1], None, None
    if len(made) == 3:
        return made[0], made[1], made[2], None
    return made[0], made[1], made[2], made[3]


def run_service(service: str, settings: Settings, stop: threading.Event, reads: list[TopicSpec],
                make_handler: Callable[[ServiceContext], Made], *,
                batch_size: int = 200, linger: float = 0.0, batch_bytes: int = 0, context: ServiceContext | None = None,
                consumer_overrides: dict[str, object] | None = None) -> None:
    """Create topics, subscribe, serve health and metrics, and loop until ``stop``.

    Raises :class:`shared.kafka_edge.TopicMismatch` when the topics exist with other partition counts.
    """
    ctx = context or build_context(service, settings)

    def ensure_topics() -> list[str]:  # at start, and again when the broker comes back without them
        return kafka_edge.ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_partitions,
                                        specs=topics.registry(settings.undo_retention_hours))

    ensure_topics()
    try:
        ctx.view.ensure()
    except redis.RedisError as exc:  # Redis away at start: /readyz says so; each batch checks the view again
        log.warning("the Redis view was not checked at start", extra={"error": type(exc).__name__})
    consumer = kafka_edge.BatchConsumer(settings.kafka_bootstrap, f"{settings.topic_prefix}mailferry-{service}",
                                        [t.full_name(settings.topic_prefix) for t in reads],
                                        **(consumer_overrides or {}))
    made = make_handler(ctx)
    acts, poison, prepare, revoked = _parts(made)
    if revoked is not None:
        consumer.on_revoke(revoked)

    def handler(batch: list[Message]) -> list[tuple[str, int, int]]:
        ctx.view.ensure()  # Redis flushed or behind: rebuilt from the topics before the batch acts on it
        return acts(batch)

    source: Consumer = consumer
    if prepare is not None:  # the next batch is polled and prepared while this one is handled
        source = Prefetcher(consumer, prepare, batch_size=batch_size, linger=linger, batch_bytes=batch_bytes)
    watch = DependencyWatch(ctx.redis, ctx.producer, ctx.metrics,
                            broker_back=lambda: kafka_edge.after_outage(ensure_topics, ctx.producer, consumer)).start()
    loop = WorkerLoop(source, handler, ctx.metrics, ctx.redis, stop, poison=poison, batch_size=batch_size,
                      linger=linger, batch_bytes=batch_bytes, watch=watch,
                      broker_trouble=lambda: kafka_edge.after_outage(ensure_topics, ctx.producer, consumer))
    health = HealthServer(settings.http_port, ctx.registry, loop.ready, host=settings.bind_host)
    health.start()
    log.info("started", extra={"topics": [t.name for t in reads], "http_port": health.port})
    try:
        loop.run()
    finally:
        try:
            ctx.producer.flush(10)
        except kafka_edge.DeliveryFailed as exc:
            log.error("records left unsent at shutdown", extra={"error": str(exc)})
        health.stop()
        watch.stop()
        log.info("stopped")
