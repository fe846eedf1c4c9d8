"""Entry for ``mailferry service intake``: the API under uvicorn."""

from __future__ import annotations

import threading

import redis
import uvicorn
from prometheus_client import CollectorRegistry

from services.intake.app import Intake, create_app
from shared import kafka_edge
from shared.config import Settings
from shared.credential_seal import MasterKeys
from shared.metrics import ServiceMetrics


def serve(settings: Settings, stop: threading.Event) -> None:
    kafka_edge.ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_partitions)
    registry = CollectorRegistry()
    intake = Intake(settings, redis.Redis.from_url(settings.redis_url),
                    kafka_edge.EventProducer(kafka_edge.make_producer(settings.kafka_bootstrap, **{"linger.ms": 0}),
                                             settings.topic_prefix),
                    MasterKeys.parse(settings.secret_key), registry, ServiceMetrics(registry, "intake"),
                    settings.autodetect)
    config = uvicorn.Config(create_app(intake), host="0.0.0.0", port=settings.intake_port, log_config=None,
                            access_log=False)
    server = uvicorn.Server(config)

    def exit_on_stop() -> None:
        stop.wait()
        server.should_exit = True

    watcher = threading.Thread(target=exit_on_stop, daemon=True)
    watcher.start()
    server.run()
