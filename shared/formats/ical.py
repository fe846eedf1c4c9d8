"""iCalendar (RFC 5545) VEVENT / VTODO <-> EventRecord / TaskRecord, read and written by ``icalendar``.

The library parses and writes the text (content lines, folding, escaping, typed values, VTIMEZONE
offsets); this module maps its components to our records and adds our strictness rules, which the
library leaves to its caller: unclosed or mismatched components, content lines without a value,
property values the library could only keep as "broken", a VEVENT without DTSTART (RFC 5545 §3.6.1,
unless the calendar has a METHOD), DTEND together with DURATION, out-of-range numbers.

Dates and times are plain Python values: ``date`` (all-day, VALUE=DATE), naive ``datetime`` (floating),
``datetime`` with ``timezone.utc`` (``...Z``), or with a zone from a TZID: a ``ZoneInfo`` when the TZID
names an IANA zone (also ``/mozilla.org/.../Europe/Berlin``-style prefixes, Windows names such as
"W. Europe Standard Time", and X-LIC-LOCATION), a :class:`VTimezone` built from the calendar's VTIMEZONE
definition for custom TZIDs (it carries the best-matching IANA zone in ``.iana``), or an
:class:`UnresolvedZone` (offset unknown, TZID kept) when neither exists. TZIDs are resolved here, per
calendar, not by the library's process-wide cache of VTIMEZONEs.

Overrides (a VEVENT/VTODO with RECURRENCE-ID and the UID of a recurring master) become the master's
``exceptions``. Properties without a field are kept in ``extra`` as the library writes them (one
unfolded content line each); components other than VEVENT, VTODO and VTIMEZONE (VJOURNAL, VFREEBUSY,
X-components) are kept as their lines in ``Calendar.other_components``. Malformed input raises
:class:`~shared.formats.FormatError` saying what and where.
"""

from __future__ import annotations

import warnings

from icalendar.error import GloballyUniqueTZIDGuessed

from .ical_lines import kept_line
from .ical_read import parse_calendar
from .ical_records import (
    WEEKDAYS,
    Alarm,
    Attendee,
    Calendar,
    DateOrDateTime,
    EventRecord,
    RecurrenceRule,
    TaskRecord,
)
from .ical_write import serialize_calendar
from .ical_zones import UnresolvedZone, VTimezone, tz_key, vtimezone_for, zone_by_name

__all__ = [
    "WEEKDAYS",
    "Alarm",
    "Attendee",
    "Calendar",
    "DateOrDateTime",
    "EventRecord",
    "RecurrenceRule",
    "TaskRecord",
    "UnresolvedZone",
    "VTimezone",
    "kept_line",
    "parse_calendar",
    "serialize_calendar",
    "tz_key",
    "vtimezone_for",
    "zone_by_name",
]

# We resolve prefixed TZIDs ourselves (zone_by_name); the library's guess warning would only be noise.
warnings.filterwarnings("ignore", category=GloballyUniqueTZIDGuessed)
