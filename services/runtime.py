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
from prometheus_client import CollectorRegistry

from shared import ews_connection, kafka_edge
from shared.config import Settings
from shared.credential_seal import MasterKeys
from shared.credentials import CredentialStore
from shared.imap_connection import ConnectOptions
from shared.metrics import ServiceMetrics
from shared.service_runtime import HealthServer
from shared.topics import TopicSpec
from shared.worker_loop import Handler, PoisonHandler, WorkerLoop

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    settings: Settings
    redis: redis.Redis
    producer: kafka_edge.EventProducer
    credentials: CredentialStore
    connect_options: ConnectOptions
    registry: CollectorRegistry
    metrics: ServiceMetrics


def build_context(service: str, settings: Settings) -> ServiceContext:
    client = redis.Redis.from_url(settings.redis_url)
    registry = CollectorRegistry()
    opts = ConnectOptions(allow=settings.allow_hosts, ca_file=settings.ca_file, timeout=settings.connect_timeout)
    ews_connection.configure(opts, settings.ews_max_connections)
    return ServiceContext(
        settings=settings,
        redis=client,
        producer=kafka_edge.EventProducer(kafka_edge.make_producer(settings.kafka_bootstrap), settings.topic_prefix),
        credentials=CredentialStore(client, MasterKeys.parse(settings.secret_key)),
        connect_options=opts,
        registry=registry,
        metrics=ServiceMetrics(registry, service),
    )


def run_service(service: str, settings: Settings, stop: threading.Event, reads: list[TopicSpec],
                make_handler: Callable[[ServiceContext], Handler | tuple[Handler, PoisonHandler]], *,
                batch_size: int = 200, context: ServiceContext | None = None) -> None:
    """Create topics, subscribe, serve health and metrics, and loop until ``stop``."""
    ctx = context or build_context(service, settings)
    kafka_edge.ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_partitions)
    consumer = kafka_edge.BatchConsumer(settings.kafka_bootstrap, f"{settings.topic_prefix}mailferry-{service}",
                                        [t.full_name(settings.topic_prefix) for t in reads])
    made = make_handler(ctx)
    handler, poison = made if isinstance(made, tuple) else (made, None)
    loop = WorkerLoop(consumer, handler, ctx.metrics, ctx.redis, stop, batch_size=batch_size, poison=poison)
    health = HealthServer(settings.http_port, ctx.registry, loop.ready)
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
        log.info("stopped")
