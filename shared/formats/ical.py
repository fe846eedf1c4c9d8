"""iCalendar (RFC 5545) VEVENT / VTODO <-> EventRecord / TaskRecord, with our own parser.

Dates and times are plain Python values: ``date`` (all-day, VALUE=DATE), naive ``datetime`` (floating),
``datetime`` with ``timezone.utc`` (``...Z``), or with a zone from a TZID: a ``ZoneInfo`` when the TZID
names an IANA zone (also ``/mozilla.org/.../Europe/Berlin``-style prefixes, Windows names such as
"W. Europe Standard Time", and X-LIC-LOCATION), a :class:`VTimezone` built from the calendar's VTIMEZONE
definition for custom TZIDs (it carries the best-matching IANA zone in ``.iana``), or an
:class:`UnresolvedZone` (offset unknown, TZID kept) when neither exists.

Overrides (a VEVENT/VTODO with RECURRENCE-ID and the UID of a recurring master) become the master's
``exceptions``. Properties without a field are kept verbatim in ``extra``; components other than VEVENT,
VTODO and VTIMEZONE (VJOURNAL, VFREEBUSY, X-components) are kept verbatim in ``Calendar.other_components``.
Malformed input raises :class:`~shared.formats.FormatError` naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from . import ContentLine, FormatError, fold, format_line, parse_line, split_value, unfold
from .vcard import escape, unescape

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
    "parse_calendar",
    "serialize_calendar",
    "tz_key",
]

DateOrDateTime = date | datetime
Period = tuple[DateOrDateTime, DateOrDateTime | timedelta]  # RDATE;VALUE=PERIOD (dates tolerated)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")


# -- records ------------------------------------------------------------------------


@dataclass
class RecurrenceRule:
    """An RRULE. ``by_day`` holds (ordinal or None, "MO".."SU"): 2TU -> (2, "TU"), -1FR -> (-1, "FR")."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: DateOrDateTime | None = None
    by_day: list[tuple[int | None, str]] = field(default_factory=list)
    by_month_day: list[int] = field(default_factory=list)
    by_month: list[int] = field(default_factory=list)
    by_set_pos: list[int] = field(default_factory=list)
    week_start: str | None = None
    other: dict[str, str] = field(default_factory=dict)  # BYHOUR, BYWEEKNO, BYYEARDAY, ... as text


@dataclass
class Attendee:
    """An ATTENDEE or ORGANIZER, kept as data (nothing is sent)."""

    uri: str  # as written, usually mailto:...
    name: str | None = None  # CN
    role: str | None = None  # REQ-PARTICIPANT, OPT-PARTICIPANT, NON-PARTICIPANT, CHAIR
    status: str | None = None  # PARTSTAT: NEEDS-ACTION, ACCEPTED, DECLINED, TENTATIVE, DELEGATED, ...
    rsvp: bool | None = None
    kind: str | None = None  # CUTYPE: INDIVIDUAL, GROUP, RESOURCE, ROOM, UNKNOWN
    params: dict[str, list[str]] = field(default_factory=dict)  # other parameters

    @property
    def email(self) -> str:
        return self.uri[7:] if self.uri.lower().startswith("mailto:") else self.uri


@dataclass
class Alarm:
    """A VALARM. ``trigger`` is relative (timedelta, to START or END per ``related``) or absolute."""

    action: str = "DISPLAY"
    trigger: timedelta | datetime = timedelta(0)
    related: str = "START"
    description: str | None = None
    extra: list[str] = field(default_factory=list)


@dataclass
class _Common:
    uid: str | None = None
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    start: DateOrDateTime | None = None
    rrule: RecurrenceRule | None = None
    rdates: list[DateOrDateTime | Period] = field(default_factory=list)
    exdates: list[DateOrDateTime] = field(default_factory=list)
    recurrence_id: DateOrDateTime | None = None  # set on an override (exception)
    organizer: Attendee | None = None
    attendees: list[Attendee] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    status: str | None = None
    priority: int | None = None  # 0 = undefined, 1 highest .. 9 lowest
    classification: str | None = None  # CLASS: PUBLIC, PRIVATE, CONFIDENTIAL
    url: str | None = None
    alarms: list[Alarm] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # unfolded content lines not mapped to a field


@dataclass
class EventRecord(_Common):
    """A VEVENT; ``exceptions`` are its overridden occurrences (each with ``recurrence_id``)."""

    end: DateOrDateTime | None = None
    duration: timedelta | None = None  # only when the source gave DURATION instead of DTEND
    transparency: str | None = None  # OPAQUE / TRANSPARENT
    exceptions: list[EventRecord] = field(default_factory=list)

    @property
    def is_all_day(self) -> bool:
        return isinstance(self.start, date) and not isinstance(self.start, datetime)

    @property
    def effective_end(self) -> DateOrDateTime | None:
        if self.end is not None:
            return self.end
        if self.start is None:
            return None
        if self.duration is not None:
            return self.start + self.duration
        return self.start + timedelta(days=1) if self.is_all_day else self.start


@dataclass
class TaskRecord(_Common):
    """A VTODO."""

    due: DateOrDateTime | None = None
    duration: timedelta | None = None
    completed: datetime | None = None
    percent_complete: int | None = None
    exceptions: list[TaskRecord] = field(default_factory=list)


@dataclass
class Calendar:
    events: list[EventRecord] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)  # calendar-level lines (METHOD, CALSCALE, X-WR-...)
    other_components: list[list[str]] = field(default_factory=list)  # raw unfolded lines of each
    timezones: list[VTimezone] = field(default_factory=list)  # custom VTIMEZONEs (not IANA names)
    prodid: str | None = field(default=None, compare=False)  # who wrote it (we write our own)


