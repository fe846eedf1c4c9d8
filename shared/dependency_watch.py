"""Is Redis up, is the broker up: probed in the background, read at once by readiness and the API.

A probe that waits on an unreachable server must never hold up a request, a Kubernetes probe or a
worker's loop, so a thread asks both every second (with short timeouts) and the others read its last
answer. The answer per dependency is ``"up"`` or why not, and goes to ``/readyz`` and to the
``mailferry_dependency_up`` gauge (label ``kafka`` for the broker, as the alerts expect).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import redis

from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

UP = "up"
#: Seconds a client is told to wait (``Retry-After``) while a dependency is down: about two probe rounds.
RETRY_AFTER_SECONDS = 5


class BrokerProbe(Protocol):
    def reachable(self, timeout: float = 2.0) -> str: ...


def probe_client(client: redis.Redis) -> redis.Redis:
    """A client to the same Redis whose calls give up after 2 s (the service's own may wait longer)."""
    pool = client.connection_pool
    kwargs: dict[str, Any] = dict(pool.connection_kwargs)
    kwargs.update(socket_timeout=2.0, socket_connect_timeout=2.0)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, max_connections=2,
                                                            **kwargs))


class DependencyWatch:
    """The last known state of Redis and the broker, refreshed every ``interval`` seconds by a thread."""

    def __init__(self, redis_client: redis.Redis, broker: BrokerProbe, metrics: ServiceMetrics | None = None,
                 interval: float = 1.0, broker_back: Callable[[], None] | None = None) -> None:
        """``broker_back`` runs when the broker answers again after an outage: a broker that lost its
        data (the local one keeps it in memory) needs its topics created again, with the registry's settings."""
        self._redis = probe_client(redis_client)
        self._broker = broker
        self._broker_back = broker_back
        self._metrics = metrics
        self._interval = interval
        self._state = {"redis": "not checked yet", "broker": "not checked yet"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dependency-watch", daemon=True)

    def start(self) -> DependencyWatch:
        self.check()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def state(self) -> dict[str, str]:
        return dict(self._state)

    def down(self) -> list[str]:
        """The dependencies that did not answer at the last check (``redis``, ``broker``)."""
        return [name for name, how in self._state.items() if how != UP]

    def check(self) -> dict[str, str]:
        try:
            self._redis.ping()
            redis_state = UP
        except redis.RedisError as exc:
            redis_state = f"unreachable: {type(exc).__name__}"
        broker_state = self._broker.reachable(2.0) or UP
        if broker_state == UP and self._state["broker"] not in (UP, "not checked yet") and self._broker_back:
            try:
                self._broker_back()
            except Exception as exc:  # e.g. the topics came back with other settings: say so, stay not ready
                log.error("broker back, but its topics cannot be used", extra={"error": str(exc)[:500]})
                broker_state = f"topics unusable: {str(exc)[:200]}"
        changed = {"redis": redis_state, "broker": broker_state} != self._state
        self._state = {"redis": redis_state, "broker": broker_state}
        if changed:
            log.info("dependencies", extra={"redis": redis_state, "broker": broker_state})
        if self._metrics is not None:
            gauge = self._metrics.dependency_up
            gauge.labels(self._metrics.service, "redis").set(1 if redis_state == UP else 0)
            gauge.labels(self._metrics.service, "kafka").set(1 if broker_state == UP else 0)
        return self.state()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception as exc:  # a probe must never end the watch
                log.warning("dependency check failed", extra={"error": type(exc).__name__})
