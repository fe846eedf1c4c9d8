"""Which queued extract tasks run together on one session (a small mailbox's folders, read in one pass)."""

from __future__ import annotations

from collections import deque

from services.extractor.service import GROUP_TASKS, runs_now, take_group
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
    queue = deque(task("a", f"F{i}", 1) for i in range(GROUP_TASKS + 10))
    taken = take_group(queue, task("a", "INBOX", 1), 10_000)
    assert len(taken) == GROUP_TASKS and len(queue) == 10


def test_a_small_mailbox_of_small_tasks_is_read_at_planning() -> None:
    """Up to one task's size of messages, every task small and from a source that reads them together: read on
    the session that listed them. Otherwise (more messages, a large message, a task-by-task source) published."""
    small = [task("a", "INBOX", 30), task("a", "Sent", 20)]
    assert runs_now(small, 50)
    assert not runs_now(small, 49)
    assert not runs_now([*small, task("a", "huge", 1, large=True)], 500)
    assert not runs_now([task("p", "INBOX", 3, source=POP3)], 500)
    assert not runs_now([], 500)
    assert not runs_now([task("a", f"F{i}", 1) for i in range(GROUP_TASKS + 1)], 10_000)
