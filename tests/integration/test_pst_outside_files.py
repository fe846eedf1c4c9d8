"""PST files written by other people's Outlooks (tests/data/pst, see SOURCES.md there), read and imported.

Expected values never come from the production reader: folder trees and items are walked here with pypff
directly (a small reader of the test's own), names of an ANSI file are checked against its Unicode twin
(the same mailbox saved by the same Outlook in both formats), and counts against what the files' own
projects assert (pst-extractor's PSTAttachmentT2.spec.ts: Alpha has 2 attachments, the second an attached
message, attach method 5). Every item of every file must end up in a listed folder, a PIM record, or a
report line with a reason; damaged files give a specific error or a per-folder failure, never a crash.
"""

from __future__ import annotations

import email
import json
import secrets
import struct
import zipfile
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

pypff = pytest.importorskip("pypff", reason="libpff-python (pypff) is needed to read PST files")

from mailferry import stack  # noqa: E402
from mailferry.stack import StackInfo  # noqa: E402
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
from shared.events import ItemResult  # noqa: E402
from tests.conftest import Accounts, stack_env  # noqa: E402
from tests.e2e.flows import wait_final  # noqa: E402
from tests.integration.test_pst_upload import Router, error_of, leftovers, upload  # noqa: E402
from tests.servers import Process  # noqa: E402

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "pst"
TOP_JA = "Outlook データ ファイルのトップ"  # "Top of Outlook data file", the top folder of a Japanese Outlook's file

# The folders each file must be listed with for e-mail (LIST names, "/" between levels): written from the
# raw walk below and the files' own documentation, not from the reader.
LISTED = {
    "alpha-beta-gamma-delta.pst": {TOP_JA, "削除済みアイテム"},
    "attachAndInline.pst": {TOP_JA, "削除済みアイテム"},
    "msgInMsg.pst": {TOP_JA, "削除済みアイテム"},
    "200-recipients.pst": {TOP_JA, "削除済みアイテム"},
    "contacts.pst": {"削除済みアイテム", "削除済みアイテム/Contacts Dedicated"},
    "contacts97-2002.pst": {"削除済みアイテム"},
    "libyal-outlook.pst": {"Deleted Items", "收件箱", "Sent Items", "Content.Filter", "INBOX", "Drafts",
                           "Junk E-mail", "Recovered_Group2", "Recovered_Group2/Inbox"},
}
# The code page each file's 8-bit strings are in, as its own project reads it (pst-extractor decodes cp932).
CODEPAGE = {"contacts97-2002.pst": "windows-932"}
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


def raw_items(name: str) -> dict[int, tuple[tuple[str, ...], str]]:
    """Every item below the top folder: id -> (folder path, message class)."""
    handle = raw_open(DATA / name, CODEPAGE.get(name))
    out = {}
    for path, folder in raw_folders(raw_top(handle)):
        for i in range(folder.number_of_sub_messages):
            message = folder.get_sub_message(i)
            out[message.identifier] = (path, str(raw_value(message, 0x001A) or "IPM.Note"))
    return out


def raw_attachments(name: str) -> list[tuple[int, str | None, bytes]]:
    """The first message's attachments: (attach method, long file name, bytes as libpff reads them)."""
    handle = raw_open(DATA / name)
    top = raw_top(handle)
    message = top.get_sub_message(0)
    out = []
    for i in range(message.number_of_attachments):
        att = message.get_attachment(i)
        method = struct.unpack("<i", raw_value(att, 0x3705))[0]
        out.append((method, raw_value(att, 0x3707), att.read_buffer(att.size) if att.size else b""))
    return out


def is_pim(message_class: str) -> bool:
    kind = message_class.upper()
    return kind.startswith(PIM_CLASSES) and not kind.startswith("IPM.TASKREQUEST")


def damaged_copy(tmp: Path, offset: int, name: str = "libyal-outlook.pst") -> Path:
    """The file with 64 bytes turned to noise at ``offset`` (the same bytes every run)."""
    data = bytearray((DATA / name).read_bytes())
    data[offset:offset + 64] = bytes(b ^ 0x5A for b in data[offset:offset + 64])
    out = tmp / f"damaged-{offset:x}.pst"
    out.write_bytes(bytes(data))
    return out


