"""Every Redis key mailferry uses, in one place. All of it is derived state.

The status view and the report are rebuilt from the ``progress`` topic, the
ledger from the ``undo`` topic; the wrapped data keys are deliberately the only
copy (deleting one deletes the migration's credentials).
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


def projects() -> str:
    """Sorted set: project ids by creation time (the operator's list)."""
    return f"{PREFIX}:projects"


def project(pid: str) -> str:
    """Hash: a project's name, state, schedule, settings and counters."""
    return f"{PREFIX}:proj:{pid}"


def project_rows(pid: str) -> str:
    """Hash row number → JSON of the row (endpoints with passwords sealed, options, migration ids, pre-flight)."""
    return f"{PREFIX}:proj:{pid}:rows"


def project_errors(pid: str) -> str:
    """List of JSON ``{"upload", "line", "field", "reason"}``: every refused CSV line."""
    return f"{PREFIX}:proj:{pid}:errors"


def project_accounts(pid: str) -> str:
    """Hash source account → line: a source account is in a project once."""
    return f"{PREFIX}:proj:{pid}:accounts"


def project_key(pid: str) -> str:
    """The project's data key, wrapped under the master key: its rows' credentials are sealed under it."""
    return f"{PREFIX}:pdek:{pid}"


def project_lock(pid: str) -> str:
    """Held while one intake replica launches, checks or deletes a project's rows."""
    return f"{PREFIX}:proj:{pid}:lock"


def project_notice(pid: str) -> str:
    """The tracker's copy of a project's end (the ProjectEnded event) until its notification is sent."""
    return f"{PREFIX}:proj:{pid}:notice"


def project_error_records(pid: str) -> str:
    """Set of the keys (sequence numbers) under which a project's refused lines are on its topic."""
    return f"{PREFIX}:proj:{pid}:errorrecs"
