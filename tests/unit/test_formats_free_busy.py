"""An event's "show as" state between Exchange and iCalendar (shared.formats.free_busy).

The iCalendar texts and the expected values are written out here (Outlook's export uses
X-MICROSOFT-CDO-BUSYSTATUS next to TRANSP).
"""

from __future__ import annotations

import pytest

from shared.formats.free_busy import from_ical, to_ical
from shared.formats.ical import Calendar, EventRecord, parse_calendar, serialize_calendar

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:e@test\r\n" \
       "DTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
TAIL = "END:VEVENT\r\nEND:VCALENDAR\r\n"


@pytest.mark.parametrize(("lines", "status"), [
    ("X-MICROSOFT-CDO-BUSYSTATUS:OOF\r\nTRANSP:OPAQUE\r\n", "OOF"),
    ("X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\r\n", "WorkingElsewhere"),
    ("X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n", "Tentative"),
    ("x-microsoft-cdo-busystatus:free\r\nTRANSP:OPAQUE\r\n", "Free"),  # the property wins over TRANSP
    ("X-MICROSOFT-CDO-BUSYSTATUS:NODATA\r\n", "NoData"),
    ("X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nTRANSP:TRANSPARENT\r\n", "Busy"),
    ("TRANSP:TRANSPARENT\r\n", "Free"),
    ("STATUS:TENTATIVE\r\n", "Tentative"),
    ("", "Busy"),
    ("X-MICROSOFT-CDO-BUSYSTATUS:SLEEPING\r\nTRANSP:TRANSPARENT\r\n", "Free"),  # unknown value: TRANSP decides
])
def test_the_show_as_state_of_an_icalendar_event(lines: str, status: str) -> None:
    [event] = parse_calendar(HEAD + lines + TAIL).events
    assert from_ical(event) == status


@pytest.mark.parametrize(("status", "transp", "busy"), [
    ("Free", "TRANSP:TRANSPARENT", "X-MICROSOFT-CDO-BUSYSTATUS:FREE"),
    ("Tentative", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE"),
    ("Busy", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY"),
    ("OOF", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"),
    ("WorkingElsewhere", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE"),
    ("NoData", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:NODATA"),
])
def test_every_exchange_state_is_written_and_read_back(status: str, transp: str, busy: str) -> None:
    [event] = parse_calendar(HEAD + "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n" + TAIL).events
    to_ical(status, event)
    text = serialize_calendar(Calendar(events=[event]))
    lines = text.split("\r\n")
    assert transp in lines and busy in lines
    assert sum(1 for x in lines if x.startswith("X-MICROSOFT-CDO-BUSYSTATUS")) == 1
    [again] = parse_calendar(text).events
    assert from_ical(again) == status


def test_no_state_known_writes_nothing() -> None:
    event = EventRecord(uid="x")
    to_ical(None, event)
    assert event.transparency is None and event.extra == []


@pytest.mark.parametrize(("busy", "status"), [(0, "Free"), (1, "Tentative"), (2, "Busy"), (3, "OOF"),
                                              (4, "WorkingElsewhere")])
def test_an_appointment_from_a_pst_file_keeps_its_state(busy: int, status: str) -> None:
    """PidLidBusyStatus (MS-OXOCAL 2.2.1.2): 0 free, 1 tentative, 2 busy, 3 out of office, 4 working elsewhere."""
    from datetime import UTC, datetime

    from shared.adapters.pst import mapi as mm

    props: dict[mm.PropKey, object] = {
        mm.PR_SUBJECT: "away", (mm.PSETID_APPOINTMENT, 0x820D): datetime(2026, 3, 2, 9, tzinfo=UTC),
        (mm.PSETID_APPOINTMENT, 0x820E): datetime(2026, 3, 2, 17, tzinfo=UTC),
        (mm.PSETID_APPOINTMENT, 0x8205): busy,
    }
    [event] = parse_calendar(mm.vevent_from_appointment(props, "uid-busy")).events
    assert from_ical(event) == status
