"""The PST reader against the real PST files in the shared corpus, cross-checked with pypff itself
(and with pffexport from Debian's pff-tools where it is installed)."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

pypff = pytest.importorskip("pypff", reason="libpff-python (pypff) is needed to read PST files")

from shared.adapters.pst import reader as pst  # noqa: E402
from shared.adapters.pst.reader import (  # noqa: E402
    AppointmentRecord,
    ContactRecord,
    DistListRecord,
    ItemProblem,
    MailRecord,
    NotAPstError,
    PstCorruptError,
    PstPasswordProtectedError,
    PstTruncatedError,
    open_pst,
)

pytestmark = pytest.mark.integration

CORPUS = Path(os.environ.get("MAILFERRY_PST_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/pst"))
READABLE = ["sample1.pst", "sample2.pst", "dist-list.pst"]
PROTECTED = ["passworded.pst", "test_unicode.pst"]  # both carry PR_PST_PASSWORD (pffinfo agrees)

if not CORPUS.is_dir():
    pytest.skip(f"PST corpus not found at {CORPUS}", allow_module_level=True)


# --------------------------------------------------------------------------------------------
# What pypff itself reports, walked independently of the reader
# --------------------------------------------------------------------------------------------


def raw_top(handle: Any) -> Any:
    root = handle.get_root_folder()
    children = [root.get_sub_folder(i) for i in range(root.number_of_sub_folders)]
    return next(c for c in children if (c.name or "").startswith("Top of "))


def raw_folders(folder: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, folder
    for i in range(folder.number_of_sub_folders):
        child = folder.get_sub_folder(i)
        yield from raw_folders(child, (*path, child.name))


def raw_class(message: Any) -> str:
    for entry in message.get_record_set(0).entries:
        if entry.entry_type == 0x001A:
            return str(entry.data.decode("utf-16-le") if entry.value_type == 0x1F else entry.data_as_string)
    return ""


def raw_mails(name: str) -> dict[int, tuple[tuple[str, ...], Any]]:
    handle = pypff.file()
    handle.open(str(CORPUS / name))
    out = {}
    for path, folder in raw_folders(raw_top(handle)):
        for i in range(folder.number_of_sub_messages):
            message = folder.get_sub_message(i)
            out[message.identifier] = (path, message)
    return out


def utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def read_all(name: str) -> list[tuple[pst.PstFolder, pst.PstItem]]:
    with open_pst(CORPUS / name) as reader:
        return list(reader.walk())


# --------------------------------------------------------------------------------------------
# Readable files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", READABLE)
def test_folder_tree_matches_pypff(name: str) -> None:
    handle = pypff.file()
    handle.open(str(CORPUS / name))
    expected = [(path, f.identifier, f.number_of_sub_messages) for path, f in raw_folders(raw_top(handle))]
    with open_pst(CORPUS / name) as reader:
        got = [(f.path, f.source_id, f.item_count) for f in reader.folders()]
    assert got == expected
    assert all(isinstance(part, str) and part for path, _, _ in got for part in path)


@pytest.mark.parametrize("name", READABLE)
def test_every_item_is_read_and_every_mail_matches_pypff(name: str) -> None:
    items = read_all(name)
    raw = raw_mails(name)
    assert not [item for _, item in items if isinstance(item, ItemProblem)]
    assert sorted(item.source_id for _, item in items if not isinstance(item, ItemProblem)) == sorted(raw)
    mails = [item for _, item in items if isinstance(item, MailRecord)]
    for mail in mails:
        path, message = raw[mail.source_id]
        assert mail.folder == path
        assert mail.subject == message.subject
        assert mail.sender_name == message.sender_name
        assert mail.sent == utc(message.client_submit_time)
        assert mail.received == utc(message.delivery_time)
        names = [message.get_attachment(i).long_filename for i in range(message.number_of_attachments)]
        assert list(mail.attachment_names) == names
        built = parse(mail.rfc822)
        assert built["Subject"] == message.subject
        assert built["From"].addresses[0].display_name == message.sender_name
        assert built["Date"].datetime == mail.sent
        assert len(list(built.iter_attachments())) == message.number_of_attachments
        assert [a.get_filename() for a in built.iter_attachments()] == names
        assert not built.defects
    for _, item in items:
        if isinstance(item, MailRecord | AppointmentRecord | ContactRecord):
            assert item.folder in {f.path for f, _ in items}


@pytest.mark.parametrize("name", ["sample1.pst", "sample2.pst"])
def test_sample_message_in_detail(name: str) -> None:
    (mail,) = [item for _, item in read_all(name) if isinstance(item, MailRecord)]
    assert mail.folder == (name.removesuffix(".pst").capitalize(),)
    assert mail.has_transport_headers and mail.message_class == "IPM.Note"
    assert (mail.sender_name, mail.sender_address) == ("Terry Mahaffey", "terrymah@microsoft.com")
    assert mail.sent == datetime(2010, 3, 15, 17, 12, 5, tzinfo=UTC)
    assert mail.is_read and "\\Seen" in mail.imap_flags
    built = parse(mail.rfc822)
    head = mail.rfc822.split(b"\r\n\r\n", 1)[0]
    # transport headers kept verbatim (folding included); their TNEF content type is not
    assert b"Received: from TK5EX14MBXC114.redmond.corp.microsoft.com ([169.254.3.48]) by\r\n TK5EX14MLTC103" in head
    assert b"ms-tnef" not in head and b"X-MS-TNEF-Correlator" in head
    assert built["Message-ID"] == "<B2FDDB8BE384C94794441DB4A7F3D8B804AE624B@TK5EX14MBXC114.redmond.corp.microsoft.com>"
    (jpeg,) = built.iter_attachments()
    assert jpeg.get_content_type() == "image/jpeg"
    data = jpeg.get_content()
    assert isinstance(data, bytes) and data.startswith(b"\xff\xd8\xff") and len(data) == 93142
    plain = built.get_body(("plain",))
    html = built.get_body(("html",))
    assert plain is not None and html is not None
    # sample1 is a Unicode PST and keeps the curly apostrophes; sample2 is ANSI and has plain ones
    apostrophe = "’" if name == "sample1.pst" else "'"
    assert f"It{apostrophe}s my daughter" in plain.get_content()
    assert "<html" in html.get_content()


def test_flag_state_is_exposed() -> None:
    (mail,) = [item for _, item in read_all("sample1.pst") if isinstance(item, MailRecord)]
    assert mail.flag == "flagged" and "\\Flagged" in mail.imap_flags
    assert not mail.is_draft


def test_ansi_and_unicode_files_are_recognised() -> None:
    assert pst.check_pst(CORPUS / "sample1.pst").unicode is True
    info = pst.check_pst(CORPUS / "sample2.pst")
    assert (info.kind, info.unicode, info.encryption) == ("PST", False, "compressible")


def test_dist_list_file_contact_appointment_and_list() -> None:
    items = [item for _, item in read_all("dist-list.pst")]
    (contact,) = [i for i in items if isinstance(i, ContactRecord)]
    (appointment,) = [i for i in items if isinstance(i, AppointmentRecord)]
    (dist,) = [i for i in items if isinstance(i, DistListRecord)]
    assert not [i for i in items if isinstance(i, MailRecord | ItemProblem)]

    assert contact.folder == ("Contacts",) and contact.display_name == "contact name 1"
    assert contact.emails == ("contact1@rjohnson.id.au",)
    card = contact.vcard.split("\r\n")
    assert "FN:contact name 1" in card and "EMAIL;TYPE=INTERNET,PREF:contact1@rjohnson.id.au" in card
    assert "N:1;contact;name;;" in card

    assert dist.folder == ("Contacts",) and dist.name == "test dist list"
    assert dist.members == (("contact name 1", "contact1@rjohnson.id.au"), ("dist name 1", "dist1@rjohnson.id.au"),
                            ("dist name 2", "dist2@rjohnson.id.au"))

    assert appointment.folder == ("Calendar",) and appointment.subject == "Test appointment"
    assert appointment.is_recurring
    assert appointment.start == datetime(2016, 8, 2, 15, 0, tzinfo=UTC)
    assert appointment.end == datetime(2016, 8, 2, 15, 30, tzinfo=UTC)
    ics = appointment.ical.split("\r\n")
    assert "SUMMARY:Test appointment" in ics and "DESCRIPTION:This is a complete test" in ics
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU" in ics
    assert any(line.startswith("DTSTART;TZID=") and line.endswith(":20160802T080000") for line in ics)
    assert sum(line.startswith("RECURRENCE-ID") for line in ics) == 2
    # The two attachments are the series' changed occurrences, stored as hidden embedded messages.
    assert len(appointment.attachments) == 2
    bodies = []
    for att in appointment.attachments:
        assert att.content_type == "message/rfc822" and att.is_recurrence_exception
        body = parse(att.data).get_body(("plain",))
        assert body is not None
        bodies.append(body.get_content().strip())
    assert bodies == ["This is the appointment at 9", "This is the one at 10"]
    # ...so they stay occurrences: no ATTACH line, nothing named as left out
    assert not any(line.startswith("ATTACH") for line in ics) and appointment.notes == ()
    assert "X-MAILFERRY-ATTACH" not in contact.vcard and contact.notes == ()


def vevents(ics: str) -> list[list[str]]:
    lines = ics.replace("\r\n ", "").split("\r\n")
    starts = [i for i, line in enumerate(lines) if line == "BEGIN:VEVENT"]
    return [lines[i:lines.index("END:VEVENT", i) + 1] for i in starts]


def test_dist_list_appointment_keeps_its_reminder_and_each_changed_occurrence_its_own_body() -> None:
    """pffexport -d shows PidLidReminderSet 1 and PidLidReminderDelta 15 on the series; each exception
    attachment holds its occurrence's own body (pffexport prints them as above)."""
    (appointment,) = [i for _, i in read_all("dist-list.pst") if isinstance(i, AppointmentRecord)]
    master, *changed = vevents(appointment.ical)
    assert "DESCRIPTION:This is a complete test" in master
    assert master[master.index("BEGIN:VALARM"):master.index("END:VALARM") + 1] == [
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "END:VALARM"]
    by_original = {next(x.rsplit(":", 1)[1] for x in c if x.startswith("RECURRENCE-ID")): c for c in changed}
    assert sorted(by_original) == ["20160823T080000", "20160830T080000"]
    assert "DESCRIPTION:This is the appointment at 9" in by_original["20160823T080000"]
    assert "DESCRIPTION:This is the one at 10" in by_original["20160830T080000"]
    for occurrence in changed:
        assert "TRIGGER:-PT15M" in occurrence and "X-MICROSOFT-CDO-BUSYSTATUS:BUSY" in occurrence


