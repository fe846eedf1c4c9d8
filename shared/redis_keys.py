"""Every Redis key mailferry uses, in one place. All of it is derived state.

Every key here is rebuilt from the topics when Redis was flushed, restarted empty or is behind
(:mod:`shared.view_rebuild`): the status view, its history, results and report, the spec and the
wrapped data key from ``migrations.record``; the ledger and in-flight marks from ``ledger``; the
undo index from ``undo``. Plan locks and rate-limit windows are not rebuilt (losing them repeats a
plan, which the ledger makes harmless, or forgets a minute of login checks).
"""

from __future__ import annotations

PREFIX = "mf"


def migration(mid: str) -> str:
    """Hash: state, timestamps, login hash, counters ``<result>:<item_type>``."""
    return f"{PREFIX}:mig:{mid}"


def spec(mid: str) -> str:
    """The MigrationRequested event as JSON (passwords sealed): loaders read the target from it."""
    return f"{PREFIX}:mig:{mid}:spec"


def results(mid: str) -> str:
    """Hash item_key → result: makes every progress report idempotent."""
    return f"{PREFIX}:mig:{mid}:results"


def report(mid: str) -> str:
    """List of JSON lines: every skipped or failed item with its reason."""
    return f"{PREFIX}:mig:{mid}:report"


def errors(mid: str) -> str:
    """List: the first errors, for the status view."""
    return f"{PREFIX}:mig:{mid}:errors"


def history(mid: str) -> str:
    """List of JSON ``{"state", "at"}``: every transition with its time."""
    return f"{PREFIX}:mig:{mid}:history"


def data_key(mid: str) -> str:
    """The migration's data key, wrapped under the master key. Deleted at the final state."""
    return f"{PREFIX}:dek:{mid}"


def by_state(state: str) -> str:
    """Set of migration ids in this state (for the metrics gauge)."""
    return f"{PREFIX}:state:{state}"


def ledger(pair_id: str) -> str:
    """Hash item_key → JSON of where the item went on the target, per source/target pair."""
    return f"{PREFIX}:ledger:{pair_id}"


def inflight(pair_id: str) -> str:
    """Set of item_keys whose APPEND may have happened without a record yet."""
    return f"{PREFIX}:inflight:{pair_id}"


def rules_before(pair_id: str) -> str:
    """Hash rule item_key → JSON list of the target's rule ids before that rule was first written:
    a rule that was already there is never taken for the one mailferry created."""
    return f"{PREFIX}:rulesbefore:{pair_id}"


def undo_index(mid: str) -> str:
    """List of JSON created-things for one migration, in creation order (the undo index)."""
    return f"{PREFIX}:mig:{mid}:undo"


def plan_lock(mid: str, operation: str) -> str:
    """"planning" while an extractor plans the operation, "done" after: a repeated request plans nothing."""
    return f"{PREFIX}:mig:{mid}:plan:{operation}"


def rate(kind: str, key: str) -> str:
    """Sorted set: the times of one subject's login checks in the last minute (intake's rate limits)."""
    return f"{PREFIX}:rl:{kind}:{key}"


#: The view's mark: the Redis ``run_id`` its view was rebuilt in. Missing (Redis flushed or restarted
#: empty) or another run_id (restarted from a file that may be behind) means: rebuild from the topics.
VIEW = f"{PREFIX}:view"
#: Held by the one process rebuilding the view; the others wait for :data:`VIEW`.
REBUILD_LOCK = f"{PREFIX}:view:rebuilding"
