"""Attachments of Exchange events, tasks and contacts, against the EWS emulator: the source reads each file with its
bytes, name, type, content id and inline mark (GetAttachment) into the item's text, names an attached item in the
report, keeps a contact's photo as its photo; the target creates the item and its files (CreateAttachment); undo
removes the items, their attachments with them. Read back with exchangelib alone; the expected files are data here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import icalendar
import pytest
from exchangelib import Account, CalendarItem, Contact, EWSDateTime, EWSTimeZone, Message
from exchangelib.attachments import FileAttachment, ItemAttachment
from exchangelib.errors import ResponseMessageError
from exchangelib.items import Task

from shared.adapters.ews import item_source
from shared.adapters.ews.item_target import EwsItemTarget
from shared.adapters.ews.mail_target import EwsTarget
from shared.adapters.ews.undo import EwsUndo
from shared.adapters.pim_items import pim_item
from shared.adapters.ports import PimRecord
from shared.events import CreatedThing, PimItem
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator
from tests.integration.test_graph_target import Sink, ctx, sink_of

pytestmark = pytest.mark.integration

UTC = EWSTimeZone("UTC")
SRC, DST, PW = "src@old.test", "dst@new.test", "pw-1"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00\xff" * 50
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
PHOTO = b"\xff\xd8\xff\xe0 a jpeg"
# (name, content type, bytes, content id, inline) as each file must arrive
EVENT_FILES = {("Agenda 2026.pdf", "application/pdf", PDF, None, False),
               ("logo.png", "image/png", PNG, "logo@mail", True)}
TASK_FILES = {("_Plan_v2.txt", "text/plain", "Grüße\r\n".encode(), None, False)}
CONTACT_FILES = {("cv.pdf", "application/pdf", PDF, None, False)}


@pytest.fixture
def accounts() -> Iterator[tuple[Account, Account]]:
    with EwsEmulator() as emu:
        emu.add_mailbox(SRC, PW)
        emu.add_mailbox(DST, PW)
        yield (emulator_account(emu.url, SRC, PW, fail_fast=True), emulator_account(emu.url, DST, PW, fail_fast=True))


def seed(acc: Account) -> None:
    event = CalendarItem(account=acc, folder=acc.calendar, subject="Review", start=EWSDateTime(2026, 5, 4, 9, tzinfo=UTC),
                         end=EWSDateTime(2026, 5, 4, 10, tzinfo=UTC))
    event.save()
    event.attach(FileAttachment(name="Agenda 2026.pdf", content=PDF, content_type="application/pdf"))
    event.attach(FileAttachment(name="logo.png", content=PNG, content_type="image/png", content_id="logo@mail",
                                is_inline=True))
    event.attach(ItemAttachment(name="Forwarded note", item=Message(subject="inner", body="inner body")))
    task = Task(account=acc, folder=acc.tasks, subject="Plan")
    task.save()
    task.attach(FileAttachment(name="../Plan\t/v2.txt", content="Grüße\r\n".encode(), content_type="text/plain"))
    contact = Contact(account=acc, folder=acc.contacts, display_name="Ada", given_name="Ada")
    contact.save()
    contact.attach(FileAttachment(name="cv.pdf", content=PDF, content_type="application/pdf"))
    contact.attach(FileAttachment(name="ContactPicture.jpg", content=PHOTO, content_type="image/jpeg",
                                  is_contact_photo=True))


def files_of(item: Any) -> set[tuple[str, str, bytes, str | None, bool]]:
    return {(a.name, a.content_type, a.content, a.content_id, bool(a.is_inline)) for a in item.attachments or []
            if isinstance(a, FileAttachment) and not a.is_contact_photo}


def read(acc: Account) -> dict[str, PimItem]:
    return {i.item_type: i for op in ("calendars", "tasks", "contacts") for i in item_source.read(acc, op, "m1", dict)}


def test_the_source_puts_each_file_into_the_items_text_and_names_an_attached_item(
        accounts: tuple[Account, Account]) -> None:
    src, _dst = accounts
    seed(src)
    items = read(src)
    [event] = icalendar.Calendar.from_ical(items["calendar"].payload).walk("VEVENT")
    got = {(a.params["X-FILENAME"], a.params["FMTTYPE"], base64.b64decode(a.to_ical()),
            a.params.get("X-MAILFERRY-CONTENT-ID"), a.params.get("X-MAILFERRY-INLINE") == "TRUE")
           for a in event["ATTACH"]}
    assert got == EVENT_FILES
    assert items["calendar"].lossy == ["attached item 'Forwarded note' (an Exchange item inside the item; only "
                                       "file attachments are carried)"]
    assert "X-FILENAME=_Plan_v2.txt" in items["task"].payload.replace("\r\n ", "")
    contact = items["contact"].payload.replace("\r\n ", "")
    assert "X-MAILFERRY-ATTACH;" in contact and "X-FILENAME=cv.pdf" in contact and "PHOTO;" in contact
    assert "ContactPicture" not in contact  # the photo is the card's PHOTO, not an attachment
    assert items["task"].lossy == [] and items["contact"].lossy == []


def test_the_target_creates_the_files_and_undo_removes_the_items_with_them(accounts: tuple[Account, Account]) -> None:
    src, dst = accounts
    seed(src)
    items = list(read(src).values())
    s = Sink()
    ahead: list[CreatedThing] = []
    EwsItemTarget(EwsTarget(dst)).write([PimRecord(i) for i in items], ctx(ahead), sink_of(s))
    assert s.rejected == {} and len(s.placed) == 3  # every item accounted for
    [event] = list(dst.calendar.all())
    [task] = list(dst.tasks.all())
    [contact] = list(dst.contacts.all())
    assert files_of(event) == EVENT_FILES
    assert files_of(task) == TASK_FILES
    assert files_of(contact) == CONTACT_FILES
    [photo] = [a for a in contact.attachments if a.is_contact_photo]
    assert photo.content == PHOTO
    notes = {i.item_type: s.placed[i.item_key][2] for i in items}
    assert "Forwarded note" in notes["calendar"] and "attachment" not in notes["contact"]
    attachment_ids = [a.attachment_id for it in (event, task, contact) for a in it.attachments]
    undo = EwsUndo(dst)
    assert sum(r.removed for r in undo.remove([u for u in s.undo if u.kind == "item"], 100)) == 3
    assert list(dst.calendar.all()) == [] and list(dst.tasks.all()) == [] and list(dst.contacts.all()) == []
    for aid in attachment_ids:  # gone with their items
        assert isinstance(_get_attachment(dst, aid), Exception)


def _get_attachment(acc: Account, aid: Any) -> Any:
    from exchangelib.services import GetAttachment

    try:
        return next(iter(GetAttachment(account=acc).call(items=[aid], include_mime_content=False, body_type=None,
                                                         filter_html_content=None, additional_fields=None)))
    except ResponseMessageError as exc:
        return exc


def test_a_link_and_bytes_that_are_not_base64_are_reported_not_lost(accounts: tuple[Account, Account]) -> None:
    _src, dst = accounts
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{u}\r\nDTSTAMP:20260101T000000Z\r\n" \
           "DTSTART:20260504T090000Z\r\nDTEND:20260504T100000Z\r\nSUMMARY:{u}\r\n"
    link = head.format(u="link") + "ATTACH;FMTTYPE=application/msword:http://example.com/agenda.doc\r\n" \
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    bad = head.format(u="bad") + "ATTACH;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=x.bin:@@@\r\nEND:VEVENT\r\n" \
        "END:VCALENDAR\r\n"
    records = [PimRecord(pim_item("m1", "calendars", k, "ical", k, t)) for k, t in (("link", link), ("bad", bad))]
    s = Sink()
    EwsItemTarget(EwsTarget(dst)).write(records, ctx([]), sink_of(s))
    [placed] = s.placed.values()
    assert "attachment 'agenda.doc' by reference (http://example.com/agenda.doc): Exchange 2016's EWS holds no " \
           "links" in placed[2]
    [why] = s.rejected.values()
    assert "ATTACH" in why or "base64" in why
    [event] = list(dst.calendar.all())
    assert event.subject == "link" and not event.attachments


def test_a_copy_found_after_a_crash_gets_the_files_it_lacks_and_none_twice(accounts: tuple[Account, Account]) -> None:
    src, dst = accounts
    seed(src)
    items = list(read(src).values())
    EwsItemTarget(EwsTarget(dst)).write([PimRecord(i) for i in items], ctx([]), sink_of(Sink()))
    [event] = list(dst.calendar.all())
    [contact] = list(dst.contacts.all())
    # the crash came after CreateItem and the first CreateAttachment: the other files never arrived
    for att in [a for a in event.attachments if a.name == "logo.png"] + list(contact.attachments):
        att.detach()
    again = Sink()
    EwsItemTarget(EwsTarget(dst)).write([PimRecord(i) for i in items], ctx([], inflight=frozenset(
        i.item_key for i in items)), sink_of(again))
    assert again.rejected == {} and len(again.placed) == 3
    [event] = list(dst.calendar.all())
    [contact] = list(dst.contacts.all())
    assert files_of(event) == EVENT_FILES and len(event.attachments) == 2  # each file once
    assert files_of(contact) == CONTACT_FILES and [a.content for a in contact.attachments if a.is_contact_photo] == [PHOTO]
    assert len(list(dst.tasks.all())) == 1