def test_a_bad_item_becomes_an_item_problem_and_the_walk_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pst.PstReader._convert

    def flaky(self: pst.PstReader, message: Any, source_id: int, path: tuple[str, ...]) -> pst.PstItem:
        if path == ("Contacts",) and source_id == 2097188:
            raise OSError("libpff_item_get_entry_value: unable to read the item.\nmore detail")
        return real(self, message, source_id, path)

    monkeypatch.setattr(pst.PstReader, "_convert", flaky)
    items = [item for _, item in read_all("dist-list.pst")]
    problems = [i for i in items if isinstance(i, ItemProblem)]
    assert problems == [ItemProblem(2097188, ("Contacts",), "OSError: libpff_item_get_entry_value: unable to read the item.")]
    assert len(items) == 3


@pytest.mark.skipif(shutil.which("pffexport") is None, reason="pffexport (Debian pff-tools) not installed")
@pytest.mark.parametrize("name", ["sample1.pst", "sample2.pst"])
def test_matches_pffexport(name: str, tmp_path: Path) -> None:
    subprocess.run(["pffexport", "-q", "-t", str(tmp_path / "x"), str(CORPUS / name)], check=True,
                   capture_output=True, timeout=120)
    (top,) = (tmp_path / "x.export").glob("Top of *")
    folders = {p.relative_to(top).parts for p in top.rglob("*") if p.is_dir() and not p.name.startswith("Message")
               and "Attachments" not in p.parts and not any(q.startswith("Message") for q in p.relative_to(top).parts)}
    with open_pst(CORPUS / name) as reader:
        assert folders | {()} == {f.path for f in reader.folders()}
    items = read_all(name)
    for folder, item in items:
        assert isinstance(item, MailRecord)
        (message_dir,) = (top.joinpath(*folder.path)).glob("Message*")
        headers = (message_dir / "OutlookHeaders.txt").read_text(errors="replace")
        assert f"Subject:\t\t\t\t{item.subject}" in headers
        assert f"Sender name:\t\t\t\t{item.sender_name}" in headers
        assert item.sent is not None and item.sent.strftime("%b %d, %Y %H:%M:%S") in headers
        exported = sorted(p.name.split("_", 1)[1] for p in (message_dir / "Attachments").iterdir())
        assert exported == sorted(item.attachment_names)


