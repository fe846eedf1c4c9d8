"""Entry for ``mailferry service intake``: the API under uvicorn.

uvicorn listens on ``MAILFERRY_BIND_HOST`` (loopback unless configured) and believes X-Forwarded-For
only from ``MAILFERRY_TRUSTED_PROXIES`` (:mod:`services.intake.forwarding`): the client address is what login
checks are rate-limited by, so a header anyone can send must not choose it.
"""

from __future__ import annotations

import logging
import threading

import redis
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.intake.app import create_app
from services.intake.connection_guard import ConnectionLimits, guarded_protocol
from services.intake.forwarding import uvicorn_options
from services.intake.intake import Intake
from services.intake.project_loop import ProjectLoop
from services.intake.project_topic import TopicLog, rebuild
from services.intake.projects import Projects
from shared import kafka_edge, topics
from shared.config import Settings
from shared.credential_seal import MasterKeys
from shared.dependency_watch import DependencyWatch
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """Where to listen, whose forwarded headers to believe (none unless configured), and how long and how many
    connections may wait (:mod:`services.intake.connection_guard`: h11 always, whatever else is installed; no
    WebSocket upgrades, intake has none; no ``limit_concurrency``, whose refusal is a 503)."""
    limits = ConnectionLimits(head_seconds=settings.head_timeout_seconds,
                              per_client=settings.max_connections_per_client, total=settings.max_connections,
                              trusted_proxies=settings.trusted_proxies)
    return uvicorn.Config(app, host=settings.bind_host, port=settings.intake_port, log_config=None,
                          access_log=False, http=guarded_protocol(limits), ws="none",
                          timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]  # float works
                          **uvicorn_options(settings.trusted_proxies))


def run_projects(loop: ProjectLoop, stop: threading.Event) -> None:
    """Every second: launch the projects that are due, mark the ones whose rows have all ended, delete the
    expired ones (every replica runs it; a lock per project lets one at a time act)."""
    while not stop.wait(1.0):
        try:
            loop.tick()
        except redis.RedisError as exc:
            log.warning("projects not looked at", extra={"error": str(exc)})
        except Exception:
            log.exception("projects loop failed; it goes on")


def serve(settings: Settings, stop: threading.Event) -> None:
    def ensure_topics() -> list[str]:  # at start, and again when the broker comes back without them
        return kafka_edge.ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_partitions,
                                        specs=topics.registry(settings.undo_retention_hours))

    ensure_topics()
    registry = CollectorRegistry()
    client = redis.Redis.from_url(settings.redis_url)
    metrics = ServiceMetrics(registry, "intake")
    # A request waits at most this long for the broker; then the record is given up, never sent later.
    producer = kafka_edge.event_producer(settings.kafka_bootstrap, settings.topic_prefix,
                                         **{"linger.ms": 0, "message.timeout.ms": 20_000})
    watch = DependencyWatch(client, producer, metrics,
                            broker_back=lambda: kafka_edge.after_outage(ensure_topics, producer)).start()
    intake = Intake(settings, client, producer, MasterKeys.parse(settings.secret_key), registry, metrics,
                    settings.autodetect, watch)
    projects = Projects(intake, TopicLog(intake.producer))
    rebuild(projects.store, settings.kafka_bootstrap, settings.topic_prefix)
    server = uvicorn.Server(server_config(create_app(intake, projects), settings))

    def exit_on_stop() -> None:
        stop.wait()
        server.should_exit = True

    watcher = threading.Thread(target=exit_on_stop, daemon=True)
    watcher.start()
    threading.Thread(target=run_projects, args=(ProjectLoop(projects), stop), name="projects", daemon=True).start()
    server.run()
