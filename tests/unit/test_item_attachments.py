"""Attachments of events, tasks and contacts in their iCalendar / vCard text (shared.formats.item_attachments).

The expected lines and values are written here; what our writer produces is read back by icalendar's own content
line parser (for iCalendar) and by plain string handling, not by the function that wrote it.
"""

from __future__ import annotations

import base64
from datetime import date

import icalendar
import pytest

from shared.adapters.pim_items import MAX_RECORD_BYTES, carry_attachments, payload_size, pim_item, too_large
from shared.formats.ical import Calendar, EventRecord, parse_calendar, serialize_calendar
from shared.formats.item_attachments import ItemAttachment, media_type, parse_line, safe_name, split
from shared.formats.vcard import ContactCard, parse_vcard, serialize_vcard

PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n end"


@pytest.mark.parametrize(("raw", "safe"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("C:\\Users\\x\\evil.exe", "C:_Users_x_evil.exe"),
    ("a\x00b\r\nc\x7f\x85.txt", "abc.txt"),
    ("  .hidden. ", "hidden"),
    ("\x01\x02", "attachment"),
    ("", "attachment"),
    ("Grüße; \"quoted\", ok.txt", "Grüße; \"quoted\", ok.txt"),
    ("x" * 300, "x" * 255),
])
def test_a_file_name_is_made_safe(raw: str, safe: str) -> None:
    assert safe_name(raw) == safe


def test_media_types_are_kept_when_well_formed_else_guessed() -> None:
    assert media_type("Application/PDF", "x") == "application/pdf"
    assert media_type("not a type", "photo.png") == "image/png"
    assert media_type(None, "noext") == "application/octet-stream"


def test_the_line_is_rfc_5545_attach_with_the_bytes_and_every_parameter() -> None:
    att = ItemAttachment('we;ird:na,me "x".pdf', "application/pdf", PDF, content_id="img1@x", inline=True)
    line = att.line()
    name, params, value = icalendar.parser.Contentline(line).parts()
    assert name == "ATTACH"
    assert dict(params) == {"FMTTYPE": "application/pdf", "ENCODING": "BASE64", "VALUE": "BINARY",
                            "X-FILENAME": 'we;ird:na,me "x".pdf', "X-MAILFERRY-CONTENT-ID": "img1@x",
                            "X-MAILFERRY-INLINE": "TRUE"}
    assert base64.b64decode(value) == PDF
    assert "\n" not in line and "\r" not in line


def test_reading_a_line_gives_back_the_same_attachment() -> None:
    att = ItemAttachment("Grüße ^ a.txt", "text/plain", "Grüße\r\n".encode(), content_id="c@d")
    assert parse_line(att.line()) == att
    assert parse_line(att.line("X-MAILFERRY-ATTACH")) == att
    assert parse_line("DESCRIPTION:not one") is None


def test_other_writers_lines_are_read() -> None:
    # RFC 5545's own examples, and Apple's FILENAME parameter
    by_uri = parse_line("ATTACH;FMTTYPE=application/msword:http://example.com/templates/agenda.doc")
    assert by_uri == ItemAttachment("agenda.doc", "application/msword", None, "http://example.com/templates/agenda.doc")
    binary = parse_line("ATTACH;ENCODING=BASE64;FMTTYPE=text/plain;VALUE=BINARY:dGV4dA==")
    assert binary == ItemAttachment("attachment", "text/plain", b"text")
    apple = parse_line("ATTACH;VALUE=BINARY;ENCODING=BASE64;FILENAME=../plan.png:iVBORw==")
    assert apple == ItemAttachment("_plan.png", "image/png", b"\x89PNG")


def test_bytes_that_are_not_base64_are_refused_naming_the_file() -> None:
    with pytest.raises(ValueError, match=r"not base64 \('x\.bin'\)"):
        parse_line("ATTACH;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=x.bin:@@@not base64@@@")


def test_an_event_carries_its_attachments_through_the_ical_writer_and_reader() -> None:
    event = EventRecord(uid="a1", summary="with files", start=date(2026, 5, 4))
    event.extra = [ItemAttachment("agenda.pdf", "application/pdf", PDF).line(),
                   ItemAttachment("link", "text/html", None, "https://example.com/x?a=1;b=2").line()]
    text = serialize_calendar(Calendar(events=[event]))
    # read by icalendar directly: the VEVENT's ATTACH properties and their bytes
    [vevent] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    attach = vevent.get("ATTACH")
    assert isinstance(attach, list) and len(attach) == 2
    assert attach[0].params["X-FILENAME"] == "agenda.pdf" and attach[0].params["FMTTYPE"] == "application/pdf"
    assert str(attach[1]) == "https://example.com/x?a=1;b=2"
    [back] = parse_calendar(text).events
    files, rest = split(back.extra)
    assert files == [ItemAttachment("agenda.pdf", "application/pdf", PDF),
                     ItemAttachment("link", "text/html", None, "https://example.com/x?a=1;b=2")]
    assert not any(line.startswith("ATTACH") for line in rest)


def test_a_contact_carries_its_attachments_through_the_vcard_writer_and_reader() -> None:
    card = ContactCard(formatted_name="Ada", given_name="Ada")
    card.extra = [ItemAttachment("cv; 2024.pdf", "application/pdf", PDF * 20).line("X-MAILFERRY-ATTACH")]
    text = serialize_vcard(card)
    assert "X-MAILFERRY-ATTACH;" in text
    twice = serialize_vcard(parse_vcard(serialize_vcard(parse_vcard(text))))  # read and written again, twice
    files, _rest = split(parse_vcard(twice).extra)
    assert files == [ItemAttachment("cv; 2024.pdf", "application/pdf", PDF * 20)]


def test_attachments_fit_into_one_record_and_the_others_are_named() -> None:
    small = ItemAttachment("small.txt", "text/plain", b"x" * 1000)
    big = ItemAttachment("big.bin", "application/octet-stream", b"\x00" * 1_600_000)  # 2.1 MB as base64
    extra: list[str] = []
    notes = carry_attachments(extra, [big, small], payload_size("BEGIN:VCALENDAR\r\n"))
    assert [parse_line(x) for x in extra] == [small]
    assert notes == ["attachment 'big.bin' (1.6 MB) not carried: an item with its attachments travels as one "
                     "record of at most 2.0 MB"]
    # what was carried really fits: the item as a record stays under the limit
    event = EventRecord(uid="u", summary="s", start=date(2026, 5, 4))
    event.extra = extra
    item = pim_item("m1", "calendars", "src", "ical", "s", serialize_calendar(Calendar(events=[event])))
    assert too_large(item) is None
    # and the largest that fits is close to the limit, not far below it
    nearly = ItemAttachment("nearly.bin", "application/octet-stream", b"\x01" * 1_350_000)
    kept: list[str] = []
    assert carry_attachments(kept, [nearly], 1000) == [] and len(kept) == 1
    event.extra = kept
    item = pim_item("m1", "calendars", "src", "ical", "s", serialize_calendar(Calendar(events=[event])))
    assert too_large(item) is None and payload_size(item.payload) > MAX_RECORD_BYTES * 0.9
