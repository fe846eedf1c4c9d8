"""How the loader groups a batch: runs per folder, and APPEND groups bounded by count and bytes."""

from __future__ import annotations

from datetime import UTC, datetime

from services.loader import load
from services.loader.load import FolderWork, MailWork, Work, append_groups, outgoing, sort_batch
from shared.events import FolderRef, MailMeta
from shared.lanes import deal, undeal

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
A = FolderRef(folder_id="a", path=["A"])
B = FolderRef(folder_id="b", path=["B"])


def mail(folder: FolderRef, n: int, size: int = 1) -> MailWork:
    meta = MailMeta(item_key=f"{folder.folder_id}:1:{n}", folder=folder, flags=["\\Seen", "\\Recent"],
                    internaldate=WHEN, size=size, message_id=f"<{n}@x>")
    return MailWork(meta=meta, data=b"x" * size)


def test_sort_batch_keeps_arrival_order_per_folder_and_lists_folders() -> None:
    work: list[Work] = [FolderWork(A), mail(A, 1), mail(B, 3), FolderWork(B), mail(A, 4)]
    folders, by_folder = sort_batch(work, lambda path: "/".join(path).lower())
    assert folders == [A, B]
    assert {k: [m.meta.item_key for m in v] for k, v in by_folder.items()} == {
        "a": ["a:1:1", "a:1:4"], "b": ["b:1:3"]}
    assert list(by_folder) == ["a", "b"]


def test_sort_batch_drops_a_second_copy_of_an_item() -> None:
    _, by_folder = sort_batch([mail(A, 1), mail(A, 2), mail(A, 1)], lambda path: path[0])
    assert [m.meta.item_key for m in by_folder["A"]] == ["a:1:1", "a:1:2"]


def test_sort_batch_of_nothing() -> None:
    assert sort_batch([], lambda path: path[0]) == ([], {})


def test_deal_and_undeal_round_trip() -> None:
    jobs = list(range(11))
    lanes = deal(jobs, 4)
    assert lanes == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7]]
    assert undeal([[j * 10 for j in lane] for lane in lanes], len(jobs)) == [j * 10 for j in jobs]
    assert deal([1], 4) == [[1], [], [], []]
    assert undeal([[1], [], [], []], 1) == [1]


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
