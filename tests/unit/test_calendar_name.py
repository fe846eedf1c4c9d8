"""The calendar or task list an item came from, carried as X-WR-CALNAME (shared/formats/calendar_name.py)."""

from __future__ import annotations

import pytest

from shared.formats.calendar_name import calendar_name, with_name
from shared.formats.ical import Calendar, parse_calendar, serialize_calendar
from shared.formats.ical_records import TaskRecord


@pytest.mark.parametrize(("name", "line", "back"), [
    ("Einkauf", "X-WR-CALNAME:Einkauf", "Einkauf"),
    ("Urlaub; Reisen, 2026", "X-WR-CALNAME:Urlaub\\; Reisen\\, 2026", "Urlaub; Reisen, 2026"),  # TEXT escapes
    ("C:\\Temp", "X-WR-CALNAME:C:\\\\Temp", "C:\\Temp"),
    ("two\nlines\x07", "X-WR-CALNAME:twolines", "twolines"),  # one line, no control characters
])
def test_a_name_is_written_escaped_and_read_back(name: str, line: str, back: str) -> None:
    text = serialize_calendar(with_name(Calendar(tasks=[TaskRecord(summary="t")]), name))
    text = text.decode() if isinstance(text, bytes) else text
    assert line in text.split("\r\n")
    assert calendar_name(parse_calendar(text)) == back


def test_the_default_calendar_has_no_name_and_a_foreign_file_is_read() -> None:
    assert calendar_name(with_name(Calendar(), None)) is None
    assert calendar_name(with_name(Calendar(), "  ")) is None
    foreign = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nX-WR-CALNAME:Work\r\nBEGIN:VTODO\r\nUID:1\r\n" \
              "SUMMARY:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    assert calendar_name(parse_calendar(foreign)) == "Work"