# -- time zones ---------------------------------------------------------------------


class UnresolvedZone(tzinfo):
    """A TZID with no VTIMEZONE and no known meaning: the wall time is kept, the offset is unknown."""

    def __init__(self, tzid: str) -> None:
        self.tzid = tzid

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return self.tzid

    def __repr__(self) -> str:
        return f"UnresolvedZone({self.tzid!r})"


@dataclass
class _Observance:
    start: datetime  # naive local (in offset_from)
    offset_from: timedelta
    offset_to: timedelta
    rrule: RecurrenceRule | None
    rdates: list[datetime]
    is_dst: bool
    name: str | None


class VTimezone(tzinfo):
    """A time zone defined by a VTIMEZONE component (custom TZID)."""

    def __init__(self, tzid: str, lines: list[str], observances: list[_Observance], iana: str | None) -> None:
        self.tzid = tzid
        self.lines = lines  # the VTIMEZONE, unfolded, BEGIN/END included
        self.observances = observances
        self.iana = iana  # an IANA zone with the same offsets, if one was found

    def __repr__(self) -> str:
        return f"VTimezone({self.tzid!r}, iana={self.iana!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VTimezone) and (self.tzid, self.lines) == (other.tzid, other.lines)

    def __hash__(self) -> int:
        return hash(self.tzid)

    def _onsets(self, year: int) -> list[tuple[datetime, _Observance]]:
        out: list[tuple[datetime, _Observance]] = []
        for ob in self.observances:
            out.extend((d, ob) for d in ob.rdates if d.year in (year - 1, year))
            if ob.start.year <= year:
                out.append((ob.start, ob))
            rule = ob.rrule
            if rule is None or rule.freq != "YEARLY":
                continue
            for y in (year - 1, year):
                if y < ob.start.year:
                    continue
                for onset in _yearly_onsets(rule, ob.start, y):
                    if rule.until is None or onset <= _wall_limit(rule.until, ob.offset_from):
                        out.append((onset, ob))
        return out

    def _observance(self, dt: datetime) -> _Observance:
        naive = dt.replace(tzinfo=None)
        onsets = [(d, ob) for d, ob in self._onsets(naive.year) if d <= naive]
        if onsets:
            return max(onsets, key=lambda x: x[0])[1]
        first = min(self.observances, key=lambda o: o.start)
        return _Observance(first.start, first.offset_from, first.offset_from, None, [], False, None)

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        return self._observance(dt).offset_to

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        ob = self._observance(dt)
        return ob.offset_to - ob.offset_from if ob.is_dst else timedelta(0)

    def tzname(self, dt: datetime | None) -> str | None:
        return self._observance(dt).name if dt is not None else self.tzid


def _wall_limit(until: DateOrDateTime, offset: timedelta) -> datetime:
    if not isinstance(until, datetime):
        return datetime.combine(until, time(23, 59, 59))
    if until.utcoffset() is not None:
        return until.astimezone(UTC).replace(tzinfo=None) + offset
    return until


def _yearly_onsets(rule: RecurrenceRule, start: datetime, year: int) -> list[datetime]:
    months = rule.by_month or [start.month]
    out: list[datetime] = []
    for month in months:
        days: list[int] = []
        if rule.by_day:
            for ordinal, wd in rule.by_day:
                days.extend(_nth_weekdays(year, month, WEEKDAYS.index(wd), ordinal))
        if rule.by_month_day:
            mdays = [_month_day(year, month, d) for d in rule.by_month_day]
            days = [d for d in days if d in mdays] if rule.by_day else mdays
        if not rule.by_day and not rule.by_month_day:
            days = [start.day]
        for d in days:
            if d and 1 <= d <= _days_in_month(year, month):
                out.append(datetime(year, month, d, start.hour, start.minute, start.second))
    return out


def _days_in_month(year: int, month: int) -> int:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return (nxt - timedelta(days=1)).day


def _month_day(year: int, month: int, day: int) -> int:
    return day if day > 0 else _days_in_month(year, month) + day + 1


def _nth_weekdays(year: int, month: int, weekday: int, ordinal: int | None) -> list[int]:
    days = [d for d in range(1, _days_in_month(year, month) + 1) if date(year, month, d).weekday() == weekday]
    if ordinal is None:
        return days
    if ordinal > 0:
        return [days[ordinal - 1]] if ordinal <= len(days) else []
    return [days[ordinal]] if -ordinal <= len(days) else []


_OFFSET = re.compile(r"^([+-])(\d{2})(\d{2})(\d{2})?$")


def _parse_offset(value: str, lineno: int) -> timedelta:
    m = _OFFSET.match(value.strip())
    if not m or int(m.group(2)) > 23 or int(m.group(3)) > 59 or int(m.group(4) or 0) > 59:
        raise FormatError(f"line {lineno}: invalid UTC offset {value!r}")
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)), seconds=int(m.group(4) or 0))
    return -delta if m.group(1) == "-" else delta


@lru_cache(maxsize=1024)
def _zoneinfo(key: str) -> ZoneInfo | None:
    if not key or key.startswith("/") or ".." in key or "\x00" in key:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _windows_zone(name: str) -> str | None:
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
    except ImportError:  # pragma: no cover - exchangelib is a project dependency
        return None
    value = MS_TIMEZONE_TO_IANA_MAP.get(name)
    return str(value) if value else None


def zone_by_name(tzid: str) -> ZoneInfo | None:
    """The IANA zone a TZID names: exact key, a key at the end of a prefixed path, or a Windows name."""
    tzid = tzid.strip().strip('"')
    zone = _zoneinfo(tzid)
    if zone is not None:
        return zone
    parts = [p for p in tzid.split("/") if p]
    for n in (3, 2, 1):
        if len(parts) > n:
            zone = _zoneinfo("/".join(parts[-n:]))
            if zone is not None:
                return zone
    win = _windows_zone(tzid)
    return _zoneinfo(win) if win else None


@lru_cache(maxsize=1)
def _candidate_zones() -> tuple[str, ...]:
    """IANA zones to match a custom VTIMEZONE against: the canonical zone of each Windows zone first."""
    try:
        from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

        preferred = sorted({str(v) for v in MS_TIMEZONE_TO_IANA_MAP.values() if "/" in str(v)})
    except ImportError:  # pragma: no cover
        preferred = []
    rest = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return tuple(dict.fromkeys([*preferred, *rest]))


def _matching_iana(vtz: VTimezone) -> str | None:
    years = sorted({ob.start.year for ob in vtz.observances} | {2024})
    probes = [datetime(y, m, 15, 12) for y in years[-2:] for m in (1, 4, 7, 10)]
    offsets = [vtz.utcoffset(p) for p in probes]
    if all(o == offsets[0] for o in offsets) and offsets[0] is not None:
        seconds = int(offsets[0].total_seconds())
        if seconds % 3600 == 0:
            return "UTC" if seconds == 0 else f"Etc/GMT{-seconds // 3600:+d}"
    named = sorted((k for k in _candidate_zones() if k in vtz.tzid), key=len, reverse=True)
    for key in [*named, *_candidate_zones()]:
        zone = _zoneinfo(key)
        if zone is not None and all(
            p.replace(tzinfo=zone).utcoffset() == o for p, o in zip(probes, offsets, strict=True)
        ):
            return key
    return None


def _build_vtimezone(comp: _Component, match: bool = True) -> VTimezone:
    tzid_line = next((ln for ln in comp.lines if ln.name == "TZID"), None)
    if tzid_line is None or not tzid_line.value.strip():
        raise FormatError(f"line {comp.lineno}: VTIMEZONE without TZID")
    tzid = tzid_line.value.strip()
    observances: list[_Observance] = []
    for child in comp.children:
        if child.name not in ("STANDARD", "DAYLIGHT"):
            continue
        props = {ln.name: ln for ln in child.lines}
        for required in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"):
            if required not in props:
                raise FormatError(f"line {child.lineno}: {child.name} of VTIMEZONE {tzid!r} lacks {required}")
        value = _parse_value(props["DTSTART"], {}, "DATE-TIME")
        start = value.replace(tzinfo=None) if isinstance(value, datetime) else datetime.combine(value, time())
        rule = _parse_rrule(props["RRULE"]) if "RRULE" in props else None
        rdates: list[datetime] = []
        for ln in child.lines:
            if ln.name == "RDATE":
                for v in _parse_list(ln, {}):
                    if isinstance(v, datetime):
                        rdates.append(v.replace(tzinfo=None))
                    elif isinstance(v, date):
                        rdates.append(datetime.combine(v, time()))
        observances.append(
            _Observance(
                start,
                _parse_offset(props["TZOFFSETFROM"].value, props["TZOFFSETFROM"].lineno),
                _parse_offset(props["TZOFFSETTO"].value, props["TZOFFSETTO"].lineno),
                rule,
                rdates,
                child.name == "DAYLIGHT",
                unescape(props["TZNAME"].value) if "TZNAME" in props else None,
            )
        )
    if not observances:
        raise FormatError(f"line {comp.lineno}: VTIMEZONE {tzid!r} has neither STANDARD nor DAYLIGHT")
    vtz = VTimezone(tzid, comp.raw_lines(), observances, None)
    if not match:
        return vtz
    loc = next((ln.value.strip() for ln in comp.lines if ln.name == "X-LIC-LOCATION"), None)
    named = zone_by_name(loc) if loc else None
    vtz.iana = named.key if named is not None else _matching_iana(vtz)
    return vtz


def tz_key(tz: tzinfo | None) -> str | None:
    """A stable name for a tzinfo: IANA key, TZID, "UTC" for timezone.utc, None for floating."""
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo):
        return tz.key
    if isinstance(tz, VTimezone | UnresolvedZone):
        return tz.tzid
    if tz is UTC:
        return "Z"
    return str(tz)


# -- component tree -----------------------------------------------------------------


@dataclass
class _Component:
    name: str
    lineno: int
    lines: list[ContentLine] = field(default_factory=list)
    children: list[_Component] = field(default_factory=list)
    end_raw: str = ""
    begin_raw: str = ""

    def raw_lines(self) -> list[str]:
        out = [self.begin_raw or f"BEGIN:{self.name}"]
        out.extend(ln.raw for ln in self.lines)
        for child in self.children:
            out.extend(child.raw_lines())
        out.append(self.end_raw or f"END:{self.name}")
        return out


_COMPONENT_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def _tree(data: str | bytes) -> list[_Component]:
    roots: list[_Component] = []
    stack: list[_Component] = []
    for lineno, text in unfold(data):
        ln = parse_line(text, lineno)
        if ln.name in ("BEGIN", "END"):
            cname = ln.value.strip().upper()
            if not _COMPONENT_NAME.match(cname):
                raise FormatError(f"line {lineno}: invalid component name {ln.value[:40]!r}")
            if ln.name == "BEGIN":
                comp = _Component(cname, lineno, begin_raw=text)
                (stack[-1].children if stack else roots).append(comp)
                stack.append(comp)
            else:
                if not stack or stack[-1].name != cname:
                    open_name = stack[-1].name if stack else "nothing"
                    raise FormatError(f"line {lineno}: END:{cname} does not close {open_name}")
                stack.pop().end_raw = text
            continue
        if not stack:
            if roots and roots[-1].name == "VCALENDAR":
                roots[-1].lines.append(ln)  # tolerated: a property after END:VCALENDAR belongs to it
                continue
            raise FormatError(f"line {lineno}: property {ln.name} outside any component")
        stack[-1].lines.append(ln)
    if stack:
        raise FormatError(f"line {stack[-1].lineno}: {stack[-1].name} is not closed (END:{stack[-1].name} missing)")
    return roots


# -- values -------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$")
_DUR_RE = re.compile(r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class _Zones:
    """TZID -> tzinfo for one calendar."""

    def __init__(self, definitions: dict[str, _Component]) -> None:
        self.definitions = definitions
        self.cache: dict[str, tzinfo] = {}
        self.custom: dict[str, VTimezone] = {}

    def get(self, tzid: str) -> tzinfo:
        if tzid in self.cache:
            return self.cache[tzid]
        zone: tzinfo | None = zone_by_name(tzid)
        if zone is None and tzid in self.definitions:
            vtz = _build_vtimezone(self.definitions[tzid])
            self.custom[tzid] = vtz
            zone = vtz
        if zone is None:
            zone = UnresolvedZone(tzid)
        self.cache[tzid] = zone
        return zone


def _parse_one(text: str, value_type: str, tz: tzinfo | None, lineno: int, name: str) -> DateOrDateTime:
    text = text.strip()
    m = _DT_RE.match(text)
    try:
        if m and value_type != "DATE":
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            dt = datetime(y, mo, d, h, mi, min(s, 59))
            if m.group(7):
                return dt.replace(tzinfo=UTC)
            return dt.replace(tzinfo=tz) if tz is not None else dt
        m2 = _DATE_RE.match(text)
        if m2:
            return date(int(m2.group(1)), int(m2.group(2)), int(m2.group(3)))
    except ValueError as exc:
        raise FormatError(f"line {lineno}: invalid {name} value {text!r} ({exc})") from exc
    raise FormatError(f"line {lineno}: invalid {name} value {text[:40]!r}")


def _parse_value(ln: ContentLine, zones: _Zones | dict[str, Any], default: str = "DATE-TIME") -> DateOrDateTime:
    value_type = (ln.param("VALUE") or default).upper()
    tzid = ln.param("TZID")
    tz = zones.get(tzid) if (tzid and isinstance(zones, _Zones)) else None
    if not ln.value.strip():
        raise FormatError(f"line {ln.lineno}: {ln.name} has an empty value")
    return _parse_one(ln.value, value_type, tz, ln.lineno, ln.name)


def _parse_duration(text: str, lineno: int, name: str) -> timedelta:
    m = _DUR_RE.match(text.strip())
    if not m or not any(m.groups()[1:]):
        raise FormatError(f"line {lineno}: invalid {name} duration {text[:40]!r}")
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups()[1:])
    try:
        delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError as exc:
        raise FormatError(f"line {lineno}: {name} duration {text[:40]!r} is out of range") from exc
    return -delta if m.group(1) == "-" else delta


def _parse_list(ln: ContentLine, zones: _Zones | dict[str, Any]) -> list[DateOrDateTime | Period]:
    value_type = (ln.param("VALUE") or "DATE-TIME").upper()
    tzid = ln.param("TZID")
    tz = zones.get(tzid) if (tzid and isinstance(zones, _Zones)) else None
    if not ln.value.strip():
        raise FormatError(f"line {ln.lineno}: {ln.name} has an empty value")
    out: list[DateOrDateTime | Period] = []
    for part in ln.value.split(","):
        if value_type == "PERIOD" or "/" in part:
            first, _, second = part.partition("/")
            if not second:
                raise FormatError(f"line {ln.lineno}: invalid PERIOD {part[:40]!r} in {ln.name}")
            start = _parse_one(first, "DATE-TIME", tz, ln.lineno, ln.name)
            if second.strip().lstrip("+-").startswith("P"):
                out.append((start, _parse_duration(second, ln.lineno, ln.name)))
            else:
                out.append((start, _parse_one(second, "DATE-TIME", tz, ln.lineno, ln.name)))
        else:
            out.append(_parse_one(part, value_type, tz, ln.lineno, ln.name))
    return out


_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")


def _ints(text: str, lo: int, hi: int, key: str, lineno: int, allow_negative: bool = True) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        try:
            n = int(part)
        except ValueError as exc:
            raise FormatError(f"line {lineno}: RRULE {key} value {part!r} is not a number") from exc
        if not (lo <= abs(n) <= hi) or (n < 0 and not allow_negative):
            raise FormatError(f"line {lineno}: RRULE {key} value {n} is out of range")
        out.append(n)
    return out


def _parse_rrule(ln: ContentLine, zones: _Zones | None = None) -> RecurrenceRule:
    parts: dict[str, str] = {}
    text = ln.value.strip().replace("\\;", ";").replace("\\,", ",")  # tolerated: escaped separators
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise FormatError(f"line {ln.lineno}: malformed RRULE part {part[:40]!r}")
        parts[key.strip().upper()] = value.strip()
    freq = parts.pop("FREQ", "").upper()
    if freq not in FREQS:
        raise FormatError(f"line {ln.lineno}: RRULE FREQ {freq!r} is not one of {', '.join(FREQS)}")
    rule = RecurrenceRule(freq=freq)
    for key, value in parts.items():
        if "RSCALE" in parts and key in ("BYMONTH", "SKIP", "RSCALE"):
            rule.other[key] = value  # RFC 7529 non-Gregorian rules: leap months like 5L, kept as text
            continue
        if key == "INTERVAL":
            rule.interval = _ints(value, 1, 10**6, key, ln.lineno, allow_negative=False)[0]
        elif key == "COUNT":
            rule.count = _ints(value, 1, 10**9, key, ln.lineno, allow_negative=False)[0]
        elif key == "UNTIL":
            rule.until = _parse_one(value, "DATE-TIME", None, ln.lineno, "RRULE UNTIL")
        elif key == "BYDAY":
            for item in value.upper().split(","):
                m = _BYDAY.match(item.strip())
                if not m:
                    raise FormatError(f"line {ln.lineno}: RRULE BYDAY value {item!r} is invalid")
                ordinal = int(m.group(1)) if m.group(1) else None
                if ordinal is not None and not 1 <= abs(ordinal) <= 53:
                    raise FormatError(f"line {ln.lineno}: RRULE BYDAY ordinal {ordinal} is out of range")
                rule.by_day.append((ordinal, m.group(2)))
        elif key == "BYMONTHDAY":
            rule.by_month_day = _ints(value, 1, 31, key, ln.lineno)
        elif key == "BYMONTH":
            rule.by_month = _ints(value, 1, 12, key, ln.lineno, allow_negative=False)
        elif key == "BYSETPOS":
            rule.by_set_pos = _ints(value, 1, 366, key, ln.lineno)
        elif key == "WKST":
            if value.upper() not in WEEKDAYS:
                raise FormatError(f"line {ln.lineno}: RRULE WKST {value!r} is invalid")
            rule.week_start = value.upper()
        else:
            rule.other[key] = value
    if rule.count is not None and rule.until is not None:
        raise FormatError(f"line {ln.lineno}: RRULE has both COUNT and UNTIL")
    return rule


def _attendee(ln: ContentLine) -> Attendee:
    params = {k: list(v) for k, v in ln.params.items() if k not in ("CN", "ROLE", "PARTSTAT", "RSVP", "CUTYPE")}
    rsvp = ln.param("RSVP")
    return Attendee(
        uri=ln.value.strip(),
        name=ln.param("CN"),
        role=(ln.param("ROLE") or "").upper() or None,
        status=(ln.param("PARTSTAT") or "").upper() or None,
        rsvp=None if rsvp is None else rsvp.strip().upper() == "TRUE",
        kind=(ln.param("CUTYPE") or "").upper() or None,
        params=params,
    )


def _alarm(comp: _Component, zones: _Zones) -> Alarm:
    alarm = Alarm()
    seen_trigger = False
    for ln in comp.lines:
        if ln.name == "ACTION":
            alarm.action = ln.value.strip().upper()
        elif ln.name == "TRIGGER" and not seen_trigger:
            seen_trigger = True
            if (ln.param("VALUE") or "").upper() == "DATE-TIME":
                value = _parse_value(ln, zones)
                if not isinstance(value, datetime):
                    raise FormatError(f"line {ln.lineno}: absolute TRIGGER must be a DATE-TIME")
                alarm.trigger = value
            else:
                alarm.trigger = _parse_duration(ln.value, ln.lineno, "TRIGGER")
                alarm.related = (ln.param("RELATED") or "START").upper()
        elif ln.name == "DESCRIPTION" and alarm.description is None:
            alarm.description = unescape(ln.value)
        else:
            alarm.extra.append(ln.raw)
    for child in comp.children:
        alarm.extra.extend(child.raw_lines())
    if not seen_trigger:
        raise FormatError(f"line {comp.lineno}: VALARM without TRIGGER")
    return alarm


def _text(ln: ContentLine) -> str:
    return unescape(ln.value)


def _record(comp: _Component, zones: _Zones, need_start: bool) -> EventRecord | TaskRecord:
    rec: EventRecord | TaskRecord = EventRecord() if comp.name == "VEVENT" else TaskRecord()
    seen: set[str] = set()
    single = {
        "UID",
        "SUMMARY",
        "DESCRIPTION",
        "LOCATION",
        "DTSTART",
        "DTEND",
        "DUE",
        "DURATION",
        "RECURRENCE-ID",
        "ORGANIZER",
        "STATUS",
        "PRIORITY",
        "CLASS",
        "URL",
        "TRANSP",
        "COMPLETED",
        "PERCENT-COMPLETE",
        "RRULE",
    }
    for ln in comp.lines:
        name = ln.name
        if name in single and name in seen:
            rec.extra.append(ln.raw)  # a repeated single-valued property: kept, not interpreted
            continue
        seen.add(name)
        if name == "UID":
            rec.uid = ln.value.strip()
        elif name == "SUMMARY":
            rec.summary = _text(ln)
        elif name == "DESCRIPTION":
            rec.description = _text(ln)
        elif name == "LOCATION":
            rec.location = _text(ln)
        elif name == "DTSTART":
            rec.start = _parse_value(ln, zones)
        elif name == "DTEND" and isinstance(rec, EventRecord):
            rec.end = _parse_value(ln, zones)
        elif name == "DUE" and isinstance(rec, TaskRecord):
            rec.due = _parse_value(ln, zones)
        elif name == "DURATION":
            rec.duration = _parse_duration(ln.value, ln.lineno, "DURATION")
        elif name == "RECURRENCE-ID":
            rec.recurrence_id = _parse_value(ln, zones)
        elif name == "RRULE":
            rec.rrule = _parse_rrule(ln, zones)
        elif name == "RDATE":
            rec.rdates.extend(_parse_list(ln, zones))
        elif name == "EXDATE":
            for v in _parse_list(ln, zones):
                if isinstance(v, tuple):
                    raise FormatError(f"line {ln.lineno}: EXDATE cannot be a PERIOD")
                rec.exdates.append(v)
        elif name == "ORGANIZER":
            rec.organizer = _attendee(ln)
        elif name == "ATTENDEE":
            rec.attendees.append(_attendee(ln))
        elif name == "CATEGORIES":
            rec.categories.extend(unescape(v) for v in split_value(ln.value, ",") if v.strip())
        elif name == "STATUS":
            rec.status = ln.value.strip().upper()
        elif name == "PRIORITY":
            rec.priority = _ints(ln.value.strip(), 0, 9, "PRIORITY", ln.lineno, allow_negative=False)[0]
        elif name == "CLASS":
            rec.classification = ln.value.strip().upper()
        elif name == "URL":
            rec.url = ln.value.strip()
        elif name == "TRANSP" and isinstance(rec, EventRecord):
            rec.transparency = ln.value.strip().upper()
        elif name == "COMPLETED" and isinstance(rec, TaskRecord):
            completed = _parse_value(ln, zones)
            if not isinstance(completed, datetime):
                raise FormatError(f"line {ln.lineno}: COMPLETED must be a DATE-TIME")
            rec.completed = completed
        elif name == "PERCENT-COMPLETE" and isinstance(rec, TaskRecord):
            rec.percent_complete = _ints(ln.value.strip(), 0, 100, "PERCENT-COMPLETE", ln.lineno, False)[0]
        else:
            rec.extra.append(ln.raw)
    for child in comp.children:
        if child.name == "VALARM":
            rec.alarms.append(_alarm(child, zones))
        else:
            rec.extra.extend(child.raw_lines())
    if need_start and rec.start is None:
        raise FormatError(f"line {comp.lineno}: {comp.name} uid={rec.uid!r} has no DTSTART")
    if isinstance(rec, EventRecord) and rec.end is not None and rec.duration is not None:
        raise FormatError(f"line {comp.lineno}: VEVENT uid={rec.uid!r} has both DTEND and DURATION")
    if isinstance(rec, TaskRecord) and rec.due is not None and rec.duration is not None:
        raise FormatError(f"line {comp.lineno}: VTODO uid={rec.uid!r} has both DUE and DURATION")
    return rec


def parse_calendar(data: str | bytes, strict: bool = True) -> Calendar:
    """A whole .ics text (one or more VCALENDARs, or bare VEVENT/VTODO components).

    ``strict`` applies RFC 5545 §3.6.1: a VEVENT needs DTSTART unless the calendar has a METHOD. With
    ``strict=False`` such events are accepted with ``start=None`` (they cannot go to Exchange).
    """
    roots = _tree(data)
    if not roots:
        raise FormatError("no iCalendar component found (BEGIN:VCALENDAR missing)")
    cal = Calendar()
    components: list[_Component] = []
    has_method = False
    for root in roots:
        if root.name == "VCALENDAR":
            for ln in root.lines:
                if ln.name == "METHOD":
                    has_method = True
                if ln.name == "PRODID":
                    cal.prodid = cal.prodid or unescape(ln.value)
                elif ln.name != "VERSION":
                    cal.properties.append(ln.raw)
            components.extend(root.children)
        else:
            components.append(root)
    definitions: dict[str, _Component] = {}
    for comp in components:
        if comp.name == "VTIMEZONE":
            tzid = next((ln.value.strip() for ln in comp.lines if ln.name == "TZID"), "")
            if not tzid:
                raise FormatError(f"line {comp.lineno}: VTIMEZONE without TZID")
            definitions.setdefault(tzid, comp)
    zones = _Zones(definitions)
    records: list[EventRecord | TaskRecord] = []
    for comp in components:
        if comp.name in ("VEVENT", "VTODO"):
            records.append(_record(comp, zones, need_start=strict and comp.name == "VEVENT" and not has_method))
        elif comp.name == "VTIMEZONE":
            _build_vtimezone(comp, match=False)  # validate every definition, used or not
        else:
            cal.other_components.append(comp.raw_lines())
    masters: dict[tuple[type, str], EventRecord | TaskRecord] = {}
    for rec in records:
        if rec.recurrence_id is None and rec.uid is not None:
            masters.setdefault((type(rec), rec.uid), rec)
    for rec in records:
        master = masters.get((type(rec), rec.uid or "")) if rec.recurrence_id is not None else None
        if isinstance(rec, EventRecord):
            (master.exceptions if isinstance(master, EventRecord) else cal.events).append(rec)
        else:
            (master.exceptions if isinstance(master, TaskRecord) else cal.tasks).append(rec)
    used = {tz_key(z) for z in zones.cache.values()}
    for comp in components:
        if comp.name != "VTIMEZONE":
            continue
        tzid = next(ln.value.strip() for ln in comp.lines if ln.name == "TZID")
        if tzid in zones.custom and definitions.get(tzid) is comp:
            cal.timezones.append(zones.custom[tzid])
        elif tzid not in used or definitions.get(tzid) is not comp:
            cal.other_components.append(comp.raw_lines())  # unused (or duplicate) definitions stay verbatim
    return cal


# -- serializing --------------------------------------------------------------------


def _format_dt(value: DateOrDateTime) -> tuple[str, dict[str, list[str]]]:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d"), {"VALUE": ["DATE"]}
    tz = value.tzinfo
    text = value.strftime("%Y%m%dT%H%M%S")
    if tz is None:
        return text, {}
    if tz is UTC:
        return text + "Z", {}
    key = tz_key(tz)
    if isinstance(tz, ZoneInfo | VTimezone | UnresolvedZone) and key:
        return text, {"TZID": [key]}
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"), {}


def _dt_line(name: str, value: DateOrDateTime) -> str:
    text, params = _format_dt(value)
    return format_line(name, text, params)


def _format_duration(delta: timedelta) -> str:
    sign = "-" if delta < timedelta(0) else ""
    delta = abs(delta)
    days, seconds = delta.days, delta.seconds
    out = f"{sign}P"
    if days and not seconds and days % 7 == 0:
        return f"{out}{days // 7}W"
    if days:
        out += f"{days}D"
    if seconds or not days:
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        out += "T"
        if hours:
            out += f"{hours}H"
        if minutes:
            out += f"{minutes}M"
        if secs or not (hours or minutes):
            out += f"{secs}S"
    return out


def _format_rrule(rule: RecurrenceRule) -> str:
    parts = [f"FREQ={rule.freq}"]
    if rule.until is not None:
        parts.append("UNTIL=" + _format_dt(rule.until)[0])
    if rule.count is not None:
        parts.append(f"COUNT={rule.count}")
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.by_day:
        parts.append("BYDAY=" + ",".join(f"{'' if o is None else o}{d}" for o, d in rule.by_day))
    if rule.by_month_day:
        parts.append("BYMONTHDAY=" + ",".join(str(d) for d in rule.by_month_day))
    if rule.by_month:
        parts.append("BYMONTH=" + ",".join(str(m) for m in rule.by_month))
    if rule.by_set_pos:
        parts.append("BYSETPOS=" + ",".join(str(p) for p in rule.by_set_pos))
    if rule.week_start:
        parts.append(f"WKST={rule.week_start}")
    parts.extend(f"{k}={v}" for k, v in rule.other.items())
    return ";".join(parts)


def _attendee_line(name: str, att: Attendee) -> str:
    params: dict[str, list[str]] = {}
    if att.name is not None:
        params["CN"] = [att.name]
    if att.role:
        params["ROLE"] = [att.role]
    if att.status:
        params["PARTSTAT"] = [att.status]
    if att.rsvp is not None:
        params["RSVP"] = ["TRUE" if att.rsvp else "FALSE"]
    if att.kind:
        params["CUTYPE"] = [att.kind]
    params.update(att.params)
    return format_line(name, att.uri, params)


def _alarm_lines(alarm: Alarm) -> list[str]:
    out = ["BEGIN:VALARM", f"ACTION:{alarm.action}"]
    if isinstance(alarm.trigger, datetime):
        text, _ = _format_dt(alarm.trigger.astimezone(UTC) if alarm.trigger.tzinfo else alarm.trigger)
        out.append(format_line("TRIGGER", text, {"VALUE": ["DATE-TIME"]}))
    else:
        params = {"RELATED": ["END"]} if alarm.related == "END" else {}
        out.append(format_line("TRIGGER", _format_duration(alarm.trigger), params))
    if alarm.description is not None:
        out.append(format_line("DESCRIPTION", escape(alarm.description)))
    out.extend(alarm.extra)
    out.append("END:VALARM")
    return out


def _record_lines(rec: EventRecord | TaskRecord) -> list[str]:
    kind = "VEVENT" if isinstance(rec, EventRecord) else "VTODO"
    out = [f"BEGIN:{kind}"]
    if rec.uid is not None:
        out.append(format_line("UID", rec.uid))
    if rec.recurrence_id is not None:
        out.append(_dt_line("RECURRENCE-ID", rec.recurrence_id))
    if rec.summary is not None:
        out.append(format_line("SUMMARY", escape(rec.summary)))
    if rec.start is not None:
        out.append(_dt_line("DTSTART", rec.start))
    if isinstance(rec, EventRecord) and rec.end is not None:
        out.append(_dt_line("DTEND", rec.end))
    if isinstance(rec, TaskRecord) and rec.due is not None:
        out.append(_dt_line("DUE", rec.due))
    if rec.duration is not None:
        out.append(format_line("DURATION", _format_duration(rec.duration)))
    if rec.rrule is not None:
        out.append(format_line("RRULE", _format_rrule(rec.rrule)))
    for rd in rec.rdates:
        if isinstance(rd, tuple):
            text, params = _format_dt(rd[0])
            second = _format_duration(rd[1]) if isinstance(rd[1], timedelta) else _format_dt(rd[1])[0]
            out.append(format_line("RDATE", f"{text}/{second}", {"VALUE": ["PERIOD"], **params}))
        else:
            out.append(_dt_line("RDATE", rd))
    for ex in rec.exdates:
        out.append(_dt_line("EXDATE", ex))
    if rec.description is not None:
        out.append(format_line("DESCRIPTION", escape(rec.description)))
    if rec.location is not None:
        out.append(format_line("LOCATION", escape(rec.location)))
    if rec.organizer is not None:
        out.append(_attendee_line("ORGANIZER", rec.organizer))
    out.extend(_attendee_line("ATTENDEE", a) for a in rec.attendees)
    if rec.categories:
        out.append(format_line("CATEGORIES", ",".join(escape(c) for c in rec.categories)))
    if rec.status is not None:
        out.append(format_line("STATUS", rec.status))
    if rec.priority is not None:
        out.append(format_line("PRIORITY", str(rec.priority)))
    if rec.classification is not None:
        out.append(format_line("CLASS", rec.classification))
    if rec.url is not None:
        out.append(format_line("URL", rec.url))
    if isinstance(rec, EventRecord) and rec.transparency is not None:
        out.append(format_line("TRANSP", rec.transparency))
    if isinstance(rec, TaskRecord):
        if rec.completed is not None:
            out.append(_dt_line("COMPLETED", rec.completed))
        if rec.percent_complete is not None:
            out.append(format_line("PERCENT-COMPLETE", str(rec.percent_complete)))
    out.extend(rec.extra)
    for alarm in rec.alarms:
        out.extend(_alarm_lines(alarm))
    out.append(f"END:{kind}")
    return out


def _zones_used(recs: Iterable[EventRecord | TaskRecord]) -> list[tzinfo]:
    found: dict[str, tzinfo] = {}

    def add(value: object) -> None:
        if isinstance(value, datetime) and value.tzinfo is not None:
            tz = value.tzinfo
            if isinstance(tz, ZoneInfo | VTimezone) and tz_key(tz) not in found:
                found[tz_key(tz) or ""] = tz
        elif isinstance(value, tuple):
            for v in value:
                add(v)

    for rec in recs:
        for value in (rec.start, rec.recurrence_id, getattr(rec, "end", None), getattr(rec, "due", None)):
            add(value)
        for value in [*rec.rdates, *rec.exdates]:
            add(value)
        for sub in rec.exceptions:
            for tz in _zones_used([sub]):
                found.setdefault(tz_key(tz) or "", tz)
    return list(found.values())


def generate_vtimezone(zone: ZoneInfo, year: int) -> list[str]:
    """A VTIMEZONE for an IANA zone, with yearly rules taken from ``year`` (RFC 5545 §3.6.5)."""
    if zone.key in ("UTC", "Etc/UTC"):
        body = ["DTSTART:19700101T000000", "TZOFFSETFROM:+0000", "TZOFFSETTO:+0000", "TZNAME:UTC"]
        return ["BEGIN:VTIMEZONE", f"TZID:{zone.key}", "BEGIN:STANDARD", *body, "END:STANDARD", "END:VTIMEZONE"]

    def off(delta: timedelta | None) -> str:
        seconds = int((delta or timedelta()).total_seconds())
        sign = "-" if seconds < 0 else "+"
        h, rem = divmod(abs(seconds), 3600)
        m, s = divmod(rem, 60)
        return f"{sign}{h:02d}{m:02d}" + (f"{s:02d}" if s else "")

    out = ["BEGIN:VTIMEZONE", f"TZID:{zone.key}"]
    t = datetime(year, 1, 1, tzinfo=UTC)
    prev = t.astimezone(zone)
    transitions: list[tuple[datetime, datetime]] = []
    for hour in range(1, 366 * 24):
        cur = (t + timedelta(hours=hour)).astimezone(zone)
        if cur.utcoffset() != prev.utcoffset():
            transitions.append((prev, cur))
        prev = cur
    if not transitions:
        jan = datetime(year, 1, 1, tzinfo=zone)
        o = off(jan.utcoffset())
        out += ["BEGIN:STANDARD", f"DTSTART:{year}0101T000000", f"TZOFFSETFROM:{o}", f"TZOFFSETTO:{o}"]
        out += [f"TZNAME:{jan.tzname()}", "END:STANDARD", "END:VTIMEZONE"]
        return out
    for before, after in transitions:
        kind = "DAYLIGHT" if after.dst() else "STANDARD"
        wall = (before + timedelta(hours=1)).replace(tzinfo=None)
        wall = wall.replace(minute=0, second=0) if wall.minute == 0 else wall
        ordinal = -1 if wall.day + 7 > _days_in_month(wall.year, wall.month) else (wall.day - 1) // 7 + 1
        out += [
            f"BEGIN:{kind}",
            f"DTSTART:{wall.strftime('%Y%m%dT%H%M%S')}",
            f"RRULE:FREQ=YEARLY;BYMONTH={wall.month};BYDAY={ordinal}{WEEKDAYS[wall.weekday()]}",
            f"TZOFFSETFROM:{off(before.utcoffset())}",
            f"TZOFFSETTO:{off(after.utcoffset())}",
            f"TZNAME:{after.tzname()}",
            f"END:{kind}",
        ]
    out.append("END:VTIMEZONE")
    return out


def serialize_calendar(cal: Calendar, prodid: str = "-//mailferry//formats//EN") -> str:
    """The calendar as one VCALENDAR (CRLF, folded), with a VTIMEZONE for every zone it uses."""
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", format_line("PRODID", escape(prodid)), *cal.properties]
    all_records: list[EventRecord | TaskRecord] = [*cal.events, *cal.tasks]
    emitted: set[str] = set()
    for vtz in cal.timezones:
        out.extend(vtz.lines)
        emitted.add(vtz.tzid)
    for tz in _zones_used(all_records):
        key = tz_key(tz) or ""
        if key in emitted:
            continue
        emitted.add(key)
        if isinstance(tz, VTimezone):
            out.extend(tz.lines)
        elif isinstance(tz, ZoneInfo):
            years = [r.start.year for r in all_records if isinstance(r.start, datetime) and r.start.tzinfo is tz] or [
                2024
            ]
            out.extend(generate_vtimezone(tz, min(years)))
    for rec in all_records:
        out.extend(_record_lines(rec))
        for exc in rec.exceptions:
            out.extend(_record_lines(exc))
    for comp in cal.other_components:
        out.extend(comp)
    out.append("END:VCALENDAR")
    return "".join(fold(line) for line in out)
