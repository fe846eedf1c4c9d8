"""The pure MAPI-to-MIME/vCard/iCalendar builders and the compressed-RTF decompressor."""

from __future__ import annotations

import email
import struct
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage, MIMEPart

import compressed_rtf
import pytest
import vobject

from shared.adapters.pst import mapi as mm
from shared.adapters.pst.mapi import MapiAttachment, MapiMessage, Recipient
from shared.formats.ical import RecurrenceRule

# MS-OXRTFCP section 4.1 (example 1) and 4.2 (example 2): compressed bytes and the RTF they hold.
SPEC_EXAMPLE_1 = bytes.fromhex(
    "2d 00 00 00 2b 00 00 00 4c 5a 46 75 f1 c5 c7 a7 03 00 0a 00 72 63 70 67 31 32 35 42 32 0a f3 20 68 65 6c"
    " 09 00 20 62 77 05 b0 6c 64 7d 0a 80 0f a0"
)
SPEC_EXAMPLE_1_RTF = b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
SPEC_EXAMPLE_2 = bytes.fromhex("1a0000001c0000004c5a4675e2d44b51410004205758595a0d6e7d010eb0")
SPEC_EXAMPLE_2_RTF = b"{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}"

# The recurrence blob and time zone of dist-list.pst's "Test appointment" (weekly on Tuesdays,
# one occurrence deleted, two moved), copied here so the parser is tested without pypff.
RECUR_BLOB = bytes.fromhex(
    "043004300b2001000000c0210000010000000000000004000000232000000a0000000000000003000000805c070d40ab070d"
    "a0d2070d0200000040ab070da0d2070d2035070ddf80e95a0630000009300000e0010000fe01000002005cad070d7aad070d"
    "20ad070d0002f8d4070d16d5070d80d4070d00020000000004000000000000000000000004000000000000000000000000000000"
)
TZ_BLOB = bytes.fromhex(
    "e001000000000000c4ffffff000000000b00000001000200000000000000000000000300000002000200000000000000"
)

WHEN = datetime(2024, 2, 29, 13, 45, 10, tzinfo=UTC)


def text(part: MIMEPart | None) -> str:
    """Decoded text of a part with line ends normalized (the messages are written with CRLF)."""
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


# --------------------------------------------------------------------------------------------
# Compressed RTF
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("blob", "rtf"), [(SPEC_EXAMPLE_1, SPEC_EXAMPLE_1_RTF), (SPEC_EXAMPLE_2, SPEC_EXAMPLE_2_RTF)])
def test_decompresses_the_spec_examples(blob: bytes, rtf: bytes) -> None:
    assert mm.decompress_rtf(blob) == rtf


def test_spec_example_bytes_are_what_a_compressor_writes() -> None:
    # Guards the hand-copied constants above against a typo.
    assert compressed_rtf.compress(SPEC_EXAMPLE_1_RTF) == SPEC_EXAMPLE_1
    assert compressed_rtf.compress(SPEC_EXAMPLE_2_RTF) == SPEC_EXAMPLE_2


def test_uncompressed_mela_is_returned_as_is() -> None:
    rtf = b"{\\rtf1 plain}"
    blob = struct.pack("<II", len(rtf) + 12, len(rtf)) + b"MELA" + b"\0\0\0\0" + rtf
    assert mm.decompress_rtf(blob) == rtf


@pytest.mark.parametrize(
    ("blob", "words"),
    [
        (b"short", "shorter"),
        (SPEC_EXAMPLE_1[:8] + b"ABCD" + SPEC_EXAMPLE_1[12:], "unknown"),
        (SPEC_EXAMPLE_1[:-6], "truncated"),
        (SPEC_EXAMPLE_1[:12] + b"\0\0\0\0" + SPEC_EXAMPLE_1[16:], "damaged"),
    ],
)
def test_bad_compressed_rtf_raises_rtf_error(blob: bytes, words: str) -> None:
    with pytest.raises(mm.RtfError, match=words):
        mm.decompress_rtf(blob)


