"""Metrics every service exports, built on a registry passed in (tests use a fresh one).

Names are a contract with the dashboards and alerts in ``deploy/k8s`` (a test
checks that every name used there is exported by a running service).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        # 1 when the dependency answered at the last check.
        self.dependency_up = Gauge("mailferry_dependency_up", "Dependency reachable",
                                   ["service", "dependency"], registry=registry)

    def item(self, item_type: str, result: str, n: int = 1, nbytes: int = 0) -> None:
        if n:
            self.items.labels(self.service, item_type, result).inc(n)
        if nbytes:
            self.item_bytes.labels(self.service, item_type).inc(nbytes)

    def error(self, kind: str) -> None:
        self.errors.labels(self.service, kind).inc()

    def dead_letter(self, reason: str) -> None:
        self.dead_letters.labels(self.service, reason).inc()
