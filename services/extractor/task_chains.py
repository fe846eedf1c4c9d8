"""A migration's tasks as a few chains, so one big mailbox cannot fill the task queue. Pure code.

The planner publishes only the head of each chain; a task carries the rest of its chain, and the
extractor publishes the next one (to the end of the queue) in the same flush as the task's output.
So a migration has at most ``share`` tasks waiting in ``extract.tasks`` at any time, and a migration
started later waits behind at most ``share`` tasks of each one running, whatever their size.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.events import ExtractTask, TaskLink
from shared.uid_sets import expand_uid_set, uid_set


def chained(tasks: Sequence[ExtractTask], share: int) -> list[ExtractTask]:
    """The heads of ``share`` chains dealt round-robin from ``tasks`` (kept in their order: large first)."""
    share = max(1, share)
    chains: list[list[ExtractTask]] = [list(tasks[i::share]) for i in range(min(share, len(tasks)))]
    return [head.model_copy(update={"chain": [_link(t) for t in rest]}) for head, *rest in chains]


def next_in_chain(task: ExtractTask) -> ExtractTask | None:
    """The task after ``task`` in its chain, carrying the rest of it and what a chain shares (the date window,
    the items' key), or None at the chain's end."""
    if not task.chain:
        return None
    link, rest = task.chain[0], task.chain[1:]
    return ExtractTask(migration_id=task.migration_id, task_id=link.task_id, source=task.source, folder=link.folder,
                       uidvalidity=link.uidvalidity, uids=expand_uid_set(link.uids) if link.uids else [],
                       refs=list(link.refs), large=link.large, look_first=link.look_first, chain=list(rest),
                       received_before=task.received_before, received_since=task.received_since,
                       keyed_by_migration=task.keyed_by_migration)


def chain_length(task: ExtractTask) -> int:
    return 1 + len(task.chain)


def _link(task: ExtractTask) -> TaskLink:
    return TaskLink(task_id=task.task_id, folder=task.folder, uidvalidity=task.uidvalidity,
                    uids=uid_set(task.uids) if task.uids else "", refs=list(task.refs), large=task.large,
                    look_first=task.look_first)
