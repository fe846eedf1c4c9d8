"""The tracker's own metrics: migrations by state, how they end, how long they take."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import ServiceMetrics


class TrackerMetrics:
    def __init__(self, registry: CollectorRegistry, base: ServiceMetrics) -> None:
        self.base = base
        # Migrations currently in each state (from the status view; refreshed every few seconds).
        self.migrations = Gauge("mailferry_migrations", "Migrations by state", ["state"], registry=registry)
        # Migrations that reached a final state, by that state.
        self.finished = Counter("mailferry_migrations_finished", "Migrations that ended, by final state",
                                ["state"], registry=registry)
        # From creation to final state, by final state (p50/p95 on the dashboard).
        self.duration = Histogram("mailferry_migration_duration_seconds", "Migration duration",
                                  ["state"], registry=registry,
                                  buckets=(10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400))
        # Running migrations without progress for 15 minutes: the "stuck" alert.
        self.stalled = Gauge("mailferry_migrations_stalled", "Running migrations without progress for 15 min",
                             registry=registry)
        # Undo operations by result.
        self.undo = Counter("mailferry_undo", "Undo operations by result", ["result"], registry=registry)
