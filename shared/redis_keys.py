"""Every Redis key mailferry uses, in one place. All of it is derived state.

Every key here is rebuilt from the topics when Redis was flushed, restarted empty or is behind
(:mod:`shared.view_rebuild`): the status view, its history, results and report, the spec and the
wrapped data key from ``migrations.record``; the ledger, in-flight marks and rule snapshots from
``ledger``; the undo index from ``undo``; the notification queue's owed jobs derived from the statuses
and a project's end notice while it is owed (``shared.notify_due``). Plan locks, rate-limit windows, Graph
delta checkpoints, session leases and back-offs are not rebuilt: losing them repeats work the ledger makes
harmless, or forgets a moment of counting (README "Durability").
"""

from __future__ import annotations

import re

PREFIX = "mf"

#: What the ids this service makes look like (URL-safe base64 letters; a project's with a leading "p").
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def well_formed_id(value: str) -> bool:
    """Whether ``value`` can be an id this service made. Only such an id may become part of a key named by a
    request: ``<id>:spec`` would name another key of the migration, of another type (Redis answers WRONGTYPE,
    which was a 503), and ``*`` or ``:`` have no business in one."""
    return _ID.fullmatch(value) is not None


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


def state_prefix() -> str:
    """The start of every :func:`by_state` key (a Lua script appends the state)."""
    return f"{PREFIX}:state:"


def graph_delta(scope_digest: str) -> str:
    """Hash: a Graph folder's delta checkpoint, named by a digest of its scope (no login in the keyspace)."""
    return f"mailferry:graph:delta:{scope_digest}"


def graph_budget(digest: str) -> str:
    """The stem of a Graph request budget per app and mailbox (``:slots`` and ``:requests`` hang off it)."""
    return f"mailferry:graph:budget:{digest}"


def sign_in(kind: str, digest: str) -> str:
    """A sealed, short-lived sign-in record (a started flow, or a finished sign-in's tokens)."""
    return f"mailferry:sign-in:{kind}:{digest}"


# The notification queue (the tracker's): the ready list, the delayed retries, the holders, and per holder
# its processing list and lease. "mf:notify" is the earlier queue's key: jobs queued before an upgrade are sent.
NOTIFY_READY = f"{PREFIX}:notify"
NOTIFY_DELAYED = f"{PREFIX}:notify:delayed"
NOTIFY_HOLDERS = f"{PREFIX}:notify:holders"


def notify_processing(holder: str) -> str:
    return f"{PREFIX}:notify:processing:{holder}"


def notify_lease(holder: str) -> str:
    return f"{PREFIX}:notify:lease:{holder}"


def host_sessions(host: str) -> str:
    """Sorted set lease id → expiry (ms, Redis time): the sessions every replica holds to one server host."""
    return f"{PREFIX}:sessions:host:{host}"


def account_sessions(account: str) -> str:
    """Sorted set lease id → expiry: the sessions held to one account (named by a hash, no login)."""
    return f"{PREFIX}:sessions:account:{account}"


def host_freed(host: str) -> str:
    """A list a lease's release pushes to, for a moment: a replica waiting for a lease on the host blocks on it
    (BLPOP), so it tries again as soon as one is given back instead of at its next poll."""
    return f"{PREFIX}:sessions:freed:{host}"


def host_wanted(host: str) -> str:
    """Set for a moment while a replica waits for a lease on the host: the others close their idle sessions there."""
    return f"{PREFIX}:sessions:wanted:{host}"


def host_backoff(host: str) -> str:
    """The time (ms, Redis time) until which every replica leaves a throttling host alone; expires then."""
    return f"{PREFIX}:backoff:{host}"


def host_backoff_level(host: str) -> str:
    """The length (ms) of the host's last back-off: the next one within a while is twice as long."""
    return f"{PREFIX}:backoff:{host}:level"


def extract_task_done(mid: str, task_id: str) -> str:
    """Set once a task's output (and the next task of its chain) is flushed to Kafka: it is not run again."""
    return f"{PREFIX}:mig:{mid}:taskdone:{task_id}"


def flow_extracted(mid: str) -> str:
    """Counter: messages of the migration the extractors sent to ``items``."""
    return f"{PREFIX}:mig:{mid}:flow:extracted"


def flow_loaded(mid: str) -> str:
    """Counter: messages of the migration the loaders took in."""
    return f"{PREFIX}:mig:{mid}:flow:loaded"


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
    """The tracker's copy of a project's end (the ProjectEnded event) until its notification is sent; rebuilt
    from ``notice:<pid>`` on ``migrations.record`` while that is there (not yet told)."""
    return f"{PREFIX}:proj:{pid}:notice"


def project_error_records(pid: str) -> str:
    """Set of the keys (sequence numbers) under which a project's refused lines are on its topic."""
    return f"{PREFIX}:proj:{pid}:errorrecs"


#: The view's mark: the Redis ``run_id`` its view was rebuilt in. Missing (Redis flushed or restarted
#: empty) or another run_id (restarted from a file that may be behind) means: rebuild from the topics.
VIEW = f"{PREFIX}:view"
#: Held by the one process rebuilding the view; the others wait for :data:`VIEW`.
REBUILD_LOCK = f"{PREFIX}:view:rebuilding"
