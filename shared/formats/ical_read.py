"""Reading: icalendar parses the text; we map its components to records and apply our strictness rules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import icalendar
from icalendar.prop import vBroken, vRecur

from . import FormatError, text_of
from .ical_lines import add_kept, check_errors, component_lines, properties, property_line, unfolded
from .ical_records import (
    FREQS,
    Alarm,
    Attendee,
    Calendar,
    DateOrDateTime,
    EventRecord,
    Period,
    RecurrenceRule,
    TaskRecord,
)
from .ical_zones import Zones, tz_key, vtimezone

_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_HEAD = re.compile(r"([A-Za-z0-9-]+)(?=[;:])")  # a property name, then its parameters or its value
_LONE_CR = re.compile(r"\r(?!\n)")
_DATE_ONLY = re.compile(r"(DTSTART|DTEND|DUE|RECURRENCE-ID|EXDATE|RDATE)((?:;[^:]*)?):(\d{8}(?:,\d{8})*)$", re.I)


def _checked_lines(text: str) -> tuple[list[str], list[str]]:
    """Refuse what the library would read silently: lines without a value, bad names, broken nesting.

    Returns the lines for the library and, tolerated, properties after END:VCALENDAR (they belong to it).
    """
    stack: list[str] = []
    last = ""
    lines: list[str] = []
    trailing: list[str] = []
    for number, line in enumerate(unfolded(text), 1):
        if not line:
            continue
        head = _HEAD.match(line)
        separator = line.value_separator_index()
        if separator < 0:
            raise FormatError(f"line {number}: no ':' in content line {line[:60]!r}")
        if head is None:
            raise FormatError(f"line {number}: invalid property name {line[:min(separator, 60)]!r}")
        name, value = head.group(1).upper(), line[separator + 1 :].strip().upper()
        if name == "BEGIN":
            if not _NAME.match(value):
                raise FormatError(f"line {number}: invalid component name {value[:40]!r}")
            stack.append(value)
        elif name == "END":
            if not stack or stack[-1] != value:
                raise FormatError(f"line {number}: END:{value[:40]} does not close {stack[-1] if stack else 'nothing'}")
            last = stack.pop()
        elif not stack:
            if last != "VCALENDAR":
                raise FormatError(f"line {number}: property {name} outside any component")
            trailing.append(line)
            continue
        dates = _DATE_ONLY.match(line)
        if dates and "VALUE=" not in dates.group(2).upper():  # tolerated: dates without VALUE=DATE
            lines.append(f"{dates.group(1)};VALUE=DATE{dates.group(2)}:{dates.group(3)}")
        else:
            lines.append(line)
    if stack:
        raise FormatError(f"{stack[-1]} is not closed (END:{stack[-1]} missing)")
    if not last:
        raise FormatError("no iCalendar component found (BEGIN:VCALENDAR missing)")
    return lines, trailing


def _spaced_rule(value: Any) -> Any:
    """Tolerated: Microsoft CDO writes ``BYDAY=MO, TU`` (with a space), which the library refuses."""
    if isinstance(value, vBroken) and value.property_name == "RRULE":
        try:
            rule = vRecur(vRecur.from_ical(re.sub(r"\s*([,;=])\s*", r"\1", str(value).strip())))
        except ValueError:
            return value
        rule.params = value.params
        return rule
    return value


def _when(value: Any, tzid: str | None, zones: Zones, what: str, kind: str | None = None) -> DateOrDateTime:
    """A DATE or DATE-TIME with our zone for its TZID (the library's wall time is kept)."""
    if isinstance(value, datetime) and str(kind).upper() == "DATE":
        return value.date()  # the library turns a DATE with a TZID into midnight in that zone
    if isinstance(value, datetime):
        if tzid:
            return value.replace(tzinfo=zones.get(tzid))
        return value.replace(tzinfo=UTC) if value.tzinfo is not None else value
    if isinstance(value, date):
        return value
    raise FormatError(f"{what} must be a DATE or DATE-TIME, got {value!r}")


def _dates(value: Any, zones: Zones, what: str) -> list[DateOrDateTime | Period]:
    tzid, kind = value.params.get("TZID"), value.params.get("VALUE")
    out: list[DateOrDateTime | Period] = []
    for one in value.dts:
        dt = one.dt
        if isinstance(dt, tuple):
            end = dt[1] if isinstance(dt[1], timedelta) else _when(dt[1], tzid, zones, what)
            out.append((_when(dt[0], tzid, zones, what), end))
        else:
            out.append(_when(dt, tzid, zones, what, kind))
    return out


# RRULE parts: key -> (lowest, highest absolute value, negative allowed)
_RULE_RANGES = {"INTERVAL": (1, 10**6, False), "COUNT": (1, 10**9, False), "BYMONTHDAY": (1, 31, True),
                "BYMONTH": (1, 12, False), "BYSETPOS": (1, 366, True)}


def _ints(values: list[Any], key: str, what: str) -> list[int]:
    lo, hi, negative = _RULE_RANGES[key]
    out: list[int] = []
    for v in values:
        try:
            n = int(v)
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{what}: RRULE {key} value {v!r} is not a number") from exc
        if not lo <= abs(n) <= hi or (n < 0 and not negative):
            raise FormatError(f"{what}: RRULE {key} value {n} is out of range")
        out.append(n)
    return out


def _rule_text(key: str, values: list[Any]) -> str:
    text: bytes = vRecur({key: values}).to_ical()  # type: ignore[no-untyped-call]
    return text.decode().partition("=")[2]


def _rule(value: Any, what: str) -> RecurrenceRule:
    parts = {k.upper(): v if isinstance(v, list) else [v] for k, v in value.items()}
    freq = str(parts.pop("FREQ", [""])[0]).upper()
    if freq not in FREQS:
        raise FormatError(f"{what}: RRULE FREQ {freq!r} is not one of {', '.join(FREQS)}")
    rule = RecurrenceRule(freq=freq)
    rscale = "RSCALE" in parts
    for key, values in parts.items():
        if key in ("INTERVAL", "COUNT"):
            setattr(rule, key.lower(), _ints(values, key, what)[0])
        elif key == "UNTIL":
            rule.until = _when(values[0], None, Zones({}), f"{what}: RRULE UNTIL")
        elif key == "BYDAY":
            for day in values:
                ordinal = day.relative if day.relative is None else int(day.relative)
                if ordinal is not None and not 1 <= abs(ordinal) <= 53:
                    raise FormatError(f"{what}: RRULE BYDAY ordinal {ordinal} is out of range")
                rule.by_day.append((ordinal, str(day.weekday)))
        elif key in ("BYMONTHDAY", "BYSETPOS") or (key == "BYMONTH" and not rscale):
            setattr(rule, {"BYMONTHDAY": "by_month_day", "BYSETPOS": "by_set_pos", "BYMONTH": "by_month"}[key],
                    _ints(values, key, what))
        elif key == "WKST":
            rule.week_start = str(values[0]).upper()
        else:  # BYHOUR, BYWEEKNO, ...; RFC 7529 RSCALE rules (leap months like 5L) stay text
            rule.other[key] = _rule_text(key, values)
    if rule.count is not None and rule.until is not None:
        raise FormatError(f"{what}: RRULE has both COUNT and UNTIL")
    return rule


_ATTENDEE_PARAMS = ("CN", "ROLE", "PARTSTAT", "RSVP", "CUTYPE")


def _attendee(value: Any) -> Attendee:
    params = value.params

    def upper(key: str) -> str | None:
        return str(params[key]).upper() if params.get(key) else None

    rsvp = params.get("RSVP")
    return Attendee(
        uri=str(value).strip(),
        name=None if params.get("CN") is None else str(params["CN"]),
        role=upper("ROLE"),
        status=upper("PARTSTAT"),
        rsvp=None if rsvp is None else str(rsvp).strip().upper() == "TRUE",
        kind=upper("CUTYPE"),
        params={k.upper(): [str(x) for x in (v if isinstance(v, list) else [v])]
                for k, v in params.items() if k.upper() not in _ATTENDEE_PARAMS},
    )


def _alarm(comp: icalendar.Component, zones: Zones, what: str) -> Alarm:
    check_errors(comp, f"{what}: VALARM")
    alarm = Alarm()
    seen_trigger = False
    for name, value in properties(comp):
        if name == "ACTION":
            alarm.action = str(value).strip().upper()
        elif name == "TRIGGER" and not seen_trigger:
            seen_trigger = True
            if isinstance(value.dt, timedelta):
                alarm.trigger = value.dt
                alarm.related = str(value.params.get("RELATED") or "START").upper()
            elif isinstance(value.dt, datetime):
                alarm.trigger = _when(value.dt, value.params.get("TZID"), zones, f"{what}: TRIGGER")  # type: ignore[assignment]
            else:
                raise FormatError(f"{what}: absolute TRIGGER must be a DATE-TIME")
        elif name == "DESCRIPTION" and alarm.description is None:
            alarm.description = str(value)
        else:
            alarm.extra.append(property_line(name, value))
    for child in comp.subcomponents:
        alarm.extra.extend(component_lines(child))
    if not seen_trigger:
        raise FormatError(f"{what}: VALARM without TRIGGER")
    return alarm


_SINGLE = {"UID", "SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART", "DTEND", "DUE", "DURATION", "RECURRENCE-ID",
           "ORGANIZER", "STATUS", "PRIORITY", "CLASS", "URL", "TRANSP", "COMPLETED", "PERCENT-COMPLETE", "RRULE"}
_TEXT = {"UID": "uid", "SUMMARY": "summary", "DESCRIPTION": "description", "LOCATION": "location", "URL": "url"}
_TOKEN = {"STATUS": "status", "CLASS": "classification", "TRANSP": "transparency"}
_WHEN = {"DTSTART": "start", "DTEND": "end", "DUE": "due", "RECURRENCE-ID": "recurrence_id"}
_NUMBER = {"PRIORITY": ("priority", 9), "PERCENT-COMPLETE": ("percent_complete", 100)}


def _number(value: Any, name: str, highest: int, what: str) -> int:
    n = int(value)
    if not 0 <= n <= highest:
        raise FormatError(f"{what}: {name} value {n} is out of range")
    return n


def _set_property(rec: EventRecord | TaskRecord, name: str, value: Any, zones: Zones, what: str) -> bool:
    """Put one property in its field; False if the record has no field for it."""
    if name in _TEXT:
        setattr(rec, _TEXT[name], str(value).strip() if name in ("UID", "URL") else str(value))
    elif name in _TOKEN and hasattr(rec, _TOKEN[name]):
        setattr(rec, _TOKEN[name], str(value).strip().upper())
    elif name in _WHEN and hasattr(rec, _WHEN[name]):
        when = _when(value.dt, value.params.get("TZID"), zones, f"{what}: {name}", value.params.get("VALUE"))
        setattr(rec, _WHEN[name], when)
    elif name in _NUMBER and hasattr(rec, _NUMBER[name][0]):
        setattr(rec, _NUMBER[name][0], _number(value, name, _NUMBER[name][1], what))
    elif name == "DURATION" and isinstance(value.dt, timedelta):
        rec.duration = value.dt
    elif name == "RRULE":
        rec.rrule = _rule(value, what)
    elif name in ("RDATE", "EXDATE"):
        dates = _dates(value, zones, f"{what}: {name}")
        if name == "EXDATE" and any(isinstance(d, tuple) for d in dates):
            raise FormatError(f"{what}: EXDATE cannot be a PERIOD")
        (rec.rdates if name == "RDATE" else rec.exdates).extend(dates)  # type: ignore[arg-type]
    elif name in ("ORGANIZER", "ATTENDEE"):
        if name == "ORGANIZER":
            rec.organizer = _attendee(value)
        else:
            rec.attendees.append(_attendee(value))
    elif name == "CATEGORIES":
        rec.categories.extend(str(c) for c in value.cats if str(c).strip())
    elif name == "COMPLETED" and isinstance(rec, TaskRecord):
        completed = _when(value.dt, value.params.get("TZID"), zones, f"{what}: COMPLETED")
        if not isinstance(completed, datetime):
            raise FormatError(f"{what}: COMPLETED must be a DATE-TIME")
        rec.completed = completed
    else:
        return False
    return True


def _record(comp: icalendar.Component, zones: Zones, need_start: bool) -> EventRecord | TaskRecord:
    rec: EventRecord | TaskRecord = EventRecord() if comp.name == "VEVENT" else TaskRecord()
    what = f"{comp.name} uid={str(comp.get('UID', '')) or None!r}"
    if "RRULE" in comp:
        comp["RRULE"] = _spaced_rule(comp["RRULE"])
    check_errors(comp, what)
    seen: set[str] = set()
    for name, value in properties(comp):
        if name in _SINGLE and name in seen:
            rec.extra.append(property_line(name, value))  # a repeated single-valued property: kept, not interpreted
            continue
        seen.add(name)
        if not _set_property(rec, name, value, zones, what):
            rec.extra.append(property_line(name, value))
        elif name in _SINGLE and name != "ORGANIZER":
            params = {k.upper(): [str(x) for x in (v if isinstance(v, list) else [v])]
                      for k, v in value.params.items() if k.upper() not in ("TZID", "VALUE")}
            if params:
                rec.params[name] = params
    for child in comp.subcomponents:
        if child.name == "VALARM":
            rec.alarms.append(_alarm(child, zones, what))
        else:
            rec.extra.extend(component_lines(child))
    if need_start and rec.start is None:
        raise FormatError(f"{what} has no DTSTART")
    if isinstance(rec, EventRecord) and rec.end is not None and rec.duration is not None:
        raise FormatError(f"{what} has both DTEND and DURATION")
    if isinstance(rec, TaskRecord) and rec.due is not None and rec.duration is not None:
        raise FormatError(f"{what} has both DUE and DURATION")
    return rec


def _read(data: str | bytes) -> list[icalendar.Component]:
    lines, trailing = _checked_lines(_LONE_CR.sub("\n", text_of(data)))
    try:
        roots: list[icalendar.Component] = list(icalendar.Calendar.from_ical("\r\n".join(lines), multiple=True))
    except ValueError as exc:
        raise FormatError(f"iCalendar text cannot be read: {exc}") from exc
    if trailing:
        add_kept(roots[-1], trailing)
    return roots


def _calendar_level(roots: list[icalendar.Component], cal: Calendar) -> tuple[list[icalendar.Component], bool]:
    """Calendar properties into ``cal``; returns the components and whether a METHOD was given."""
    components: list[icalendar.Component] = []
    has_method = False
    for root in roots:
        if root.name != "VCALENDAR":
            components.append(root)
            continue
        check_errors(root, "VCALENDAR")
        for name, value in properties(root):
            has_method = has_method or name == "METHOD"
            if name == "PRODID":
                cal.prodid = cal.prodid or str(value)
            elif name != "VERSION":
                cal.properties.append(property_line(name, value))
        components.extend(root.subcomponents)
    return components, has_method


def _attach_exceptions(records: list[EventRecord | TaskRecord], cal: Calendar) -> None:
    """Overrides go to their master (same type and UID); the rest become the calendar's records."""
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


def parse_calendar(data: str | bytes, strict: bool = True) -> Calendar:
    """A whole .ics text (one or more VCALENDARs, or bare VEVENT/VTODO components).

    ``strict`` applies RFC 5545 §3.6.1: a VEVENT needs DTSTART unless the calendar has a METHOD. With
    ``strict=False`` such events are accepted with ``start=None`` (they cannot go to Exchange).
    """
    cal = Calendar()
    components, has_method = _calendar_level(_read(data), cal)
    definitions: dict[str, icalendar.Component] = {}
    for comp in components:
        if comp.name == "VTIMEZONE":
            definitions.setdefault(vtimezone(comp, match=False).tzid, comp)  # every definition is checked
    zones = Zones(definitions)
    records: list[EventRecord | TaskRecord] = []
    for comp in components:
        if comp.name in ("VEVENT", "VTODO"):
            records.append(_record(comp, zones, need_start=strict and comp.name == "VEVENT" and not has_method))
        elif comp.name != "VTIMEZONE":
            cal.other_components.append(component_lines(comp))
    _attach_exceptions(records, cal)
    used = {tz_key(z) for z in zones.cache.values()}
    for comp in components:
        if comp.name != "VTIMEZONE":
            continue
        tzid = str(comp["TZID"]).strip()
        if tzid in zones.custom and definitions.get(tzid) is comp:
            cal.timezones.append(zones.custom[tzid])
        elif tzid not in used or definitions.get(tzid) is not comp:
            cal.other_components.append(component_lines(comp))  # unused (or duplicate) definitions stay as read
    return cal
