"""Folder naming of the PST source: Outlook's tree as LIST lines, and through the planner to neutral paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import folder_map
from shared.adapters.pst.reader import PstFolder
from shared.adapters.pst.source import (
    DELIMITER,
    is_mail_class,
    is_mail_folder,
    listed_folders,
    pst_item_key,
)
from shared.folder_refs import folder_refs
from shared.spool import PstUnavailable, spool_file

TOP = PstFolder(path=(), source_id=1, container_class=None, item_count=0)
_ids = iter(range(100, 10_000))


def folder(*path: str, cls: str | None = "IPF.Note", items: int = 1) -> PstFolder:
    return PstFolder(path=tuple(path), source_id=next(_ids), container_class=cls, item_count=items)


def listed(*folders: PstFolder) -> dict[str, tuple[str, ...]]:
    """LIST name (components joined with "/" for reading) -> flags."""
    return {e.listed.name.replace(DELIMITER, "/"): e.listed.flags for e in listed_folders([TOP, *folders])}


def neutral(*folders: PstFolder) -> dict[str, str | None]:
    """Neutral path (joined with "/") -> special use, as the planner sees it; \\Noselect ones marked."""
    refs = folder_refs([e.listed for e in listed_folders([TOP, *folders])])
    return {"/".join(ref.path) + ("" if selectable else " [noselect]"): ref.special_use for ref, selectable in refs}


def test_top_folder_children_are_top_level_and_inbox_becomes_INBOX() -> None:
    got = neutral(folder("Inbox", cls=None), folder("Inbox", "Projects"), folder("Sample1"))
    assert got == {"INBOX": None, "Sample1": None, "INBOX/Projects": None}


@pytest.mark.parametrize("name", ["Inbox", "Posteingang", "Boîte de réception", "Bandeja de entrada", "INBOX"])
def test_localized_inbox_names(name: str) -> None:
    assert list(listed(folder(name))) == ["INBOX"]


def test_english_special_folders_get_their_special_use() -> None:
    got = listed(folder("Inbox", cls=None), folder("Sent Items"), folder("Drafts"), folder("Deleted Items", cls=None),
                 folder("Junk E-mail"), folder("Archive"))
    assert got == {"INBOX": (), "Sent Items": ("\\Sent",), "Drafts": ("\\Drafts",),
                   "Deleted Items": ("\\Trash",), "Junk E-mail": ("\\Junk",), "Archive": ("\\Archive",)}
    assert set(neutral(folder("Sent Items"), folder("Deleted Items"))) == {"\\Sent:Sent Items",
                                                                          "\\Trash:Deleted Items"}


def test_german_special_folders_get_their_special_use() -> None:
    got = listed(folder("Posteingang"), folder("Gesendete Elemente"), folder("Entwürfe"),
                 folder("Gelöschte Elemente"), folder("Junk-E-Mail"))
    assert got == {"INBOX": (), "Gesendete Elemente": ("\\Sent",), "Entwürfe": ("\\Drafts",),
                   "Gelöschte Elemente": ("\\Trash",), "Junk-E-Mail": ("\\Junk",)}


def test_special_names_only_count_at_the_top() -> None:
    got = listed(folder("Projects"), folder("Projects", "Sent Items"))
    assert got == {"Projects": (), "Projects/Sent Items": ()}


def test_non_mail_folders_are_left_out() -> None:
    got = listed(folder("Inbox", cls=None), folder("Calendar", cls="IPF.Appointment"),
                 folder("Contacts", cls="IPF.Contact"), folder("Tasks", cls="IPF.Task"),
                 folder("Notes", cls="IPF.StickyNote"), folder("Journal", cls="IPF.Journal"),
                 folder("RSS Feeds", cls="IPF.Note.OutlookHomepage"), folder("IMAP", cls="IPF.Imap"))
    assert list(got) == ["INBOX", "RSS Feeds", "IMAP"]


def test_items_in_the_top_folder_get_a_top_level_folder_of_its_name() -> None:
    """Outlook lets items sit in the file's top folder itself; they were left out of every folder."""
    top = PstFolder(path=(), source_id=1, container_class=None, item_count=1, name="Top of Outlook data file")
    got = {e.listed.name.replace(DELIMITER, "/"): e.folder for e in listed_folders([top, folder("Inbox")])}
    assert list(got) == ["Top of Outlook data file", "INBOX"] and got["Top of Outlook data file"] is top
    # A child of the same name keeps its own; the top folder's problem alone lists it too (to be reported).
    got = {e.listed.name.replace(DELIMITER, "/"): e.folder for e in listed_folders(
        [PstFolder(path=(), source_id=1, container_class=None, item_count=0, problem="its list of sub-folders "
                   "could not be read (x)"), folder("Top of Personal Folders"), folder("Top of Personal Folders",
                                                                                       "Sub")])}
    assert list(got) == ["Top of Personal Folders", "Top of Personal Folders (2)", "Top of Personal Folders (2)/Sub"]
    assert got["Top of Personal Folders"] is not None and got["Top of Personal Folders"].path == ()


