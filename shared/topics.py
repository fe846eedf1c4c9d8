"""The topic registry: every Kafka topic, its key, settings, producers and consumers.

One place so that the code that creates topics at start-up, the Strimzi
``KafkaTopic`` manifests and the README cannot drift apart (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# Partitions per topic unless MAILFERRY_TOPIC_PARTITIONS says otherwise: the ceiling on
# loader/extractor replicas that can work at once.
DEFAULT_PARTITIONS = 12


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the code creates it. ``name`` is the logical name; a prefix may be added."""

    name: str
    key: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    retention_ms: int
    max_message_bytes: int = 1_048_576
    cleanup_policy: str = "delete"
    purpose: str = ""

    def full_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


MIGRATIONS_REQUESTED = TopicSpec(
    name="migrations.requested",
    key="migration_id",
    producers=("intake", "tracker"),
    consumers=("extractor",),
    retention_ms=7 * DAY_MS,
    purpose="a migration was accepted (sealed credentials, options); the next operation is due",
)
MIGRATIONS_CONTROL = TopicSpec(
    name="migrations.control",
    key="migration_id",
    producers=("intake",),
    consumers=("loader",),
    retention_ms=7 * DAY_MS,
    purpose="cancel and undo commands (the loader runs undo; cancel is recorded for audit)",
)
EXTRACT_TASKS = TopicSpec(
    name="extract.tasks",
    key="migration_id/folder",
    producers=("extractor",),
    consumers=("extractor",),
    retention_ms=7 * DAY_MS,
    purpose="one task per folder UID range, so extractor replicas share a large mailbox",
)
ITEMS = TopicSpec(
    name="items",
    key="migration_id/folder",
    producers=("extractor",),
    consumers=("loader",),
    retention_ms=3 * DAY_MS,
    max_message_bytes=2_097_152,
    purpose="items in neutral formats (RFC 5322 bytes, chunked above the inline limit)",
)
PROGRESS = TopicSpec(
    name="progress",
    key="migration_id",
    producers=("extractor", "loader", "tracker"),
    consumers=("tracker",),
    retention_ms=7 * DAY_MS,
    purpose="plan, per-task and per-item results that the tracker folds into the status",
)
UNDO = TopicSpec(
    name="undo",
    key="migration_id",
    producers=("loader",),
    consumers=(),
    retention_ms=14 * DAY_MS,
    purpose="what the loader created or changed on the target, the durable undo log (Redis holds its index); "
            "kept longer than the undo window",
)
ITEMS_FAILED = TopicSpec(
    name="items.failed",
    key="migration_id",
    producers=("extractor", "loader"),
    consumers=(),
    retention_ms=14 * DAY_MS,
    max_message_bytes=2_097_152,
    purpose="dead letters with a reason: undecodable events and items a target refused",
)

TOPICS: tuple[TopicSpec, ...] = (
    MIGRATIONS_REQUESTED,
    MIGRATIONS_CONTROL,
    EXTRACT_TASKS,
    ITEMS,
    PROGRESS,
    UNDO,
    ITEMS_FAILED,
)

BY_NAME = {t.name: t for t in TOPICS}
