"""How an e-mail target takes a batch: runs per folder, and APPEND groups bounded by count and bytes.

(The batch's second copy of an item is dropped by the write plan: tests/unit/test_write_plan.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters import mail_batches
from shared.adapters.mail_batches import append_groups, by_folder, deal, outgoing, undeal
from shared.adapters.ports import MailRecord
from shared.events import FolderRef, MailMeta

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
A = FolderRef(folder_id="a", path=["A"])
B = FolderRef(folder_id="b", path=["B"])


def mail(folder: FolderRef, n: int, size: int = 1) -> MailRecord:
    meta = MailMeta(item_key=f"{folder.folder_id}:1:{n}", folder=folder, flags=["\\Seen", "\\Recent"],
                    internaldate=WHEN, size=size, message_id=f"<{n}@x>")
    return MailRecord(meta=meta, data=b"x" * size)


def test_by_folder_keeps_arrival_order_per_folder() -> None:
    grouped = by_folder([mail(A, 1), mail(B, 3), mail(A, 4)], {"a": "a", "b": "b"})
    assert {k: [m.meta.item_key for m in v] for k, v in grouped.items()} == {
        "a": ["a:1:1", "a:1:4"], "b": ["b:1:3"]}
    assert list(grouped) == ["a", "b"]


def test_two_source_folders_into_one_target_folder_are_one_run() -> None:
    grouped = by_folder([mail(A, 1), mail(B, 3), mail(A, 4)], {"a": "INBOX", "b": "INBOX"})
    assert {k: [m.meta.item_key for m in v] for k, v in grouped.items()} == {"INBOX": ["a:1:1", "b:1:3", "a:1:4"]}


def test_by_folder_of_nothing() -> None:
    assert by_folder([], {}) == {}


def test_deal_and_undeal_round_trip() -> None:
    jobs = list(range(11))
    lanes = deal(jobs, 4)
    assert lanes == [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7]]
    assert undeal([[j * 10 for j in lane] for lane in lanes], len(jobs)) == [j * 10 for j in jobs]
    assert deal([1], 4) == [[1], [], [], []]
    assert undeal([[1], [], [], []], 1) == [1]


def test_append_groups_bounded_by_count() -> None:
    items = [mail(A, i) for i in range(mail_batches.APPEND_GROUP_MESSAGES * 2 + 3)]
    groups = list(append_groups(items))
    assert [len(g) for g in groups] == [mail_batches.APPEND_GROUP_MESSAGES, mail_batches.APPEND_GROUP_MESSAGES, 3]
    assert [m for g in groups for m in g] == items


def test_append_groups_bounded_by_bytes() -> None:
    third = mail_batches.APPEND_GROUP_BYTES // 3
    items = [mail(A, 1, third), mail(A, 2, third), mail(A, 3, third), mail(A, 4, 2)]
    groups = list(append_groups(items))
    # Three thirds fit exactly (the limit is not exceeded); the next one starts a new group.
    assert [[m.meta.item_key for m in g] for g in groups] == [["a:1:1", "a:1:2", "a:1:3"], ["a:1:4"]]


def test_append_groups_oversized_message_goes_alone() -> None:
    items = [mail(A, 1, 10), mail(A, 2, mail_batches.APPEND_GROUP_BYTES + 1), mail(A, 3, 10)]
    assert [len(g) for g in append_groups(items)] == [1, 1, 1]
    assert list(append_groups([])) == []


def test_outgoing_keeps_bytes_flags_date_and_message_id() -> None:
    w = mail(A, 7, 3)
    out = outgoing(w)
    assert out.data == b"xxx"
    assert out.flags == ("\\Seen", "\\Recent")
    assert out.internaldate == WHEN
    assert out.message_id == "<7@x>"