HTML_IN_RTF = (
    b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss Arial;}}"
    b"{\\*\\htmltag19 <html>}{\\*\\htmltag34 <head>}{\\*\\htmltag41 </head>}"
    b"{\\*\\htmltag50 <body>}\\htmlrtf {\\htmlrtf0 "
    b"{\\*\\htmltag64 <p>}\\htmlrtf \\pard\\plain \\htmlrtf0 Caf\\'e9 \\{ok\\} "
    b"{\\*\\htmltag84 <b>}\\htmlrtf {\\b \\htmlrtf0 bold\\htmlrtf }\\htmlrtf0 {\\*\\htmltag92 </b>}"
    b"\\u8364?{\\*\\htmltag72 </p>}\\htmlrtf \\par\\htmlrtf0 "
    b"\\htmlrtf }\\htmlrtf0 {\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}"
)


def test_html_is_de_encapsulated_from_rtf() -> None:
    html = mm.html_from_rtf(HTML_IN_RTF)
    assert html == "<html><head></head><body><p>Café {ok} <b>bold</b>€</p></body></html>"


def test_plain_rtf_is_not_mistaken_for_html() -> None:
    assert mm.html_from_rtf(b"{\\rtf1\\ansi <not html> text}") is None


# --------------------------------------------------------------------------------------------
# RFC 5322 messages
# --------------------------------------------------------------------------------------------


def base_props(**extra: object) -> dict[mm.PropKey, object]:
    props: dict[mm.PropKey, object] = {
        mm.PR_SUBJECT: "\x01\x01Grüße aus Köln – 日本",
        mm.PR_SENT_REPRESENTING_NAME: "Jürgen Müller",
        mm.PR_SENT_REPRESENTING_ADDRTYPE: "SMTP",
        mm.PR_SENT_REPRESENTING_EMAIL: "juergen@example.de",
        mm.PR_CLIENT_SUBMIT_TIME: WHEN,
        mm.PR_BODY: "Hallo, wie geht’s?\r\n",
    }
    props.update({int(k, 16) if isinstance(k, str) else k: v for k, v in extra.items()})
    return props


RECIPIENTS = [Recipient(1, "Zoë Ångström", "zoe@example.se"), Recipient(2, "Bob", "bob@example.com"),
              Recipient(3, "Hidden", "bcc@example.com")]


def test_synthesized_headers_survive_unicode() -> None:
    msg = parse(mm.build_rfc822(MapiMessage(base_props(), RECIPIENTS, id_hint="f:1")))
    assert msg["Subject"] == "Grüße aus Köln – 日本"
    assert msg["From"].addresses[0].display_name == "Jürgen Müller"
    assert msg["From"].addresses[0].addr_spec == "juergen@example.de"
    assert [a.display_name for a in msg["To"].addresses] == ["Zoë Ångström"]
    assert msg["Cc"].addresses[0].addr_spec == "bob@example.com"
    assert "Bcc" not in msg
    assert msg["Date"].datetime == WHEN
    assert msg.get_content_type() == "text/plain"
    assert text(msg) == "Hallo, wie geht’s?\n"
    assert not msg.defects


def test_synthesized_message_id_is_stable() -> None:
    one = parse(mm.build_rfc822(MapiMessage(base_props(), id_hint="file.pst:42")))
    two = parse(mm.build_rfc822(MapiMessage(base_props(), id_hint="file.pst:42")))
    other = parse(mm.build_rfc822(MapiMessage(base_props(), id_hint="file.pst:43")))
    assert one["Message-ID"] == two["Message-ID"] != other["Message-ID"]


def test_exchange_only_sender_uses_smtp_property() -> None:
    props = base_props()
    props[mm.PR_SENT_REPRESENTING_ADDRTYPE] = "EX"
    props[mm.PR_SENT_REPRESENTING_EMAIL] = "/O=EXAMPLE/OU=FIRST/CN=RECIPIENTS/CN=JM"
    props[mm.PR_SENT_REPRESENTING_SMTP_ADDRESS] = "jm@example.de"
    assert mm.sender_of(props) == ("Jürgen Müller", "jm@example.de")


TRANSPORT = (
    "Received: from a.example ([192.0.2.1]) by\r\n b.example with SMTP; Thu, 29 Feb 2024 13:45:12 +0000\r\n"
    "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.de>\r\n"
    "Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"
    "Message-ID: <orig@example.de>\r\n"
    "Content-Language: de-DE\r\n"
    "MIME-Version: 1.0\r\n"
    "X-Custom: kept\r\n\r\n"
)