# --------------------------------------------------------------------------------------------
# Files that must be refused, each with its own clear error
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROTECTED)
def test_password_protected_files_are_refused(name: str) -> None:
    with pytest.raises(PstPasswordProtectedError, match="password-protected"):
        open_pst(CORPUS / name)
    with pytest.raises(pst.PstError):
        pst.check_pst(CORPUS / name)


@pytest.mark.parametrize("content", [b"", b"hello, not a pst\n", b"PK\x03\x04" + b"\0" * 600, b"!BDN\0\0\0\0AB\x17\0"])
def test_non_pst_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "upload.pst"
    path.write_bytes(content)
    with pytest.raises(NotAPstError, match=r"not an Outlook|address book|empty \(0 bytes\)"):
        open_pst(path)


@pytest.mark.parametrize("keep", [300, 4096, 120_000, 271_359])
def test_truncated_copies_are_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "cut.pst"
    path.write_bytes((CORPUS / "sample1.pst").read_bytes()[:keep])
    with pytest.raises(PstTruncatedError, match="truncated"):
        open_pst(path)


def test_damaged_structures_give_a_corrupt_error_or_item_problems(tmp_path: Path) -> None:
    data = bytearray((CORPUS / "sample1.pst").read_bytes())
    data[0x4400:0x20000] = b"\xa5" * (0x20000 - 0x4400)
    path = tmp_path / "damaged.pst"
    path.write_bytes(bytes(data))
    try:
        with open_pst(path) as reader:
            items = [item for _, item in reader.walk()]
    except PstCorruptError as exc:
        assert "damaged" in str(exc)
    else:
        assert all(isinstance(i, MailRecord | ItemProblem) for i in items)
