"""Which calendar or task list an item came from, carried in its iCalendar as ``X-WR-CALNAME``.

The de-facto calendar-name property (Apple, Google and Outlook write it on exported calendars) travels on the
VCALENDAR that wraps one event or task, so a target that has several calendars or task lists can put the
item into one of that name. No name means the account's default calendar or task list.
"""

from __future__ import annotations

import icalendar

from shared.formats.ical_lines import unfolded
from shared.formats.ical_records import Calendar

PROPERTY = "X-WR-CALNAME"
MAX_NAME = 255


def clean_name(name: str) -> str:
    """A name as a property can hold it: one line, no control characters, bounded."""
    return "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()[:MAX_NAME]


def name_line(name: str) -> str:
    """The calendar-level line naming the calendar (TEXT-escaped)."""
    return f"{PROPERTY}:{icalendar.vText(clean_name(name)).to_ical().decode()}"


def with_name(cal: Calendar, name: str | None) -> Calendar:
    """``cal`` naming the calendar or list it came from (nothing added for the default one)."""
    if name and clean_name(name):
        cal.properties = [p for p in cal.properties if not _is_name(p)] + [name_line(name)]
    return cal


def calendar_name(cal: Calendar) -> str | None:
    """The name the calendar carries, or None (the default calendar or list)."""
    for line in cal.properties:
        if _is_name(line):
            _name, _params, value = unfolded(line)[0].parts()  # unescaped by the library
            return clean_name(str(value)) or None
    return None


def _is_name(line: str) -> bool:
    return line.upper().startswith(PROPERTY + ":") or line.upper().startswith(PROPERTY + ";")
