"""PST tasks' recurrence and the attachments of PST contacts, appointments and tasks.

No PST of the shared corpus has a recurring task or a file attached to a contact, appointment or task (its one
appointment's two attachments are its changed occurrences), so the properties are hand-made here: the
PidLidTaskRecurrence blobs are built field by field from MS-OXOCAL 2.2.1.44.1 (RecurrencePattern, which
MS-OXOTASK 2.2.2.2.15 names for tasks), and the expected occurrences are written as dates, then compared with
what dateutil expands from the RRULE icalendar reads in our text.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, date, datetime

import icalendar
from dateutil.rrule import rrulestr

from shared.adapters.pst import mapi as mm
from shared.adapters.pst.mapi import MapiAttachment, MapiMessage
from shared.adapters.pst.reader import with_files

TASK = mm.PSETID_TASK
DAILY, WEEKLY, MONTHLY = 0x200A, 0x200B, 0x200C
END_DATE, END_COUNT, NO_END = 0x2021, 0x2022, 0x2023


def minutes(day: date) -> int:
    return int((datetime(day.year, day.month, day.day) - datetime(1601, 1, 1)).total_seconds() // 60)


def pattern(freq: int, kind: int, period: int, specific: bytes, end: int, count: int, first_dow: int, start: date,
            until: date, sliding: int = 0) -> bytes:
    """A RecurrencePattern: versions, frequency, pattern type, calendar type, FirstDateTime, Period, SlidingFlag,
    the pattern-specific part, EndType, OccurrenceCount, FirstDOW, no deleted or modified instances, StartDate,
    EndDate."""
    head = struct.pack("<HHHHHIII", 0x3004, 0x3004, freq, kind, 0, 0, period, sliding)
    return head + specific + struct.pack("<IIIIIII", end, count, first_dow, 0, 0, minutes(start), minutes(until))


def task(blob: bytes | None, *, start: date | None, recurring: bool = True, dead: bool = False) -> dict[mm.PropKey, object]:
    props: dict[mm.PropKey, object] = {mm.PR_SUBJECT: "Bericht", (TASK, 0x8126): recurring, (TASK, 0x8109): dead}
    if blob is not None:
        props[(TASK, 0x8116)] = blob
    if start is not None:
        props[(TASK, 0x8104)] = props[(TASK, 0x8105)] = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return props


def occurrences(ics: str, limit: int = 40) -> list[date]:
    [todo] = icalendar.Calendar.from_ical(ics).walk("VTODO")
    start = todo.decoded("DTSTART")
    rule = rrulestr(todo["RRULE"].to_ical().decode(), dtstart=datetime(start.year, start.month, start.day))
    return [d.date() for d in list(rule.xafter(datetime(1900, 1, 1), count=limit))]


def test_a_task_every_other_week_on_monday_and_wednesday_ten_times() -> None:
    blob = pattern(WEEKLY, 1, 2, struct.pack("<I", 0x02 | 0x08), END_COUNT, 10, 1, date(2024, 3, 4), date(2024, 5, 1))
    ics = mm.vtodo_from_task(task(blob, start=date(2024, 3, 4)), "t1")
    assert occurrences(ics) == [date(2024, 3, 4), date(2024, 3, 6), date(2024, 3, 18), date(2024, 3, 20),
                                date(2024, 4, 1), date(2024, 4, 3), date(2024, 4, 15), date(2024, 4, 17),
                                date(2024, 4, 29), date(2024, 5, 1)]
    assert "DTSTART;VALUE=DATE:20240304" in ics.split("\r\n")
    assert mm.task_notes(task(blob, start=date(2024, 3, 4))) == []


def test_a_task_on_the_last_friday_of_each_month_until_a_day() -> None:
    blob = pattern(MONTHLY, 4, 1, struct.pack("<II", 0x20, 5), END_DATE, 10, 0, date(2024, 3, 29), date(2024, 12, 31))
    ics = mm.vtodo_from_task(task(blob, start=date(2024, 3, 29)), "t2")
    assert occurrences(ics) == [date(2024, 3, 29), date(2024, 4, 26), date(2024, 5, 31), date(2024, 6, 28),
                                date(2024, 7, 26), date(2024, 8, 30), date(2024, 9, 27), date(2024, 10, 25),
                                date(2024, 11, 29), date(2024, 12, 27)]
    [rrule] = [x for x in ics.split("\r\n") if x.startswith("RRULE:")]
    assert "UNTIL=20241231;" in rrule + ";"  # a day, as the task's DTSTART is one (RFC 5545 §3.3.10)


def test_a_task_without_a_start_date_starts_on_the_patterns_first_day() -> None:
    blob = pattern(DAILY, 0, 2 * 1440, b"", NO_END, 10, 0, date(2024, 6, 3), date(4500, 8, 31))
    ics = mm.vtodo_from_task(task(blob, start=None), "t3")
    assert occurrences(ics, 3) == [date(2024, 6, 3), date(2024, 6, 5), date(2024, 6, 7)]


def test_a_regenerating_task_is_carried_once_and_named() -> None:
    blob = pattern(DAILY, 0, 3 * 1440, b"", NO_END, 10, 0, date(2024, 6, 3), date(4500, 8, 31), sliding=1)
    props = task(blob, start=date(2024, 6, 3))
    assert "RRULE" not in mm.vtodo_from_task(props, "t4")
    assert mm.task_notes(props) == ["regenerating recurrence (a new task 3 day(s) after each is completed): "
                                    "iCalendar has no such rule; the task is carried once, without recurrence"]


def test_the_last_task_of_a_series_and_a_task_that_does_not_recur_have_no_rule() -> None:
    blob = pattern(DAILY, 0, 1440, b"", NO_END, 10, 0, date(2024, 6, 3), date(4500, 8, 31))
    assert "RRULE" not in mm.vtodo_from_task(task(blob, start=date(2024, 6, 3), dead=True), "t5")
    assert "RRULE" not in mm.vtodo_from_task(task(blob, start=date(2024, 6, 3), recurring=False), "t6")
    assert "RRULE" not in mm.vtodo_from_task(task(b"\x04\x30", start=date(2024, 6, 3)), "t7")  # cut: no rule


PDF = b"%PDF-1.7\n\x00\xff binary"


def test_a_tasks_files_travel_as_attach_lines_with_name_type_and_content_id() -> None:
    inner = MapiMessage(props={mm.PR_SUBJECT: "Weitergeleitet", 0x1000: "Body of the attached mail"})
    files = [MapiAttachment("..\\Angebot/2024\x07.pdf", PDF, "Application/PDF", content_id="<logo@x>"),
             MapiAttachment("image001.png", b"\x89PNG", None, inline=True),
             MapiAttachment("Weitergeleitet", b"", embedded=inner)]
    props = {mm.PR_SUBJECT: "Mit Anhang"}
    ics, notes = with_files(lambda extra: mm.vtodo_from_task(props, "t8", extra), files)
    assert notes == ()
    [todo] = icalendar.Calendar.from_ical(ics).walk("VTODO")
    got = [(a.params.get("X-FILENAME"), a.params.get("FMTTYPE"), a.params.get("X-MAILFERRY-CONTENT-ID"),
            a.params.get("X-MAILFERRY-INLINE")) for a in todo["ATTACH"]]
    assert got == [("_Angebot_2024.pdf", "application/pdf", "logo@x", None),
                   ("image001.png", "image/png", None, "TRUE"),
                   ("Weitergeleitet.eml", "message/rfc822", None, None)]
    assert base64.b64decode(todo["ATTACH"][0].to_ical()) == PDF
    mail = base64.b64decode(todo["ATTACH"][2].to_ical())
    assert b"Subject: Weitergeleitet" in mail and b"Body of the attached mail" in mail


def test_a_contacts_file_travels_and_one_too_large_for_a_record_is_named() -> None:
    files = [MapiAttachment("cv.pdf", PDF, "application/pdf"),
             MapiAttachment("scan.tif", b"\x00" * 2_500_000, "image/tiff")]
    props = {mm.PR_DISPLAY_NAME: "Ada", 0x3A06: "Ada"}
    vcard, notes = with_files(lambda extra: mm.vcard_from_contact(props, "c1", None, extra), files,
                              "X-MAILFERRY-ATTACH")
    unfolded = vcard.replace("\r\n ", "")
    assert f"X-MAILFERRY-ATTACH;ENCODING=BASE64;FMTTYPE=application/pdf;VALUE=BINARY;X-FILENAME=cv.pdf:" \
           f"{base64.b64encode(PDF).decode()}" in unfolded.split("\r\n")
    assert "scan.tif" not in vcard
    assert notes == ("attachment 'scan.tif' (2.5 MB) not carried: an item with its attachments travels as one "
                     "record of at most 2.0 MB",)
