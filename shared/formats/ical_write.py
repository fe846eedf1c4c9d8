"""Writing: records become icalendar's components, which the library writes (escaping, folding, VTIMEZONEs)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vCalAddress, vDDDLists, vDDDTypes, vRecur

from .ical_lines import add_kept
from .ical_records import Alarm, Attendee, Calendar, DateOrDateTime, EventRecord, Period, RecurrenceRule, TaskRecord
from .ical_zones import UnresolvedZone, VTimezone, tz_key


def _when_value(value: DateOrDateTime) -> vDDDTypes:
    """DATE, floating, UTC (``Z``), or wall time with TZID; a zone without a name is written in UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.tzinfo is UTC:
        return vDDDTypes(value)
    tz = value.tzinfo
    key = tz_key(tz) if isinstance(tz, ZoneInfo | VTimezone | UnresolvedZone) else None
    if not key:
        return vDDDTypes(value.astimezone(UTC))
    wall = vDDDTypes(value.replace(tzinfo=None))
    wall.params["TZID"] = key  # after construction: the library drops a TZID given with a naive time
    return wall


def _dates_value(values: list[DateOrDateTime | Period]) -> vDDDLists:
    """One RDATE/EXDATE property: same TZID (or none) for all values."""
    first = values[0][0] if isinstance(values[0], tuple) else values[0]
    tzid = _when_value(first).params.get("TZID")
    out: list[Any] = []
    for v in values:
        if isinstance(v, tuple):
            end = v[1] if isinstance(v[1], timedelta) else _when_value(v[1]).dt
            out.append((_when_value(v[0]).dt, end))
        else:
            out.append(_when_value(v).dt)
    value = vDDDLists(out)
    kind = "PERIOD" if isinstance(values[0], tuple) else "DATE" if not isinstance(first, datetime) else None
    if kind:
        value.params["VALUE"] = kind  # the library takes only TZID from the values
    if tzid:
        value.params["TZID"] = tzid
    return value


def _rule_value(rule: RecurrenceRule) -> vRecur:
    parts: dict[str, Any] = {"FREQ": rule.freq}
    if rule.until is not None:
        until = rule.until
        if isinstance(until, datetime) and until.tzinfo is not None:
            until = until.astimezone(UTC)  # RFC 5545: UNTIL is UTC when DTSTART has a zone
        parts["UNTIL"] = until
    if rule.count is not None:
        parts["COUNT"] = rule.count
    if rule.interval != 1:
        parts["INTERVAL"] = rule.interval
    if rule.by_day:
        parts["BYDAY"] = [f"{'' if o is None else o}{d}" for o, d in rule.by_day]
    for key, values in (("BYMONTHDAY", rule.by_month_day), ("BYMONTH", rule.by_month), ("BYSETPOS", rule.by_set_pos)):
        if values:
            parts[key] = list(values)
    if rule.week_start:
        parts["WKST"] = rule.week_start
    for key, text in rule.other.items():
        parts[key] = vRecur.from_ical(f"{key}={text}")[key]
    return vRecur(parts)


def _attendee_value(att: Attendee) -> vCalAddress:
    value = vCalAddress(att.uri)
    for key, param in (("CN", att.name), ("ROLE", att.role), ("PARTSTAT", att.status), ("CUTYPE", att.kind)):
        if param is not None and (param or key == "CN"):
            value.params[key] = param
    if att.rsvp is not None:
        value.params["RSVP"] = "TRUE" if att.rsvp else "FALSE"
    for key, values in att.params.items():
        if values:
            value.params[key] = values[0] if len(values) == 1 else list(values)
    return value


def _alarm_component(alarm: Alarm) -> icalendar.Alarm:
    comp = icalendar.Alarm()
    comp.add("ACTION", alarm.action)
    if isinstance(alarm.trigger, datetime):
        absolute = alarm.trigger.astimezone(UTC) if alarm.trigger.tzinfo else alarm.trigger
        comp.add("TRIGGER", vDDDTypes(absolute, {"VALUE": "DATE-TIME"}), encode=False)
    else:
        comp.add("TRIGGER", vDDDTypes(alarm.trigger, {"RELATED": "END"} if alarm.related == "END" else {}),
                 encode=False)
    if alarm.description is not None:
        comp.add("DESCRIPTION", alarm.description)
    add_kept(comp, alarm.extra)
    return comp


