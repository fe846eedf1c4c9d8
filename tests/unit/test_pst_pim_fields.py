"""PST contacts, appointments and tasks: the Outlook properties beyond names and times.

Properties are hand-made dicts (tags and named-property ids from MS-OXPROPS); the expected vCard and
iCalendar lines are written here, not computed by the builders.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime
from typing import Any

import vobject

from shared.adapters.pst import mapi as mm
from shared.adapters.pst.mapi import MapiAttachment

KEYWORDS = ("00020329-0000-0000-c000-000000000046", "Keywords")
COMMON = "00062008-0000-0000-c000-000000000046"
START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def lines(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def appointment(extra: dict[mm.PropKey, object]) -> dict[mm.PropKey, object]:
    return {mm.PR_SUBJECT: "Review", (mm.PSETID_APPOINTMENT, 0x820D): START,
            (mm.PSETID_APPOINTMENT, 0x820E): START.replace(hour=10), **extra}


def test_an_appointment_keeps_its_reminder_categories_and_privacy() -> None:
    props = appointment({(COMMON, 0x8503): True, (COMMON, 0x8501): 20, 0x0036: 2, KEYWORDS: ["Rot", "Kunde – Ärger"]})
    ics = lines(mm.vevent_from_appointment(props, "uid-a"))
    assert "CLASS:PRIVATE" in ics
    assert "CATEGORIES:Rot,Kunde – Ärger" in ics
    assert ics[ics.index("BEGIN:VALARM"):ics.index("END:VALARM") + 1] == [
        "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT20M", "END:VALARM"]


def test_a_reminder_that_is_not_set_is_no_alarm_and_personal_is_x_personal() -> None:
    ics = lines(mm.vevent_from_appointment(appointment({(COMMON, 0x8503): False, (COMMON, 0x8501): 15, 0x0036: 1}),
                                           "uid-b"))
    assert "BEGIN:VALARM" not in ics and "CLASS:X-PERSONAL" in ics
    ics = lines(mm.vevent_from_appointment(appointment({0x0036: 3}), "uid-c"))
    assert "CLASS:CONFIDENTIAL" in ics


def test_a_task_keeps_waiting_its_reminder_categories_and_privacy() -> None:
    props: dict[mm.PropKey, object] = {
        mm.PR_SUBJECT: "Angebot", (mm.PSETID_TASK, 0x8101): 3, (mm.PSETID_TASK, 0x8102): 0.25,
        (COMMON, 0x8503): True, (COMMON, 0x8502): datetime(2024, 3, 5, 7, 30, tzinfo=UTC),
        KEYWORDS: ["Büro"], 0x0036: 2,
    }
    ics = lines(mm.vtodo_from_task(props, "uid-t"))
    assert "STATUS:IN-PROCESS" in ics and "X-MS-TASK-STATUS:WaitingOnOthers" in ics
    assert "PERCENT-COMPLETE:25" in ics and "CATEGORIES:Büro" in ics and "CLASS:PRIVATE" in ics
    assert "TRIGGER;VALUE=DATE-TIME:20240305T073000Z" in ics
    deferred = lines(mm.vtodo_from_task({mm.PR_SUBJECT: "Später", (mm.PSETID_TASK, 0x8101): 4}, "uid-d"))
    assert "X-MS-TASK-STATUS:Deferred" in deferred and "BEGIN:VALARM" not in deferred


def test_a_contact_keeps_every_phone_the_other_address_and_the_people_around_it() -> None:
    props: dict[mm.PropKey, object] = {
        mm.PR_DISPLAY_NAME: "Jürgen Weiß", 0x3A11: "Weiß", 0x3A06: "Jürgen",
        0x3A08: "+49 30 1", 0x3A1B: "+49 30 2", 0x3A09: "+49 30 3", 0x3A2F: "+49 30 4", 0x3A57: "+49 30 5",
        0x3A2E: "+49 30 6", 0x3A23: "+49 30 7",
        0x3A29: "Hauptstr. 1", 0x3A27: "Berlin", 0x3A2A: "10115",
        0x3A63: "Ferienweg 2", 0x3A5F: "Sylt", 0x3A64: "Postfach 9",
        (mm.PSETID_ADDRESS, 0x8022): 3,  # the other address is the postal one
        0x3A41: datetime(2009, 6, 19, 22, 0, tzinfo=UTC),  # 20 June, saved in Berlin (CEST)
        0x3A42: datetime(1975, 1, 1, 23, 0, tzinfo=UTC),  # 2 January, saved in Berlin (CET)
        0x3A30: "Anna", 0x3A4E: "Chefin, Dr.", 0x3A48: "Eva", 0x3A19: "Raum 4", 0x3A46: "Ingenieur",
        (mm.PSETID_ADDRESS, 0x8062): "juergen@im.example", KEYWORDS: ["Familie", "VIP"],
    }
    card = lines(mm.vcard_from_contact(props, "uid-k"))
    for line in ("TEL;TYPE=WORK,VOICE:+49 30 1", "TEL;TYPE=WORK:+49 30 2", "TEL;TYPE=HOME,VOICE:+49 30 3",
                 "TEL;TYPE=HOME:+49 30 4", "TEL;TYPE=WORK,X-MAIN:+49 30 5", "TEL;TYPE=X-ASSISTANT:+49 30 6",
                 "TEL;TYPE=FAX:+49 30 7", "ADR;TYPE=WORK:;;Hauptstr. 1;Berlin;;10115;",
                 "ADR;TYPE=PREF:Postfach 9;;Ferienweg 2;Sylt;;;", "BDAY:1975-01-02", "X-ANNIVERSARY:2009-06-20",
                 "CATEGORIES:Familie,VIP", "X-ASSISTANT:Anna", "X-MANAGER:Chefin\\, Dr.", "X-SPOUSE:Eva",
                 "X-MS-OFFICE-LOCATION:Raum 4", "ROLE:Ingenieur", "IMPP:juergen@im.example"):
        assert line in card, line


def test_a_birthday_saved_west_of_utc_keeps_its_day() -> None:
    props: dict[mm.PropKey, object] = {mm.PR_DISPLAY_NAME: "Ana", 0x3A06: "Ana",
                                       0x3A42: datetime(1980, 5, 15, 4, 0, tzinfo=UTC)}  # New York, EDT
    assert "BDAY:1980-05-15" in lines(mm.vcard_from_contact(props, "uid-w"))


def test_a_contact_photo_attachment_becomes_the_photo() -> None:
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg"
    photo = MapiAttachment("ContactPicture.jpg", jpeg, "image/jpeg", contact_photo=True)
    card = lines(mm.vcard_from_contact({mm.PR_DISPLAY_NAME: "P", 0x3A06: "P"}, "uid-p", photo))
    assert f"PHOTO;ENCODING=b;TYPE=JPEG:{base64.b64encode(jpeg).decode()}" in card


def test_an_all_day_appointment_made_east_of_utc_keeps_its_day() -> None:
    """Outlook stores an all-day event as local midnights in UTC: 4 May in Berlin is 3 May 22:00Z."""
    props = appointment({(mm.PSETID_APPOINTMENT, 0x8215): True,
                         (mm.PSETID_APPOINTMENT, 0x820D): datetime(2026, 5, 3, 22, 0, tzinfo=UTC),
                         (mm.PSETID_APPOINTMENT, 0x820E): datetime(2026, 5, 5, 22, 0, tzinfo=UTC)})
    ics = lines(mm.vevent_from_appointment(props, "uid-ad"))
    assert "DTSTART;VALUE=DATE:20260504" in ics and "DTEND;VALUE=DATE:20260506" in ics
    west = appointment({(mm.PSETID_APPOINTMENT, 0x8215): True,  # New York: 04:00Z
                        (mm.PSETID_APPOINTMENT, 0x820D): datetime(2026, 5, 4, 4, 0, tzinfo=UTC),
                        (mm.PSETID_APPOINTMENT, 0x820E): datetime(2026, 5, 5, 4, 0, tzinfo=UTC)})
    ics = lines(mm.vevent_from_appointment(west, "uid-ad2"))
    assert "DTSTART;VALUE=DATE:20260504" in ics and "DTEND;VALUE=DATE:20260505" in ics


def test_meeting_attendees_keep_their_kind_and_response() -> None:
    """On a meeting, PR_RECIPIENT_TYPE 1/2/3 is required/optional/resource (a room is a BCC recipient), and
    PR_RECIPIENT_TRACKSTATUS 2/3/4/5 tentative/accepted/declined/not responded."""
    props = appointment({})
    people = [mm.Recipient(1, "Ann", "ann@example.test", 3), mm.Recipient(2, "Bob", "bob@example.test", 4),
              mm.Recipient(3, "Raum 1", "room1@example.test", 2), mm.Recipient(1, "Cy", "cy@example.test")]
    text = mm.vevent_from_appointment(props, "uid-m", ("Org", "org@example.test"), people)
    event = vobject.readOne(text).vevent  # read by another library

    def param(a: Any, name: str) -> str | None:
        return a.params[name][0] if name in a.params else None

    got = sorted((a.value, param(a, "CN"), param(a, "ROLE"), param(a, "PARTSTAT"), param(a, "CUTYPE"))
                 for a in event.attendee_list)
    assert got == [("mailto:ann@example.test", "Ann", "REQ-PARTICIPANT", "ACCEPTED", None),
                   ("mailto:bob@example.test", "Bob", "OPT-PARTICIPANT", "DECLINED", None),
                   ("mailto:cy@example.test", "Cy", "REQ-PARTICIPANT", None, None),
                   ("mailto:room1@example.test", "Raum 1", "NON-PARTICIPANT", "TENTATIVE", "RESOURCE")]


def minutes(when: datetime) -> int:
    return int((when - datetime(1601, 1, 1)).total_seconds() // 60)


def daily_blob_with_a_renamed_occurrence(subject: str, location: str) -> bytes:
    """An AppointmentRecurrencePattern built field by field from MS-OXOCAL 2.2.1.44: daily, 3 times from
    2024-03-04 09:00, the second occurrence moved an hour and given a subject and location. The 8-bit copies
    in ExceptionInfo are what a writer in another code page leaves ('?' here); ExtendedException has them whole."""
    day, moved = datetime(2024, 3, 4), datetime(2024, 3, 5, 10, 0)
    original = datetime(2024, 3, 5, 9, 0)
    head = struct.pack("<HHHHHIII", 0x3004, 0x3004, 0x200A, 0, 0, 0, 1440, 0)
    head += struct.pack("<IIII", 0x2022, 3, 1, 1) + struct.pack("<I", minutes(datetime(2024, 3, 5)))
    head += struct.pack("<I", 1) + struct.pack("<I", minutes(datetime(2024, 3, 5)))
    head += struct.pack("<II", minutes(day), minutes(datetime(2024, 3, 6)))
    narrow_s, narrow_l = b"?" * len(subject), b"?" * len(location)
    info = struct.pack("<IIIH", minutes(moved), minutes(moved) + 60, minutes(original), 0x0011)
    info += struct.pack("<HH", len(narrow_s) + 1, len(narrow_s)) + narrow_s
    info += struct.pack("<HH", len(narrow_l) + 1, len(narrow_l)) + narrow_l
    wide_s, wide_l = subject.encode("utf-16-le"), location.encode("utf-16-le")
    extended = struct.pack("<III", 4, 0, 0) + struct.pack("<III", minutes(moved), minutes(moved) + 60, minutes(original))
    extended += struct.pack("<H", len(subject)) + wide_s + struct.pack("<H", len(location)) + wide_l
    extended += struct.pack("<I", 0)
    tail = struct.pack("<IIIIH", 0x3006, 0x3009, 540, 600, 1) + info + struct.pack("<I", 0) + extended
    return head + tail + struct.pack("<I", 0)


def test_a_renamed_occurrence_keeps_its_unicode_subject_and_location() -> None:
    rec = mm.parse_recurrence(daily_blob_with_a_renamed_occurrence("Überraschung – Тест", "Raum Ω"))
    [moved] = rec.exceptions
    assert (moved.subject, moved.location) == ("Überraschung – Тест", "Raum Ω")
    assert (moved.original_start, moved.start) == (datetime(2024, 3, 5, 9, 0), datetime(2024, 3, 5, 10, 0))
    assert rec.count == 3 and rec.deleted == ()
