"""Which extract tasks are small enough to be read together, in one pass on one session: one rule, two uses.

A small mailbox's folders are one task each; read one after another each costs its own round trips, read
together they cost two or three in all (:class:`shared.adapters.ports.GroupedSource`). The rule — at most
:data:`GROUP_TASKS` tasks and at most a task's size of messages in all (``MAILFERRY_TASK_SIZE``), every task
from a source that reads tasks together and none holding a message large enough to be read alone — decides
both whether a plan is read at once on the session that listed it (:func:`runs_now`) and which queued tasks
join a task taken from the queue (:func:`take_group`), so a plan read at planning is exactly a group the
queue would have read together. Pure code (the registry's descriptors are static facts).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from shared.adapters import registry
from shared.events import ExtractTask

GROUP_TASKS = 64  # at most this many small tasks read in one pass (their answers are held together)


def reads_grouped(task: ExtractTask) -> bool:
    """Whether the source reads several small tasks of one migration in one pass (:class:`GroupedSource`)."""
    found = registry.SYSTEMS.get(task.source.type)
    return found is not None and found.grouped_reads and not task.large


def messages_of(task: ExtractTask) -> int:
    """The messages a task reads: its UIDs, or its references for a source without UIDs."""
    return len(task.uids) + len(task.refs)


@dataclass
class Group:
    """Tasks being put together under the rule: a task joins while the group stays small enough."""

    most_messages: int
    tasks: int = 0
    messages: int = 0

    def join(self, task: ExtractTask) -> bool:
        """Take ``task`` into the group if it fits; False (the group unchanged) if it does not."""
        n = messages_of(task)
        if not reads_grouped(task) or self.tasks >= GROUP_TASKS or self.messages + n > self.most_messages:
            return False
        self.tasks += 1
        self.messages += n
        return True

    @property
    def full(self) -> bool:
        return self.tasks >= GROUP_TASKS or self.messages >= self.most_messages


def take_group(queue: deque[ExtractTask], first: ExtractTask, most_messages: int) -> list[ExtractTask]:
    """The queued tasks of ``first``'s migration read with it on its session, taken out of the queue (in queue
    order, each that still fits)."""
    group = Group(most_messages)
    if not group.join(first):
        return []
    taken: list[ExtractTask] = []
    for task in list(queue):
        if group.full:
            break
        if task.migration_id == first.migration_id and group.join(task):
            queue.remove(task)
            taken.append(task)
    return taken


def runs_now(tasks: Sequence[ExtractTask], most_messages: int) -> bool:
    """Whether a plan's tasks are read at once on the session that listed them, instead of being published: they
    make one group (a mailbox that fits in one task's size is copied on one session anyway,
    :meth:`services.extractor.service.Extractor._size_sessions`)."""
    group = Group(most_messages)
    return bool(tasks) and all(group.join(task) for task in tasks)
