"""The topic registry: every Kafka topic, its key, settings, producers and consumers.

One place so that the code that creates topics at start-up, the Strimzi
``KafkaTopic`` manifests and the README cannot drift apart (a test compares them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    #: Read from its beginning by a service that rebuilds its Redis view (no consumer group).
    rebuilds: bool = False

    def full_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"


MIGRATIONS_REQUESTED = TopicSpec(
    name="migrations.requested",
    key="migration_id",
    producers=("intake", "tracker"),
    consumers=("extractor", "loader"),
    retention_ms=7 * DAY_MS,
    purpose="a migration was accepted (sealed credentials, options); the next operation is due "
            "(the loader logs in to the target meanwhile)",
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
    key="migration_id/folder (a small mailbox and every migration's folder events: migration_id)",
    producers=("extractor",),
    consumers=("loader",),
    retention_ms=3 * DAY_MS,
    max_message_bytes=2_097_152,
    purpose="items in neutral formats (RFC 5322 bytes, chunked above the inline limit)",
)
PROGRESS = TopicSpec(
    name="progress",
    key="migration_id",
    producers=("extractor", "loader", "tracker", "intake"),
    consumers=("tracker",),
    retention_ms=7 * DAY_MS,
    purpose="plan, per-task and per-item results that the tracker folds into the status; a project's end "
            "(intake), which the tracker notifies",
)
#: The undo topic's retention unless MAILFERRY_UNDO_RETENTION_HOURS says otherwise; it must exceed the undo
#: window by at least :data:`UNDO_RETENTION_MARGIN_HOURS` (the settings refuse less).
DEFAULT_UNDO_RETENTION_HOURS = 14 * 24
UNDO_RETENTION_MARGIN_HOURS = 24
UNDO = TopicSpec(
    name="undo",
    key="migration_id",
    producers=("loader",),
    consumers=(),
    retention_ms=DEFAULT_UNDO_RETENTION_HOURS * HOUR_MS,
    purpose="what the loader created or changed on the target, the durable undo log (Redis holds its index); "
            "kept longer than the undo window plus a margin",
    rebuilds=True,
)
# Compacted: the latest record per key is kept for good (retention -1), a tombstone removes a key.
MIGRATIONS_RECORD = TopicSpec(
    name="migrations.record",
    key="spec:<mid> | dek:<mid> | status:<mid>:<writer> | result:<mid>|<item_key> | notice:<project_id>",
    producers=("intake", "tracker"),
    consumers=(),
    retention_ms=-1,
    cleanup_policy="compact",
    purpose="the migration's record: spec (sealed), wrapped data key (tombstoned at the final state), "
            "status snapshots with their history, one result per item; a project's end notice until it is told",
    rebuilds=True,
)
LEDGER = TopicSpec(
    name="ledger",
    key="<pair_id>|<item_key>",
    producers=("loader", "extractor"),
    consumers=(),
    retention_ms=-1,
    cleanup_policy="compact",
    purpose="where each source item went on the target, per pair (or an in-flight mark); "
            "a tombstone when undo removed it; the path each source folder was given on the target (extractor)",
    rebuilds=True,
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

PROJECTS = TopicSpec(
    name="projects",
    key="project_id[/row/N|/errors/N] | dek:<project_id>",
    producers=("intake",),
    consumers=("intake",),
    retention_ms=400 * DAY_MS,
    cleanup_policy="compact",
    purpose="operators' projects: each project's fields, its wrapped data key, each row (credentials sealed), "
            "each upload's refused lines, the latest per key; a deleted project leaves tombstones. Intake rebuilds "
            "Redis from it",
)

TOPICS: tuple[TopicSpec, ...] = (
    MIGRATIONS_REQUESTED,
    MIGRATIONS_CONTROL,
    EXTRACT_TASKS,
    ITEMS,
    PROGRESS,
    UNDO,
    ITEMS_FAILED,
    PROJECTS,
    MIGRATIONS_RECORD,
    LEDGER,
)

BY_NAME = {t.name: t for t in TOPICS}


def registry(undo_retention_hours: float = DEFAULT_UNDO_RETENTION_HOURS) -> tuple[TopicSpec, ...]:
    """The topics as configured: the undo topic's retention follows the settings."""
    undo = replace(UNDO, retention_ms=int(undo_retention_hours * HOUR_MS))
    return tuple(undo if t.name == UNDO.name else t for t in TOPICS)
