"""PST files damaged, and uploads that are no PST: what can be read is read, the rest reported with a reason.

The files are the shared corpus's (``../shared/corpora/pst``) with 64 bytes turned to noise at a place that breaks
one thing libpff reads (the offsets were found by damaging each 1 KiB in turn and reading the file with pypff).
Expected values never come from the production reader: the folder trees and items are walked here with pypff
directly (a small reader of the test's own). Every item must end up in a listed folder, a PIM record, or a
report line with a reason; a damaged file gives a specific error or a per-folder failure, never a crash.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

pypff = pytest.importorskip("pypff", reason="libpff-python (pypff) is needed to read PST files")

from shared.adapters.pst.items import read_pst  # noqa: E402
from shared.adapters.pst.reader import (  # noqa: E402
    AppointmentRecord,
    ContactRecord,
    DistListRecord,
    ItemProblem,
    TaskRecord,
    open_pst,
)
from shared.adapters.pst.source import DELIMITER, PstSource  # noqa: E402
from shared.events import ItemResult, PimItem  # noqa: E402
from tests.conftest import Accounts  # noqa: E402
from tests.integration.test_pst_upload import CORPUS, Router, error_of, leftovers, upload  # noqa: E402
from tests.servers import Process  # noqa: E402

pytestmark = pytest.mark.integration

PIM_CLASSES = ("IPM.CONTACT", "IPM.DISTLIST", "IPM.APPOINTMENT", "IPM.TASK")


# --------------------------------------------------------------------------------------------
# The test's own reader: pypff, walked directly
# --------------------------------------------------------------------------------------------


def raw_open(path: Path, codepage: str | None = None) -> Any:
    handle = pypff.file()
    if codepage:
        handle.set_ascii_codepage(codepage)
    handle.open(str(path))
    return handle


def raw_top(handle: Any) -> Any:
    """The IPM subtree: node 0x8022 in every one of these files (pffinfo shows it as the top of the tree)."""
    root = handle.get_root_folder()
    [top] = [root.get_sub_folder(i) for i in range(root.number_of_sub_folders)
             if root.get_sub_folder(i).identifier == 0x8022]
    return top


def raw_folders(folder: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, folder
    for i in range(folder.number_of_sub_folders):
        child = folder.get_sub_folder(i)
        yield from raw_folders(child, (*path, child.name))


def raw_value(item: Any, tag: int) -> Any:
    for entry in item.get_record_set(0).entries:
        if entry.entry_type == tag and entry.data is not None:
            if entry.value_type == 0x1F:
                return entry.data.decode("utf-16-le").rstrip("\x00")
            if entry.value_type == 0x1E:
                return entry.data.decode("latin-1").rstrip("\x00")
            return entry.data
    return None


def raw_items(path: Path) -> dict[int, tuple[tuple[str, ...], str]]:
    """Every item below the top folder: id -> (folder path, message class)."""
    out = {}
    for folder_path, folder in raw_folders(raw_top(raw_open(path))):
        for i in range(folder.number_of_sub_messages):
            message = folder.get_sub_message(i)
            out[message.identifier] = (folder_path, str(raw_value(message, 0x001A) or "IPM.Note"))
    return out


def is_pim(message_class: str) -> bool:
    kind = message_class.upper()
    return kind.startswith(PIM_CLASSES) and not kind.startswith("IPM.TASKREQUEST")


def damaged_copy(tmp: Path, name: str, offset: int) -> Path:
    """The corpus file with 64 bytes turned to noise at ``offset`` (the same bytes every run)."""
    data = bytearray((CORPUS / name).read_bytes())
    data[offset:offset + 64] = bytes(b ^ 0x5A for b in data[offset:offset + 64])
    out = tmp / f"{name}-damaged-{offset:x}.pst"
    out.write_bytes(bytes(data))
    return out


def listed_refs(source: PstSource) -> dict[str, list[str]]:
    return {lf.name.replace(DELIMITER, "/"): source.item_refs(lf.name)
            for lf in source.list_folders() if "\\Noselect" not in lf.flags}


# --------------------------------------------------------------------------------------------
# Every folder and item accounted for
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dist-list.pst", "sample1.pst", "sample2.pst"])
def test_every_item_is_in_a_listed_folder_or_a_pim_record(name: str) -> None:
    raw = raw_items(CORPUS / name)
    source = PstSource.open(CORPUS / name)
    try:
        refs = listed_refs(source)
        records = [rec for _folder, rec in source.reader.walk()]
        for operation, wanted in (("contacts", ContactRecord), ("contact_groups", DistListRecord),
                                  ("calendars", AppointmentRecord), ("tasks", TaskRecord)):
            assert len(list(read_pst(source.reader, operation, "m"))) == sum(isinstance(r, wanted) for r in records)
    finally:
        source.close()
    mail = sorted(int(ref) for folder_refs in refs.values() for ref in folder_refs)
    assert mail == sorted(i for i, (_path, cls) in raw.items() if not is_pim(cls))
    pim = sorted(r.source_id for r in records if isinstance(r, ContactRecord | DistListRecord | AppointmentRecord
                                                             | TaskRecord))
    assert pim == sorted(i for i, (_path, cls) in raw.items() if is_pim(cls))
    assert not [r for r in records if isinstance(r, ItemProblem)]


# --------------------------------------------------------------------------------------------
# Damaged files: what can be read is read, the rest reported per folder
# --------------------------------------------------------------------------------------------


def test_a_mail_folder_whose_item_list_is_damaged_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = damaged_copy(tmp_path, "sample1.pst", 0xA000)  # inside the contents table of 'Sample1'
    with pytest.raises(OSError):  # libpff itself cannot list that folder's items
        dict(raw_folders(raw_top(raw_open(path))))[("Sample1",)].number_of_sub_messages  # noqa: B018
    source = PstSource.open(path)
    try:
        refs = listed_refs(source)
        [damaged] = [f for f in source.reader.folders() if f.path == ("Sample1",)]
    finally:
        source.close()
    assert refs == {"Deleted Items": [], "Sample1": ["@folder"]}  # fetched, it is a failed item with the reason
    assert damaged.problem is not None and damaged.problem.startswith("its list of items could not be read (")


def test_a_calendar_whose_item_list_is_damaged_is_reported_and_the_contacts_read(tmp_path: Path) -> None:
    """Before, the calendars operation read nothing of it and said nothing: 'completed' with 0 events."""
    path = damaged_copy(tmp_path, "dist-list.pst", 0x9800)  # inside the contents table of 'Calendar'
    with pytest.raises(OSError):
        dict(raw_folders(raw_top(raw_open(path))))[("Calendar",)].number_of_sub_messages  # noqa: B018
    with open_pst(path) as reader:
        [failed] = list(read_pst(reader, "calendars", "m"))
        contacts = list(read_pst(reader, "contacts", "m"))
        groups = list(read_pst(reader, "contact_groups", "m"))
    assert isinstance(failed, ItemResult) and failed.result == "failed" and failed.folder == "Calendar"
    assert "its list of items could not be read" in (failed.reason or "")
    assert [(type(c).__name__, c.name) for c in contacts + groups] == [("PimItem", "contact name 1"),
                                                                      ("PimItem", "test dist list")]
    assert all(isinstance(c, PimItem) for c in contacts + groups)


# --------------------------------------------------------------------------------------------
# Uploads refused with a specific error (through the real router, on the real broker and Redis)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def upload_router(broker: Process, redis_client: Any, tmp_path: Path) -> Iterator[Router]:
    yield from Router.running(broker, redis_client, tmp_path / "state")


def zipped(name: str) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, (CORPUS / name).read_bytes())
    return out.getvalue()


def test_uploads_that_are_not_a_readable_pst_get_a_specific_error(upload_router: Router,
                                                                  accounts: Accounts) -> None:
    router = upload_router
    target = accounts.endpoint(accounts.new("pst"))
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088)  # the start of an Outlook .msg (OLE compound file)
    cases = [
        (b"", "invalid_request", "the file is empty (0 bytes)"),  # refused by the route, before the check
        (zipped("sample1.pst"), "not_a_pst", "ZIP archive: unpack it"),
        (ole, "not_a_pst", "single Outlook item"),
    ]
    for data, code, words in cases:
        err = error_of(upload(router.client, data, target))
        assert (err["code"], err["field"]) == (code, "file"), err
        assert words in err["message"], err
    assert leftovers(router.spool) == []


def test_a_damaged_attachment_costs_an_event_only_that_attachment(tmp_path: Path) -> None:
    """dist-list.pst (shared corpus) with its appointment's first attachment, a changed occurrence, damaged:
    the event is still read, and the note says what is missing; before, the whole event was dropped unreported."""
    data = bytearray((CORPUS / "dist-list.pst").read_bytes())
    data[0xB000:0xB040] = bytes(b ^ 0x5A for b in data[0xB000:0xB040])
    path = tmp_path / "dist-list-damaged.pst"
    path.write_bytes(bytes(data))
    handle = raw_open(path)
    calendar = dict(raw_folders(raw_top(handle)))[("Calendar",)]
    with pytest.raises(OSError):  # libpff cannot read that attachment
        calendar.get_sub_message(0).get_attachment(0)
    with open_pst(path) as reader:
        [event] = list(read_pst(reader, "calendars", "m"))
    assert not isinstance(event, ItemResult) and event.name == "Test appointment"
    assert [note.split(" (")[0] for note in event.lossy] == ["attachment 1 of 2 could not be read"]
