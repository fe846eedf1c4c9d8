"""How the loader groups a batch: runs per folder, and APPEND groups bounded by count and bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from services.loader import load
from services.loader.load import FolderWork, MailWork, Work, append_groups, outgoing, runs_by_folder
from shared.events import FolderRef, MailMeta

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
A = FolderRef(folder_id="a", path=["A"])
B = FolderRef(folder_id="b", path=["B"])


def mail(folder: FolderRef, n: int, size: int = 1) -> MailWork:
    meta = MailMeta(item_key=f"{folder.folder_id}:1:{n}", folder=folder, flags=["\\Seen", "\\Recent"],
                    internaldate=WHEN, size=size, message_id=f"<{n}@x>")
    return MailWork(meta=meta, data=b"x" * size)


def shape(runs: list[list[Work]]) -> list[list[str]]:
    return [[w.folder.folder_id + "/dir" if isinstance(w, FolderWork) else w.meta.item_key for w in r] for r in runs]


def test_runs_group_consecutive_mail_of_one_folder() -> None:
    work: list[Work] = [mail(A, 1), mail(A, 2), mail(B, 3), mail(A, 4)]
    runs = list(runs_by_folder(work))
    assert shape(runs) == [["a:1:1", "a:1:2"], ["b:1:3"], ["a:1:4"]]
    assert [w for r in runs for w in r] == work


def test_folder_work_is_always_a_run_of_its_own() -> None:
    work: list[Work] = [FolderWork(A), FolderWork(A), mail(A, 1), mail(A, 2), FolderWork(B), mail(B, 3)]
    runs = list(runs_by_folder(work))
    assert shape(runs) == [["a/dir"], ["a/dir"], ["a:1:1", "a:1:2"], ["b/dir"], ["b:1:3"]]
    assert [w for r in runs for w in r] == work


def test_runs_of_nothing() -> None:
    assert list(runs_by_folder([])) == []


def test_append_groups_bounded_by_count() -> None:
    items = [mail(A, i) for i in range(load.APPEND_GROUP_MESSAGES * 2 + 3)]
    groups = list(append_groups(items))
    assert [len(g) for g in groups] == [load.APPEND_GROUP_MESSAGES, load.APPEND_GROUP_MESSAGES, 3]
    assert [m for g in groups for m in g] == items


def test_append_groups_bounded_by_bytes() -> None:
    third = load.APPEND_GROUP_BYTES // 3
    items = [mail(A, 1, third), mail(A, 2, third), mail(A, 3, third), mail(A, 4, 2)]
    groups = list(append_groups(items))
    # Three thirds fit exactly (the limit is not exceeded); the next one starts a new group.
    assert [[m.meta.item_key for m in g] for g in groups] == [["a:1:1", "a:1:2", "a:1:3"], ["a:1:4"]]


def test_append_groups_oversized_message_goes_alone() -> None:
    items = [mail(A, 1, 10), mail(A, 2, load.APPEND_GROUP_BYTES + 1), mail(A, 3, 10)]
    assert [len(g) for g in append_groups(items)] == [1, 1, 1]
    assert list(append_groups([])) == []


def test_outgoing_keeps_bytes_flags_date_and_message_id() -> None:
    w = mail(A, 7, 3)
    out = outgoing(w)
    assert out.data == b"xxx"
    assert out.flags == ("\\Seen", "\\Recent")
    assert out.internaldate == WHEN
    assert out.message_id == "<7@x>"
