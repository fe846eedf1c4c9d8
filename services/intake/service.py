"""Entry for ``mailferry service intake``: the API under uvicorn.

uvicorn listens on ``MAILFERRY_BIND_HOST`` (loopback unless configured) and believes X-Forwarded-For
only from ``MAILFERRY_TRUSTED_PROXIES``: the client address is what login checks are rate-limited by,
so a header anyone can send must not choose it.
"""

from __future__ import annotations

import threading

import redis
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.intake.app import create_app
from services.intake.intake import Intake
from shared import kafka_edge, topics
from shared.config import Settings
from shared.credential_seal import MasterKeys
from shared.metrics import ServiceMetrics


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """Where to listen, and whose forwarded headers to believe (none unless configured)."""
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(app, host=settings.bind_host, port=settings.intake_port, log_config=None,
                          access_log=False, proxy_headers=bool(trusted), forwarded_allow_ips=trusted)


def serve(settings: Settings, stop: threading.Event) -> None:
    kafka_edge.ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_partitions,
                             specs=topics.registry(settings.undo_retention_hours))
    registry = CollectorRegistry()
    intake = Intake(settings, redis.Redis.from_url(settings.redis_url),
                    kafka_edge.EventProducer(kafka_edge.make_producer(settings.kafka_bootstrap, **{"linger.ms": 0}),
                                             settings.topic_prefix),
                    MasterKeys.parse(settings.secret_key), registry, ServiceMetrics(registry, "intake"),
                    settings.autodetect)
    server = uvicorn.Server(server_config(create_app(intake), settings))

    def exit_on_stop() -> None:
        stop.wait()
        server.should_exit = True

    watcher = threading.Thread(target=exit_on_stop, daemon=True)
    watcher.start()
    server.run()
