"""Planning: folder references, UID slices, and what the ledger already knows."""

from __future__ import annotations

import pytest

from services.extractor.plan import partition_known, split
from shared import folder_map as fm
from shared.folder_map import ListedFolder
from shared.folder_refs import folder_refs
from shared.item_keys import folder_key, item_key


def lf(name: str, *flags: str, delimiter: str = "/") -> ListedFolder:
    return ListedFolder(name=name, delimiter=delimiter, flags=flags)


def test_keys() -> None:
    assert item_key("abc", 7, 42) == "abc:7:42"
    assert item_key("abc", 7, 42) != item_key("abc", 8, 42)
    assert folder_key("abc") == "folder:abc"


def test_folder_refs_leaves_out_virtual_views_and_orders_parents_first() -> None:
    listed = [
        lf("[Gmail]/All Mail", "\\All", "\\HasNoChildren"),
        lf("[Gmail]/Starred", "\\Flagged"),
        lf("Work/Project", "\\HasNoChildren"),
        lf("[Gmail]", "\\Noselect", "\\HasChildren"),
        lf("Sent Items/2019"),
        lf("Sent Items", "\\Sent"),
        lf("inbox"),
        lf("Work"),
        lf("Old", "\\Noselect", "\\HasChildren"),
        lf("Old/2019", "\\HasNoChildren"),
    ]
    refs = folder_refs(listed)
    names = [r.source_name for r, _ in refs]
    assert "[Gmail]/All Mail" not in names and "[Gmail]/Starred" not in names
    # "[Gmail]" holds no mail and nothing stays below it: left out. "Old" holds no mail but "Old/2019" is below it.
    assert sorted(names) == sorted(["Work/Project", "Sent Items/2019", "Sent Items", "inbox", "Work", "Old",
                                    "Old/2019"])
    by_name = {r.source_name: (r, selectable) for r, selectable in refs}
    # Parents before children.
    for name in names:
        for parent in fm.ancestors(name, "/"):
            if parent in by_name:
                assert names.index(parent) < names.index(name)
    assert by_name["Old"][1] is False
    assert by_name["Work"][1] is True
    inbox, _ = by_name["inbox"]
    assert inbox.path == ["INBOX"] and inbox.special_use is None
    sent, _ = by_name["Sent Items"]
    assert sent.path == ["\\Sent:Sent Items"] and sent.special_use == "\\Sent"
    child, _ = by_name["Sent Items/2019"]
    assert child.path == ["\\Sent:Sent Items", "2019"] and child.special_use is None
    assert child.display == "Sent Items/2019"
    assert child.folder_id == fm.folder_id("Sent Items/2019")


def test_folder_refs_with_namespace_prefix() -> None:
    listed = [lf("INBOX", delimiter="."), lf("INBOX.Drafts", delimiter="."), lf("INBOX.A.B", delimiter=".")]
    paths = {r.source_name: r.path for r, _ in folder_refs(listed, "INBOX.")}
    assert paths == {"INBOX": ["INBOX"], "INBOX.Drafts": ["\\Drafts:Drafts"], "INBOX.A.B": ["A", "B"]}
    # A source that announces SPECIAL-USE has said which folders are special: "Drafts" unflagged is not.
    paths = {r.source_name: r.path for r, _ in folder_refs(listed, "INBOX.", announced_special_use=True)}
    assert paths == {"INBOX": ["INBOX"], "INBOX.Drafts": ["Drafts"], "INBOX.A.B": ["A", "B"]}


@pytest.mark.parametrize("uids, size, expected", [
    ([1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]),
    ([1, 2, 3], 3, [[1, 2, 3]]),
    ([], 3, []),
    ([1, 2], 0, [[1], [2]]),
])
def test_split(uids: list[int], size: int, expected: list[list[int]]) -> None:
    assert split(uids, size) == expected


def test_partition_known() -> None:
    known = {item_key("f", 7, 2), item_key("f", 6, 3), item_key("g", 7, 4)}
    new, already = partition_known("f", 7, [1, 2, 3, 4], known)
    assert new == [1, 3, 4]
    assert already == [2]
    # Splitting a part again changes nothing: new stays new, known stays known.
    assert partition_known("f", 7, new, known) == (new, [])
    assert partition_known("f", 7, already, known) == ([], already)
