"""Metrics every service exports, built on a registry passed in (tests use a fresh one).

Names are a contract with the dashboards and alerts in ``deploy/k8s`` (a test
checks that every name used there is exported by a running service).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Metric name -> (type, label names). prometheus-client names; counters end in _total.
# The README documents these; tests check the dashboards and alerts use only these, and that running
# services export every one.
CATALOGUE: dict[str, tuple[str, frozenset[str]]] = {
    "mailferry_migrations": ("gauge", frozenset({"state"})),
    "mailferry_migrations_finished_total": ("counter", frozenset({"state"})),
    "mailferry_migration_duration_seconds": ("histogram", frozenset({"state"})),
    "mailferry_items_total": ("counter", frozenset({"service", "item_type", "result"})),
    "mailferry_item_bytes_total": ("counter", frozenset({"service", "item_type"})),
    "mailferry_errors_total": ("counter", frozenset({"service", "kind"})),
    "mailferry_dead_letters_total": ("counter", frozenset({"service", "reason"})),
    "mailferry_consumer_lag": ("gauge", frozenset({"service", "topic"})),
    "mailferry_dependency_up": ("gauge", frozenset({"service", "dependency"})),
    "mailferry_stage_seconds": ("histogram", frozenset({"service", "stage"})),
    "mailferry_migrations_stalled": ("gauge", frozenset()),
    "mailferry_undo_total": ("counter", frozenset({"result"})),
    "mailferry_intake_requests_total": ("counter", frozenset({"endpoint", "outcome"})),
    "mailferry_rebuild_seconds": ("histogram", frozenset({"service"})),
    "mailferry_rebuild_records_total": ("counter", frozenset({"service"})),
    "mailferry_projects": ("gauge", frozenset({"state"})),
    "mailferry_project_rows": ("gauge", frozenset({"state"})),
    "mailferry_project_messages": ("gauge", frozenset({"count"})),
}

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.service = service
        # Items handled, by type and result (extracted, done, skipped, failed).
        self.items = Counter("mailferry_items", "Items handled, by type and result",
                             ["service", "item_type", "result"], registry=registry)
        # Bytes of item content read (extractor) or written (loader).
        self.item_bytes = Counter("mailferry_item_bytes", "Bytes of item content handled",
                                  ["service", "item_type"], registry=registry)
        # Errors by kind (the error hierarchy's code): what to look at first when something is wrong.
        self.errors = Counter("mailferry_errors", "Errors by kind", ["service", "kind"], registry=registry)
        # Records sent to items.failed, by reason code.
        self.dead_letters = Counter("mailferry_dead_letters", "Dead letters by reason",
                                    ["service", "reason"], registry=registry)
        # Messages not yet committed on the partitions this process owns (KEDA scales on the group's).
        self.consumer_lag = Gauge("mailferry_consumer_lag", "Uncommitted messages per topic",
                                  ["service", "topic"], registry=registry)
        # Seconds per stage of a batch, e.g. loader decode/lookup/write/durable/commit, extractor plan/task.
        self.stage_seconds = Histogram("mailferry_stage_seconds", "Time per stage of a batch",
                                       ["service", "stage"], buckets=STAGE_BUCKETS, registry=registry)
        # 1 when the dependency answered at the last check.
        self.dependency_up = Gauge("mailferry_dependency_up", "Dependency reachable",
                                   ["service", "dependency"], registry=registry)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time one stage of a batch (decode, write, durable…): where a worker's time goes."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage_seconds.labels(self.service, name).observe(time.perf_counter() - t0)

    def item(self, item_type: str, result: str, n: int = 1, nbytes: int = 0) -> None:
        if n:
            self.items.labels(self.service, item_type, result).inc(n)
        if nbytes:
            self.item_bytes.labels(self.service, item_type).inc(nbytes)

    def error(self, kind: str) -> None:
        self.errors.labels(self.service, kind).inc()

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(self.service, reason).inc()
