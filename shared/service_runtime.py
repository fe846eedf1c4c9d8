"""What every worker process shares: /healthz, /readyz and /metrics, and a stop signal.

Readiness means something: false while the Kafka consumer has no partitions, or
Redis or the broker does not answer, so Kubernetes sends no traffic and KEDA sees
the truth. ``/readyz`` answers JSON that names each check: ``{"status": "ready" |
"not ready", "checks": {"redis": "up", "broker": "up", "consumer": "assigned"}}``.
SIGTERM sets the stop event; the worker finishes the batch in flight, commits
and exits (graceful shutdown within the termination grace period).
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


Checks = dict[str, str]


def readiness_body(ok: bool, checks: Checks) -> bytes:
    """The body of ``/readyz``, the same for intake and the workers."""
    return json.dumps({"status": "ready" if ok else "not ready", "checks": checks}).encode() + b"\n"


class HealthServer:
    """A tiny HTTP server in a thread; ``ready`` returns (ok, what each check found).

    It listens on loopback unless told otherwise (``MAILFERRY_BIND_HOST``): on a shared machine,
    metrics are nobody else's business; in a pod, 0.0.0.0 is the pod's own network.
    """

    def __init__(self, port: int, registry: CollectorRegistry, ready: Callable[[], tuple[bool, Checks]],
                 host: str = "127.0.0.1") -> None:
        self.registry = registry
        self.ready = ready
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok, checks = outer.ready()
                    self._send(200 if ok else 503, readiness_body(ok, checks), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the worker's loop checks it between batches."""
    stop = threading.Event()

    def _handler(signum: int, _frame: object) -> None:
        log.info("stopping on signal", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop
