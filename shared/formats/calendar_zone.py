"""The time zone an all-day event belongs to, carried in its iCalendar as ``X-WR-TIMEZONE``.

An all-day event is a day, not an instant, and iCalendar writes it as a DATE. Exchange and Microsoft 365 keep
it as midnight to midnight in a time zone, and Outlook shows one anchored in another zone than the reader's as
spanning two days. So the source's zone travels on the VCALENDAR that wraps the event, as the de-facto
calendar-zone property (Google and Apple write it on exported calendars), and a target anchors the event's
days there. No zone: the target's default (UTC).
"""

from __future__ import annotations

from datetime import tzinfo

from shared.formats.ical_lines import unfolded
from shared.formats.ical_records import Calendar
from shared.formats.ical_zones import zone_by_name

PROPERTY = "X-WR-TIMEZONE"


def _key(tz: tzinfo | str | None) -> str | None:
    """The IANA name of a zone or a zone's name (IANA or Windows), if it is a known zone other than UTC."""
    name = tz if isinstance(tz, str) else getattr(tz, "key", None)
    zone = zone_by_name(name) if name else None
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) and key not in ("UTC", "Etc/UTC") else None


def with_zone(cal: Calendar, tz: tzinfo | str | None) -> Calendar:
    """``cal`` naming the zone its all-day events belong to (nothing added for UTC or an unknown zone)."""
    key = _key(tz)
    if key is not None:
        cal.properties = [p for p in cal.properties if not _is_zone(p)] + [f"{PROPERTY}:{key}"]
    return cal


def calendar_zone(cal: Calendar) -> str | None:
    """The IANA name of the zone the calendar names, or None."""
    for line in cal.properties:
        if _is_zone(line):
            _name, _params, value = unfolded(line)[0].parts()
            return _key(str(value).strip())
    return None


def _is_zone(line: str) -> bool:
    return line.upper().startswith((PROPERTY + ":", PROPERTY + ";"))