def test_the_special_use_the_message_store_states_wins_over_names() -> None:
    """A Japanese file's Deleted Items ("削除済みアイテム") is named by the store's PR_IPM_WASTEBASKET_ENTRYID;
    an ordinary folder called "Deleted Items" beside it is then no second \\Trash."""
    trash = PstFolder(path=("削除済みアイテム",), source_id=7, container_class=None, item_count=0,
                      special_use="\\Trash")
    assert listed(trash, folder("Deleted Items"), folder("Sent Items")) == {
        "削除済みアイテム": ("\\Trash",), "Deleted Items": (), "Sent Items": ("\\Sent",)}


def test_a_mail_folder_below_a_non_mail_folder_keeps_its_place() -> None:
    got = neutral(folder("Calendar", cls="IPF.Appointment"), folder("Calendar", "Invitations"))
    assert got == {"Calendar [noselect]": None, "Calendar/Invitations": None}


def test_empty_outbox_is_left_out_but_not_one_with_mail() -> None:
    assert list(listed(folder("Inbox"), folder("Outbox", items=0))) == ["INBOX"]
    assert list(listed(folder("Inbox"), folder("Postausgang", items=2))) == ["INBOX", "Postausgang"]


def test_slash_dot_and_non_ascii_names_stay_one_component() -> None:
    got = neutral(folder("Inbox"), folder("Inbox", "2024/25 Q1.Reports"), folder("Überweisungen"),
                  folder("Überweisungen", "日本語 ✓"))
    assert got == {"INBOX": None, "Überweisungen": None, "INBOX/2024/25 Q1.Reports": None,
                   "Überweisungen/日本語 ✓": None}
    refs = folder_refs([e.listed for e in listed_folders([TOP, folder("a/b"), folder("a/b", "c.d")])])
    assert [ref.path for ref, _ in refs] == [["a/b"], ["a/b", "c.d"]]


def test_the_delimiter_character_in_a_name_is_replaced() -> None:
    assert list(listed(folder(f"odd{DELIMITER}name"))) == ["odd_name"]


def test_same_name_twice_under_one_parent_gets_a_number_and_children_follow() -> None:
    got = listed(folder("Work"), folder("Work", "A"), folder("Work"), folder("Work", "B"))
    assert list(got) == ["Work", "Work/A", "Work (2)", "Work (2)/B"]


def test_only_one_folder_becomes_INBOX() -> None:
    got = listed(folder("Inbox"), folder("Posteingang"), folder("INBOX"))
    assert list(got) == ["INBOX", "Posteingang", "INBOX (2)"]


def test_folder_ids_are_distinct_and_stable() -> None:
    entries = listed_folders([TOP, folder("Inbox"), folder("Inbox", "Sub"), folder("Sent Items")])
    ids = [folder_map.folder_id(e.listed.name) for e in entries]
    assert len(set(ids)) == 3
    again = listed_folders([TOP, folder("Inbox"), folder("Inbox", "Sub"), folder("Sent Items")])
    assert ids == [folder_map.folder_id(e.listed.name) for e in again]


def test_mail_classes() -> None:
    assert all(is_mail_class(c) for c in ("IPM.Note", "", "IPM.Schedule.Meeting.Request", "IPM.Note.SMIME",
                                          "IPM.TaskRequest.Accept", "REPORT.IPM.Note.NDR"))
    assert not any(is_mail_class(c) for c in ("IPM.Contact", "IPM.DistList", "IPM.Appointment", "IPM.Task"))
    assert is_mail_folder(None) and is_mail_folder("IPF.Note") and not is_mail_folder("IPF.Contact")


def test_item_key_and_spool_path(tmp_path: Path) -> None:
    assert pst_item_key("abc", "2097188") == "abc:pst:2097188"
    assert spool_file(tmp_path, "pst/x.pst") == (tmp_path / "pst" / "x.pst").resolve()
    for bad in ("../x.pst", "pst/../../etc/passwd", "/etc/x.pst", "pst/x.part", "pst/sub/x.pst"):
        with pytest.raises(PstUnavailable):
            spool_file(tmp_path, bad)