def _record_component(rec: EventRecord | TaskRecord) -> icalendar.Component:
    comp: icalendar.Component = icalendar.Event() if isinstance(rec, EventRecord) else icalendar.Todo()
    when: dict[str, DateOrDateTime | None] = {"RECURRENCE-ID": rec.recurrence_id, "DTSTART": rec.start,
                                              "DTEND": getattr(rec, "end", None),
            "DUE": getattr(rec, "due", None)}
    texts = {"UID": rec.uid, "SUMMARY": rec.summary, "DESCRIPTION": rec.description, "LOCATION": rec.location}
    for name, text in texts.items():
        if text is not None:
            comp.add(name, text)
    for name, value in when.items():
        if value is not None:
            comp.add(name, _when_value(value), encode=False)
    if rec.duration is not None:
        comp.add("DURATION", rec.duration)
    if rec.rrule is not None:
        comp.add("RRULE", _rule_value(rec.rrule), encode=False)
    for name, dates in (("RDATE", rec.rdates), ("EXDATE", rec.exdates)):
        for one in dates:
            comp.add(name, _dates_value([one]), encode=False)
    if rec.organizer is not None:
        comp.add("ORGANIZER", _attendee_value(rec.organizer), encode=False)
    for att in rec.attendees:
        comp.add("ATTENDEE", _attendee_value(att), encode=False)
    if rec.categories:
        comp.add("CATEGORIES", rec.categories)
    tokens: dict[str, str | int | None] = {"STATUS": rec.status, "PRIORITY": rec.priority,
                                           "CLASS": rec.classification, "URL": rec.url,
              "TRANSP": getattr(rec, "transparency", None), "PERCENT-COMPLETE": getattr(rec, "percent_complete", None)}
    for name, token in tokens.items():
        if token is not None:
            comp.add(name, token)
    if isinstance(rec, TaskRecord) and rec.completed is not None:
        comp.add("COMPLETED", _when_value(rec.completed), encode=False)
    for name, params in rec.params.items():
        prop = comp.get(name)
        for key, values in params.items() if prop is not None else ():
            (prop[0] if isinstance(prop, list) else prop).params[key] = values[0] if len(values) == 1 else values
    add_kept(comp, rec.extra)
    for alarm in rec.alarms:
        comp.add_component(_alarm_component(alarm))
    return comp


def _zones_used(recs: Iterable[EventRecord | TaskRecord]) -> dict[str, tuple[tzinfo, list[int]]]:
    """Every named zone the records use, with the years it is used in (for its VTIMEZONE's range)."""
    found: dict[str, tuple[tzinfo, list[int]]] = {}

    def add(value: object) -> None:
        if isinstance(value, datetime) and isinstance(value.tzinfo, ZoneInfo | VTimezone):
            found.setdefault(tz_key(value.tzinfo) or "", (value.tzinfo, []))[1].append(value.year)
        elif isinstance(value, tuple):
            for v in value:
                add(v)

    for rec in recs:
        until = rec.rrule.until if rec.rrule is not None else None
        for value in (rec.start, rec.recurrence_id, getattr(rec, "end", None), getattr(rec, "due", None), until,
                      *rec.rdates, *rec.exdates):
            add(value)
        for key, (tz, years) in _zones_used(rec.exceptions).items():
            found.setdefault(key, (tz, []))[1].extend(years)
    return found


@lru_cache(maxsize=256)
def _iana_vtimezone(key: str, first: int, last: int) -> icalendar.Timezone:
    """The library's VTIMEZONE for an IANA zone over the years used (cached: building it walks the years)."""
    return icalendar.Timezone.from_tzid(key, first_date=date(first, 1, 1), last_date=date(last + 1, 1, 1))


def serialize_calendar(cal: Calendar, prodid: str = "-//mailferry//formats//EN") -> str:
    """The calendar as one VCALENDAR (CRLF, folded), with a VTIMEZONE for every zone it uses."""
    out = icalendar.Calendar()
    out.add("VERSION", "2.0")
    out.add("PRODID", prodid)
    add_kept(out, cal.properties)
    records: list[EventRecord | TaskRecord] = [*cal.events, *cal.tasks]
    emitted: set[str] = set()
    for vtz in cal.timezones:
        add_kept(out, vtz.lines)
        emitted.add(vtz.tzid)
    for key, (tz, years) in _zones_used(records).items():
        if key in emitted:
            continue
        emitted.add(key)
        if isinstance(tz, VTimezone):
            add_kept(out, tz.lines)
        elif isinstance(tz, ZoneInfo):
            first, last = (min(max(y, 1900), 2100) for y in (min(years), max(years)))  # bounded: hostile years
            out.add_component(_iana_vtimezone(key, first, last))  # shared, never changed
    for rec in records:
        out.add_component(_record_component(rec))
        for exc in rec.exceptions:
            out.add_component(_record_component(exc))
    for lines in cal.other_components:
        add_kept(out, lines)
    text: bytes = out.to_ical(sorted=False)
    return text.decode("utf-8")
