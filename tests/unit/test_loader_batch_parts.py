"""A waiting batch grown from parts (the prefetcher's doing) is the batch the loader would have decoded whole:
every record of both parts, in order, and per partition the commit limit the later part decided."""

from __future__ import annotations

from datetime import UTC, datetime

from services.loader.service import BatchWork
from shared.adapters.records import MailRecord
from shared.events import FolderRef, MailMeta

INBOX = FolderRef(folder_id="f1", path=["INBOX"])
WORK = FolderRef(folder_id="f2", path=["Work"])


def mail(key: str, folder: FolderRef = INBOX) -> MailRecord:
    meta = MailMeta(item_key=key, folder=folder, flags=[], internaldate=datetime(2026, 1, 1, tzinfo=UTC), size=3)
    return MailRecord(meta, b"abc")


def test_records_of_both_parts_stay_in_order_per_migration() -> None:
    first, later = BatchWork(), BatchWork()
    first.migrations["m1"].folders.append(INBOX)
    first.migrations["m1"].mail += [mail("a"), mail("b")]
    later.migrations["m1"].folders.append(WORK)
    later.migrations["m1"].mail.append(mail("c", WORK))
    later.migrations["m2"].mail.append(mail("z"))
    later.finished_chunks.append(("m2", "z"))
    first.absorb(later)
    assert [m.meta.item_key for m in first.migrations["m1"].mail] == ["a", "b", "c"]
    assert first.migrations["m1"].folders == [INBOX, WORK]
    assert [m.meta.item_key for m in first.migrations["m2"].mail] == ["z"]
    assert first.finished_chunks == [("m2", "z")]


def test_the_later_part_decides_the_commit_limit_of_the_partitions_it_holds() -> None:
    first, later = BatchWork(), BatchWork()
    # Partition 0: the first part stopped at an unfinished item's first chunk (offset 40); the later part
    # finished it and read on to 90. Partition 1 only the first part holds; partition 2 only the later one,
    # which stops at an item it has not finished (offset 7).
    first.safe_offsets = [("items", 0, 40), ("items", 1, 12)]
    later.safe_offsets = [("items", 0, 90), ("items", 2, 7)]
    first.absorb(later)
    assert sorted(first.safe_offsets) == [("items", 0, 90), ("items", 1, 12), ("items", 2, 7)]