def pst_crc(data: bytes) -> int:
    """MS-PST 5.3 ComputeCRC: the reflected CRC-32 table, no initial or final inversion."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def looping_copy(tmp: Path) -> Path:
    """libyal-outlook.pst with folder 'Recovered_Group2' (node 33410) made a child of its own sub-folder
    'Inbox' (node 33442): the NBT leaf entry's nidParent (MS-PST 2.2.2.7.7.4) changed, the page's CRC redone."""
    data = bytearray((DATA / "libyal-outlook.pst").read_bytes())
    for page in range(0x4400, len(data) - 511, 512):
        if data[page + 0x1F0] != 0x81 or data[page + 0x1EB] != 0:  # an NBT leaf page (ptype, cLevel)
            continue
        entries, size = data[page + 0x1E8], data[page + 0x1EA]
        hits = [page + i * size for i in range(entries) if struct.unpack_from("<Q", data, page + i * size)[0] == 33410]
        if hits:
            struct.pack_into("<I", data, hits[0] + 24, 33442)
            struct.pack_into("<I", data, page + 0x1F4, pst_crc(bytes(data[page:page + 0x1F0])))
            break
    else:
        raise AssertionError("node 33410 not found in an NBT leaf page")
    out = tmp / "looping.pst"
    out.write_bytes(bytes(data))
    return out


def listed_refs(source: PstSource) -> dict[str, list[str]]:
    return {lf.name.replace(DELIMITER, "/"): source.item_refs(lf.name)
            for lf in source.list_folders() if "\\Noselect" not in lf.flags}


# --------------------------------------------------------------------------------------------
# Every folder and item accounted for
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LISTED))
def test_every_item_is_in_a_listed_folder_or_a_pim_record(name: str) -> None:
    raw = raw_items(name)
    source = PstSource.open(DATA / name)
    try:
        refs = listed_refs(source)
        records = [rec for _folder, rec in source.reader.walk()]
        for operation in ("contacts", "contact_groups", "calendars", "tasks"):
            wanted = {"contacts": ContactRecord, "contact_groups": DistListRecord, "calendars": AppointmentRecord,
                      "tasks": TaskRecord}[operation]
            assert len(list(read_pst(source.reader, operation, "m"))) == sum(isinstance(r, wanted) for r in records)
    finally:
        source.close()
    assert set(refs) == LISTED[name]
    mail = sorted(int(ref) for folder_refs in refs.values() for ref in folder_refs)
    assert mail == sorted(i for i, (_path, cls) in raw.items() if not is_pim(cls))
    pim = sorted(r.source_id for r in records if isinstance(r, ContactRecord | DistListRecord | AppointmentRecord
                                                             | TaskRecord))
    assert pim == sorted(i for i, (_path, cls) in raw.items() if is_pim(cls))
    assert not [r for r in records if isinstance(r, ItemProblem)]


def test_a_message_kept_in_the_top_folder_is_listed_in_a_folder_of_its_name() -> None:
    """Outlook lets a message sit in the file's top folder (these four files have nothing else): it was left out
    of every folder, so never imported and never reported."""
    for name in ("alpha-beta-gamma-delta.pst", "attachAndInline.pst", "msgInMsg.pst", "200-recipients.pst"):
        [(ident, (path, _cls))] = raw_items(name).items()
        assert path == ()
        source = PstSource.open(DATA / name)
        try:
            assert listed_refs(source)[TOP_JA] == [str(ident)]
        finally:
            source.close()


def test_an_ansi_file_in_a_japanese_code_page_reads_like_its_unicode_twin() -> None:
    """contacts97-2002.pst is contacts.pst saved as an Outlook 97-2002 file: its 8-bit strings are cp932,
    which the header does not say (libpff assumes windows-1252: mojibake such as 'ƒRƒ€')."""
    twin = raw_open(DATA / "contacts.pst")
    [twin_contact] = [f.get_sub_message(0) for _p, f in raw_folders(raw_top(twin)) if f.number_of_sub_messages]
    twin_name = raw_value(twin_contact, 0x3001)
    assert twin_name == "Mr. イグザンプル ドット コム 殿"
    with open_pst(DATA / "contacts97-2002.pst") as reader:
        assert reader.info.unicode is False
        folders = {f.path for f in reader.folders()}
        [contact] = [rec for _f, rec in reader.walk() if isinstance(rec, ContactRecord)]
    assert folders == {(), ("削除済みアイテム",), ("連絡先 (Contact dedicated)",)}
    assert contact.folder == ("連絡先 (Contact dedicated)",)
    assert contact.display_name == twin_name
    assert "FN:" + twin_name in contact.vcard and "N:イグザンプル;コム;ドット;Mr.;殿" in contact.vcard


# --------------------------------------------------------------------------------------------
# Damaged files: what can be read is read, the rest reported per folder
# --------------------------------------------------------------------------------------------


def test_a_folder_whose_item_list_is_damaged_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = damaged_copy(tmp_path, 0x18C00)  # inside the contents table of 'Recovered_Group2'
    with pytest.raises(OSError):  # libpff itself cannot list that folder's items
        raw_folder = dict(raw_folders(raw_top(raw_open(path))))[("Recovered_Group2",)]
        raw_folder.number_of_sub_messages  # noqa: B018 - the attribute read is what fails
    source = PstSource.open(path)
    try:
        refs = listed_refs(source)
        [damaged] = [f for f in source.reader.folders() if f.path == ("Recovered_Group2",)]
    finally:
        source.close()
    assert set(refs) == LISTED["libyal-outlook.pst"]
    assert refs["Recovered_Group2"] == ["@folder"]  # fetched, it is a failed item with the reason below
    assert damaged.problem is not None and damaged.problem.startswith("its list of items could not be read (")
    assert refs["INBOX"] == ["2097188"]  # the other folders as in the whole file


def test_a_top_folder_whose_sub_folder_list_is_damaged_is_reported(tmp_path: Path) -> None:
    path = damaged_copy(tmp_path, 0x9C00)  # inside the hierarchy table of the top folder
    source = PstSource.open(path)
    try:
        refs = listed_refs(source)
        [top] = [f for f in source.reader.folders() if f.path == ()]
    finally:
        source.close()
    assert refs == {"Top of Personal Folders": ["@folder"]}  # not an empty, silent import
    assert top.problem is not None and "its list of sub-folders could not be read" in top.problem


# --------------------------------------------------------------------------------------------
# Uploads refused with a specific error (through the real router, on the real broker and Redis)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def upload_router(broker: Process, redis_client: Any, tmp_path: Path) -> Iterator[Router]:
    yield from Router.running(broker, redis_client, tmp_path / "state")


def zipped(name: str) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, (DATA / name).read_bytes())
    return out.getvalue()


def test_uploads_that_are_not_a_readable_pst_get_a_specific_error(upload_router: Router, accounts: Accounts,
                                                                  tmp_path: Path) -> None:
    router = upload_router
    target = accounts.endpoint(accounts.new("pst"))
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4088)  # the start of an Outlook .msg (OLE compound file)
    cases = [
        (b"", "invalid_request", "the file is empty (0 bytes)"),  # refused by the route, before the check
        (zipped("msgInMsg.pst"), "not_a_pst", "ZIP archive: unpack it"),
        (ole, "not_a_pst", "single Outlook item"),
        (looping_copy(tmp_path).read_bytes(), "pst_corrupt", "a folder that is inside itself"),
        # The name-to-id map damaged: libpff opens nothing of the file (a limit of libpff, said in the README).
        (damaged_copy(tmp_path, 0x28C00).read_bytes(), "pst_corrupt", "damaged and cannot be read (invalid name"),
    ]
    for data, code, words in cases:
        err = error_of(upload(router.client, data, target))
        assert (err["code"], err["field"]) == (code, "file"), err
        assert words in err["message"], err
    assert leftovers(router.spool) == []


# --------------------------------------------------------------------------------------------
# Imported through the running stack into Dovecot and the EWS emulator, checked there
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside_stack(broker: Process, redis_server: Process,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-pst-outside")
    info = stack.up(state, stack_env(broker, redis_server, f"o{secrets.token_hex(4)}."), timeout=120)
    yield info
    stack.down(state)


def import_file(info: StackInfo, path: Path, target: dict[str, object], login: str,
                options: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    with httpx.Client(base_url=info.intake_url, timeout=120) as client:
        resp = upload(client, path.read_bytes(), target, filename=path.name, options=options)
    assert resp.status_code == 202, resp.text
    mid = resp.json()["id"]
    return mid, wait_final(info, mid, login)


def report(info: StackInfo, mid: str, login: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}/report", params={"login": login, "format": "json"},
                     timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return list(body["items"] if isinstance(body, dict) else body)


def imap_messages(accounts: Accounts, login: str, folder: str) -> list[EmailMessage]:
    with accounts.client(login) as c:
        c.select_folder(folder, readonly=True)
        uids = c.search("ALL")
        fetched = c.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    out = []
    for uid in uids:
        msg = email.message_from_bytes(fetched[uid][b"BODY[]"], _class=EmailMessage, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def test_messages_of_the_top_folder_arrive_with_their_attachments(outside_stack: StackInfo,
                                                                  accounts: Accounts) -> None:
    login = accounts.new("pst")
    _mid, st = import_file(outside_stack, DATA / "alpha-beta-gamma-delta.pst", accounts.endpoint(login), login)
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (1, 0)
    with accounts.client(login) as c:
        names = {name for _flags, _sep, name in c.list_folders()}
    # The store's PR_IPM_WASTEBASKET_ENTRYID names "削除済みアイテム" (Deleted Items): it is the target's Trash.
    assert TOP_JA in names and "Trash" in names and "削除済みアイテム" not in names, names
    [alpha] = imap_messages(accounts, login, TOP_JA)
    assert alpha["Subject"] == "Alpha"
    # pst-extractor's own test: 2 attachments, the second an attached message (method 5).
    [(m1, name1, data1), (m2, _name2, _data2)] = raw_attachments("alpha-beta-gamma-delta.pst")
    assert (m1, m2) == (1, 5)
    parts = [p for p in alpha.walk() if p.get_content_disposition() == "attachment"]
    assert [p.get_content_type() for p in parts] == ["image/png", "message/rfc822"]
    assert (parts[0].get_filename(), parts[0].get_payload(decode=True)) == (name1, data1)


def test_an_inline_image_keeps_its_content_id_and_200_recipients_all_arrive(outside_stack: StackInfo,
                                                                            accounts: Accounts) -> None:
    login = accounts.new("pst")
    _mid, st = import_file(outside_stack, DATA / "attachAndInline.pst", accounts.endpoint(login), login)
    assert st["state"] == "completed", st
    [msg] = imap_messages(accounts, login, TOP_JA)
    raw = {name: data for _method, name, data in raw_attachments("attachAndInline.pst")}
    assert set(raw) == {"attach.png", "image001.png"}
    inline = next(p for p in msg.walk() if p.get_filename() == "image001.png")
    cid = str(inline["Content-ID"]).strip("<>")
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    assert f"cid:{cid}" in html and inline.get_payload(decode=True) == raw["image001.png"]
    attached = next(p for p in msg.walk() if p.get_filename() == "attach.png")
    assert attached.get_payload(decode=True) == raw["attach.png"]

    login2 = accounts.new("pst")
    _mid, st = import_file(outside_stack, DATA / "200-recipients.pst", accounts.endpoint(login2), login2)
    assert st["state"] == "completed", st
    [many] = imap_messages(accounts, login2, TOP_JA)
    expected = raw_top(raw_open(DATA / "200-recipients.pst")).get_sub_message(0).recipients.number_of_record_sets
    assert expected == 200
    addresses = [a for field in ("To", "Cc", "Bcc") for a in (many[field].addresses if many[field] else ())]
    assert len(addresses) == expected


def test_a_damaged_folder_is_reported_failed_and_the_rest_imported(outside_stack: StackInfo,
                                                                   accounts: Accounts, tmp_path: Path) -> None:
    login = accounts.new("pst")
    mid, st = import_file(outside_stack, damaged_copy(tmp_path, 0x18C00), accounts.endpoint(login), login)
    assert st["state"] == "completed_with_errors", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (1, 1)
    [welcome] = imap_messages(accounts, login, "INBOX")
    assert welcome["Subject"] == "Welcome to Microsoft Office Outlook 2003"
    failed = [line for line in report(outside_stack, mid, login) if line.get("result") == "failed"]
    assert len(failed) == 1 and "Recovered_Group2" in json.dumps(failed[0], ensure_ascii=False)
    assert "its list of items could not be read" in failed[0]["reason"]


@pytest.fixture(scope="module")
def ews() -> Iterator[Any]:
    from tests.ews_emulator import EwsEmulator

    emu = EwsEmulator()
    emu.start()
    yield emu
    emu.stop()


def test_an_ansi_japanese_contact_arrives_in_exchange_as_its_unicode_twin_says(outside_stack: StackInfo,
                                                                               ews: Any) -> None:
    from tests.e2e.test_ews_everything import account, endpoint

    twin = raw_open(DATA / "contacts.pst")
    [twin_contact] = [f.get_sub_message(0) for _p, f in raw_folders(raw_top(twin)) if f.number_of_sub_messages]
    expected = (raw_value(twin_contact, 0x3001), raw_value(twin_contact, 0x3A06), raw_value(twin_contact, 0x3A11))
    ews.add_mailbox("ansi@new.test", "ansi-pw-1")
    _mid, st = import_file(outside_stack, DATA / "contacts97-2002.pst", endpoint(ews, "ansi@new.test", "ansi-pw-1"),
                           "ansi@new.test", options=["emails", "contacts"])
    assert st["state"] == "completed", st
    assert st["items"]["contacts"]["done"] == 1
    [contact] = list(account(ews, "ansi@new.test", "ansi-pw-1").contacts.all())
    # contacts.pst's PR_DISPLAY_NAME, PR_GIVEN_NAME, PR_SURNAME
    assert (contact.display_name, contact.given_name, contact.surname) == expected


def test_a_contacts_folder_whose_item_list_is_damaged_is_reported_failed(outside_stack: StackInfo, ews: Any,
                                                                        tmp_path: Path) -> None:
    """Before, the contacts operation read nothing of it and said nothing: 'completed' with 0 contacts."""
    from tests.e2e.test_ews_everything import endpoint

    path = damaged_copy(tmp_path, 0xC800, "contacts.pst")  # the contents table of '連絡先 (Contact dedicated)'
    with pytest.raises(OSError):
        dict(raw_folders(raw_top(raw_open(path))))[("連絡先 (Contact dedicated)",)].number_of_sub_messages  # noqa: B018
    ews.add_mailbox("damaged@new.test", "damaged-pw-1")
    mid, st = import_file(outside_stack, path, endpoint(ews, "damaged@new.test", "damaged-pw-1"), "damaged@new.test",
                          options=["emails", "contacts"])
    assert st["state"] == "completed_with_errors", st
    assert (st["items"]["contacts"]["done"], st["items"]["contacts"]["failed"]) == (0, 1)
    [line] = [x for x in report(outside_stack, mid, "damaged@new.test") if x.get("result") == "failed"]
    assert line["folder"] == "連絡先 (Contact dedicated)" and "its list of items could not be read" in line["reason"]


def test_a_damaged_attachment_costs_an_event_only_that_attachment(tmp_path: Path) -> None:
    """dist-list.pst (shared corpus) with its appointment's first attachment, a changed occurrence, damaged:
    the event is still read, and the note says what is missing; before, the whole event was dropped unreported."""
    from tests.integration.test_pst_upload import CORPUS

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
