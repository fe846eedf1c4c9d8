"""Which extract tasks are read together on one session (a small mailbox's folders, read in one pass): one rule
for the queue's groups and for the plans read at planning, tested at its edges (64 tasks, a task's size of
messages)."""

from __future__ import annotations

from collections import deque

import pytest

from services.extractor.read_together import GROUP_TASKS, runs_now, take_group
from shared.events import EndpointSpec, ExtractTask, FolderRef

IMAP = EndpointSpec(type="imap", host="h", port=993, security="tls", login="l", password_sealed="x.y")
POP3 = EndpointSpec(type="pop3", host="h", port=995, security="tls", login="l", password_sealed="x.y")


def task(mid: str, name: str, n: int, *, large: bool = False, source: EndpointSpec = IMAP) -> ExtractTask:
    return ExtractTask(migration_id=mid, task_id=f"{mid}:{name}", source=source,
                       folder=FolderRef(folder_id=name, path=[name], source_name=name), uidvalidity=1,
                       uids=list(range(1, n + 1)), large=large)


def test_small_tasks_of_the_same_migration_join_up_to_the_message_budget() -> None:
    first = task("a", "INBOX", 40)
    queue = deque([task("b", "INBOX", 5), task("a", "Sent", 30), task("a", "Big", 500), task("a", "huge", 1, large=True),
                   task("a", "Drafts", 20), task("a", "Junk", 15)])
    taken = take_group(queue, first, 100)
    # 40 + 30 + 20 = 90; Junk's 15 would pass 100; Big is over the room, the large one is read alone.
    assert [t.task_id for t in taken] == ["a:Sent", "a:Drafts"]
    assert [t.task_id for t in queue] == ["b:INBOX", "a:Big", "a:huge", "a:Junk"]


def test_a_large_task_or_a_source_that_reads_task_by_task_takes_no_group() -> None:
    queue = deque([task("a", "Sent", 3), task("p", "INBOX2", 3, source=POP3)])
    assert take_group(queue, task("a", "huge", 1, large=True), 500) == []
    assert take_group(queue, task("p", "INBOX", 3, source=POP3), 500) == []
    assert len(queue) == 2


def test_a_group_holds_a_bounded_number_of_tasks() -> None:
    assert GROUP_TASKS == 64
    queue = deque(task("a", f"F{i}", 1) for i in range(70))
    taken = take_group(queue, task("a", "INBOX", 1), 10_000)
    assert len(taken) == 63 and len(queue) == 7  # 64 with the first


def test_a_group_holds_a_tasks_size_of_messages_at_most() -> None:
    queue = deque([task("a", "Sent", 60), task("a", "Drafts", 1)])
    assert [t.task_id for t in take_group(queue, task("a", "INBOX", 40), 100)] == ["a:Sent"]  # 100: full
    queue = deque([task("a", "Sent", 61), task("a", "Drafts", 59)])
    assert [t.task_id for t in take_group(queue, task("a", "INBOX", 40), 100)] == ["a:Drafts"]  # 101 is over
    assert take_group(deque([task("a", "Sent", 1)]), task("a", "INBOX", 101), 100) == []  # the first alone is over
    refs = ExtractTask(migration_id="a", task_id="a:refs", source=IMAP, uids=[], refs=[f"r{i}" for i in range(80)],
                       folder=FolderRef(folder_id="R", path=["R"], source_name="R"), uidvalidity=0)
    assert take_group(deque([refs]), task("a", "INBOX", 40), 100) == []  # 80 references are 80 messages


def test_a_small_mailbox_of_small_tasks_is_read_at_planning() -> None:
    """Up to one task's size of messages, every task small and from a source that reads them together: read on
    the session that listed them. Otherwise (more messages, a large message, a task-by-task source) published."""
    small = [task("a", "INBOX", 30), task("a", "Sent", 20)]
    assert runs_now(small, 50)
    assert not runs_now(small, 49)
    assert not runs_now([*small, task("a", "huge", 1, large=True)], 500)
    assert not runs_now([task("p", "INBOX", 3, source=POP3)], 500)
    assert not runs_now([], 500)
    assert runs_now([task("a", f"F{i}", 1) for i in range(64)], 10_000)
    assert runs_now([task("a", "INBOX", 100)], 100) and not runs_now([task("a", "INBOX", 101)], 100)
    assert not runs_now([task("a", f"F{i}", 1) for i in range(65)], 10_000)


@pytest.mark.parametrize(("tasks", "sizes", "most"), [
    (64, 1, 10_000), (65, 1, 10_000), (2, 50, 100), (3, 50, 100), (1, 100, 100), (2, 51, 101), (40, 3, 120),
])
def test_a_plan_is_read_at_planning_exactly_when_the_queue_would_read_it_as_one_group(
        tasks: int, sizes: int, most: int) -> None:
    """The same rule both ways: what runs now is what take_group would have put in one group, at the edges of
    the number of tasks and of the messages."""
    plan = [task("a", f"F{i}", sizes) for i in range(tasks)]
    queue = deque(plan[1:])
    together = len(take_group(queue, plan[0], most)) == tasks - 1
    fits = tasks <= 64 and tasks * sizes <= most  # the rule, written out
    assert runs_now(plan, most) == together == fits