def test_transport_headers_are_kept_verbatim_but_mime_headers_rebuilt() -> None:
    raw = mm.build_rfc822(MapiMessage(base_props(**{"0x007D": TRANSPORT})))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Received: from a.example ([192.0.2.1]) by\r\n b.example with SMTP" in head
    assert b"Subject: =?utf-8?b?R3LDvMOfZQ==?=" in head
    assert b"ms-tnef" not in raw
    assert head.count(b"MIME-Version") == 1
    msg = parse(raw)
    assert msg["Subject"] == "Grüße"
    assert msg["Message-ID"] == "<orig@example.de>"
    assert msg["X-Custom"] == "kept"
    assert msg["Content-Language"] == "de-DE"
    assert msg["Date"].datetime == WHEN  # missing from the transport block, so synthesized
    assert msg.get_content_type() == "text/plain"


def test_html_and_plain_become_alternatives() -> None:
    props = base_props(**{"0x1013": b"<p>Hallo \x80</p>", "0x3FDE": 1252})
    msg = parse(mm.build_rfc822(MapiMessage(props)))
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",))
    assert text(html) == "<p>Hallo €</p>\n"


def test_html_stored_in_rtf_is_preferred_over_plain_text() -> None:
    props = base_props(**{"0x1009": compressed_rtf.compress(HTML_IN_RTF)})
    msg = parse(mm.build_rfc822(MapiMessage(props)))
    html = msg.get_body(("html",))
    assert "<b>bold</b>" in text(html)
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_real_rtf_body_is_kept_as_text_rtf() -> None:
    rtf = b"{\\rtf1\\ansi {\\b bold} text}"
    props = base_props(**{"0x1009": compressed_rtf.compress(rtf)})
    msg = parse(mm.build_rfc822(MapiMessage(props)))
    parts = {p.get_content_type(): p for p in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/rtf"}
    assert text(parts["text/rtf"]) == rtf.decode()


def test_damaged_rtf_is_dropped_not_fatal() -> None:
    props = base_props(**{"0x1009": SPEC_EXAMPLE_1[:-6]})
    msg = parse(mm.build_rfc822(MapiMessage(props)))
    assert msg.get_content_type() == "text/plain"


def test_attachments_have_names_types_and_inline_images() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    props = base_props(**{"0x1013": b'<p><img src="cid:logo@x"></p>'})
    attachments = [
        MapiAttachment("Bericht für März.pdf", b"%PDF-1.4 fake"),
        MapiAttachment("data.bin", b"\x00\x01", mime_type="application/x-custom"),
        MapiAttachment("logo.png", png, content_id="logo@x"),
        MapiAttachment("odd", b"x", mime_type="not a type"),
    ]
    msg = parse(mm.build_rfc822(MapiMessage(props, attachments=attachments)))
    found = {p.get_filename(): p for p in msg.walk() if p.get_filename()}
    assert found["Bericht für März.pdf"].get_content_type() == "application/pdf"
    assert found["data.bin"].get_content_type() == "application/x-custom"
    assert found["odd"].get_content_type() == "application/octet-stream"
    logo = found["logo.png"]
    assert logo["Content-ID"] == "<logo@x>" and logo.get_content() == png
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert related and any(p.get_filename() == "logo.png" for p in related[0].iter_parts())
    assert len(list(msg.iter_attachments())) == 3


def test_embedded_message_is_message_rfc822() -> None:
    inner = MapiMessage({mm.PR_SUBJECT: "Inner – ü", mm.PR_BODY: "inside"}, id_hint="inner")
    outer = MapiMessage(base_props(), attachments=[MapiAttachment("Fwd", b"", embedded=inner)])
    msg = parse(mm.build_rfc822(outer))
    (part,) = list(msg.iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    embedded = part.get_content()
    assert embedded["Subject"] == "Inner – ü"
    assert text(embedded) == "inside\n"


def test_header_block_split_keeps_folding() -> None:
    fields = mm.split_header_block("A: 1\r\n  more\r\nB:2\n\nbody: no")
    assert fields == [("A", " 1\r\n  more"), ("B", "2")]


# --------------------------------------------------------------------------------------------
# vCard, distribution lists
# --------------------------------------------------------------------------------------------


def test_vcard_from_contact() -> None:
    props: dict[mm.PropKey, object] = {
        mm.PR_DISPLAY_NAME: "Zoë Ångström", 0x3A11: "Ångström", 0x3A06: "Zoë", 0x3A16: "Acme; Inc",
        (mm.PSETID_ADDRESS, 0x8083): "zoe@example.se", (mm.PSETID_ADDRESS, 0x8093): "/O=EX/CN=Z",
        (mm.PSETID_ADDRESS, 0x8094): "Zoë (zoe2@example.se)", 0x3A1C: "+46 70 123",
        mm.PR_BODY: "line one\r\nline two " + "x" * 80,
    }
    card = mm.vcard_from_contact(props, "uid-1")
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and card.endswith("END:VCARD\r\n")
    lines = card.replace("\r\n ", "").split("\r\n")
    assert "FN:Zoë Ångström" in lines
    assert "N:Ångström;Zoë;;;" in lines
    assert "EMAIL;TYPE=INTERNET,PREF:zoe@example.se" in lines
    assert "EMAIL;TYPE=INTERNET:zoe2@example.se" in lines
    assert "TEL;TYPE=CELL,VOICE:+46 70 123" in lines
    assert "ORG:Acme\\; Inc" in lines
    assert any(line.startswith("NOTE:line one\\nline two xx") for line in lines)
    assert all(len(physical.encode()) <= 75 for physical in card.split("\r\n"))


def one_off(name: str, kind: str, addr: str) -> bytes:
    return (b"\0\0\0\0" + bytes.fromhex("812b1fa4bea310199d6e00dd010f5402") + b"\0\0" + struct.pack("<H", 0x8001)
            + f"{name}\0{kind}\0{addr}\0".encode("utf-16-le"))


def multi_binary(values: list[bytes]) -> bytes:
    offset = 4 + 4 * len(values)
    offsets = []
    for value in values:
        offsets.append(offset)
        offset += len(value)
    return struct.pack(f"<I{len(values)}I", len(values), *offsets) + b"".join(values)


def test_dist_list_members_from_one_off_entry_ids() -> None:
    blob = multi_binary([one_off("Ärger Ä", "SMTP", "a@example.com"), one_off("B", "SMTP", "b@example.com")])
    assert mm.parse_multi_binary(blob)[1] == one_off("B", "SMTP", "b@example.com")
    assert mm.dist_list_members({(mm.PSETID_ADDRESS, 0x8054): blob}) == [
        ("Ärger Ä", "a@example.com"), ("B", "b@example.com")]
    assert mm.dist_list_members({(mm.PSETID_ADDRESS, 0x8054): mm.parse_multi_binary(blob)})[0][1] == "a@example.com"
    assert mm.dist_list_members({}) == []


# --------------------------------------------------------------------------------------------
# Appointments and tasks
# --------------------------------------------------------------------------------------------


def test_recurrence_blob_is_decoded() -> None:
    rec = mm.parse_recurrence(RECUR_BLOB)
    assert rec.rule() == RecurrenceRule("WEEKLY", by_day=[(None, "TU")], week_start="SU")
    assert rec.start_date == date(2016, 8, 2)
    assert (rec.start_minutes, rec.end_minutes) == (480, 510)
    assert rec.deleted == (date(2016, 8, 9),)
    assert [(e.start, e.end) for e in rec.exceptions] == [
        (datetime(2016, 8, 23, 9, 0), datetime(2016, 8, 23, 9, 30)),
        (datetime(2016, 8, 30, 10, 0), datetime(2016, 8, 30, 10, 30)),
    ]


def test_truncated_recurrence_blob_raises_value_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        mm.parse_recurrence(RECUR_BLOB[:20])


def test_timezone_struct() -> None:
    zone = mm.parse_timezone_struct(TZ_BLOB, "Pacific")
    assert zone is not None
    assert zone.offset(datetime(2016, 8, 2, 8)).total_seconds() == -7 * 3600
    assert zone.offset(datetime(2016, 12, 2, 8)).total_seconds() == -8 * 3600


# The weekly series of RECUR_BLOB in Outlook's Pacific time zone (TZ_BLOB), starting 2016-08-02 08:00 PDT.
WEEKLY_PACIFIC: dict[mm.PropKey, object] = {
    mm.PR_SUBJECT: "Weekly – sync", (mm.PSETID_APPOINTMENT, 0x8223): True,
    (mm.PSETID_APPOINTMENT, 0x8216): RECUR_BLOB, (mm.PSETID_APPOINTMENT, 0x8233): TZ_BLOB,
    (mm.PSETID_APPOINTMENT, 0x8234): "Pacific Time",
    (mm.PSETID_APPOINTMENT, 0x820D): datetime(2016, 8, 2, 15, tzinfo=UTC),
    (mm.PSETID_APPOINTMENT, 0x820E): datetime(2016, 8, 2, 15, 30, tzinfo=UTC),
}


def test_recurring_vevent() -> None:
    props = {**WEEKLY_PACIFIC, (mm.PSETID_APPOINTMENT, 0x8208): "Room 1"}
    ics = mm.vevent_from_appointment(props, "uid-2", ("Org", "org@example.com"),
                                     [Recipient(1, "Att", "att@example.com")])
    lines = ics.split("\r\n")
    assert "RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU" in lines
    assert "DTSTART;TZID=Pacific Time:20160802T080000" in lines
    assert "EXDATE;TZID=Pacific Time:20160809T080000" in lines
    assert "RECURRENCE-ID;TZID=Pacific Time:20160823T080000" in lines
    assert "SUMMARY:Weekly – sync" in lines and "LOCATION:Room 1" in lines
    assert "ORGANIZER;CN=Org:mailto:org@example.com" in lines
    assert lines.count("BEGIN:VEVENT") == 3 and "BEGIN:VTIMEZONE" in lines


def test_recurring_vevent_read_by_vobject_has_the_outlook_zone_offsets() -> None:
    """The VTIMEZONE the shared writer made from PidLidTimeZoneStruct, read by another library: the series
    starts at the appointment's UTC start, and its winter occurrences are an hour later in UTC."""
    [master, *changed] = vobject.readOne(mm.vevent_from_appointment(WEEKLY_PACIFIC, "uid-z")).vevent_list
    start = master.dtstart.value
    assert start.astimezone(UTC) == datetime(2016, 8, 2, 15, tzinfo=UTC)
    assert master.dtend.value.astimezone(UTC) == datetime(2016, 8, 2, 15, 30, tzinfo=UTC)
    assert start.replace(month=12, day=6).astimezone(UTC) == datetime(2016, 12, 6, 16, tzinfo=UTC)
    assert [d.astimezone(UTC) for d in master.exdate.value] == [datetime(2016, 8, 9, 15, tzinfo=UTC)]
    assert sorted(c.recurrence_id.value.astimezone(UTC) for c in changed) == [
        datetime(2016, 8, 23, 15, tzinfo=UTC), datetime(2016, 8, 30, 15, tzinfo=UTC)]
    assert sorted(c.dtstart.value.astimezone(UTC) for c in changed) == [
        datetime(2016, 8, 23, 16, tzinfo=UTC), datetime(2016, 8, 30, 17, tzinfo=UTC)]


def test_single_vevent_in_utc() -> None:
    props: dict[mm.PropKey, object] = {
        mm.PR_SUBJECT: "Once", (mm.PSETID_APPOINTMENT, 0x820D): WHEN,
        (mm.PSETID_APPOINTMENT, 0x820E): WHEN.replace(hour=14),
    }
    lines = mm.vevent_from_appointment(props, "uid-3").split("\r\n")
    assert "DTSTART:20240229T134510Z" in lines and "DTEND:20240229T144510Z" in lines
    assert not any(line.startswith("RRULE") for line in lines)


def test_vtodo_from_task() -> None:
    props: dict[mm.PropKey, object] = {
        mm.PR_SUBJECT: "Steuer – erledigen", (mm.PSETID_TASK, 0x8105): WHEN, (mm.PSETID_TASK, 0x8101): 2,
        (mm.PSETID_TASK, 0x8102): 1.0, (mm.PSETID_TASK, 0x810F): WHEN, mm.PR_IMPORTANCE: 2,
    }
    lines = mm.vtodo_from_task(props, "uid-4").split("\r\n")
    assert "BEGIN:VTODO" in lines and "SUMMARY:Steuer – erledigen" in lines
    assert "DUE;VALUE=DATE:20240229" in lines and "STATUS:COMPLETED" in lines
    assert "PERCENT-COMPLETE:100" in lines and "PRIORITY:1" in lines
