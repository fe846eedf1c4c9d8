"""Time zones an Exchange item gives by their definition only, read as the IANA zone that keeps the same clock.

exchangelib knows a calendar item's zone by its Windows id. Items made by Outlook for Mac, eM Client or
invitations from other systems carry ``StartTimeZone Id="Customized Time Zone"`` or a localized name
("Mitteleuropäische Zeit") with the zone's periods and transitions instead (exchangelib issues #310, #541,
#1197 show such answers). exchangelib then gives no zone: a timed event lost its wall clock (a weekly
meeting drifted an hour at every DST change on the target) and an all-day event's days were taken in the
worker machine's zone. Importing this module teaches exchangelib's calendar zone fields to read the
definition: the first zone of Microsoft's table whose offsets change at the same instants stands in for it.
"""

from __future__ import annotations

import calendar as pycal
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib import CalendarItem, EWSTimeZone
from exchangelib.errors import UnknownTimeZone
from exchangelib.fields import TimeZoneField
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from shared.adapters.xml_reading import child_text, iter_named, local_name

_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?$")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # as date.weekday() counts
REFERENCE_YEAR = 2025  # the rules in force now; a fixed year keeps the answer the same on every run
# Zones many share a clock with (Turks and Caicos keeps New York's): the widely used one is named first.
_FIRST = ("W. Europe Standard Time", "Romance Standard Time", "GMT Standard Time", "Eastern Standard Time",
          "Central Standard Time", "Mountain Standard Time", "Pacific Standard Time", "AUS Eastern Standard Time",
          "E. Europe Standard Time", "FLE Standard Time", "New Zealand Standard Time")


def _minutes(text: str) -> int | None:
    """An xs:duration such as "-PT1H", "P0DT8H0M0.0S" in whole minutes."""
    m = _DURATION.match(text.strip())
    if m is None:
        return None
    sign, days, hours, mins, secs = m.groups()
    total = int(days or 0) * 1440 + int(hours or 0) * 60 + int(mins or 0) + int(float(secs or 0)) // 60
    return -total if sign else total


def _nth_weekday(year: int, month: int, weekday: int, occurrence: int) -> date:
    days = [d for d in range(1, pycal.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() == weekday]
    return date(year, month, days[-1] if occurrence < 0 or occurrence > len(days) else days[occurrence - 1])


def _group_in_force(definition: Element) -> Element | None:
    groups = {g.get("Id"): g for g in iter_named(definition, "TransitionsGroup")}
    chosen = None
    for holder in iter_named(definition, "Transitions"):
        for tr in holder:
            to = next((c for c in tr if local_name(c.tag) == "To"), None)
            if to is not None and to.get("Kind") == "Group":
                chosen = (to.text or "").strip()
    if chosen is None and groups:
        chosen = list(groups)[-1]
    return groups.get(chosen)


def _changes(definition: Element) -> tuple[list[tuple[date, int, int]], int] | None:
    """((day, minutes after midnight, offset after) per change in the reference year, offset before the first)."""
    offsets: dict[str, int] = {}
    for p in iter_named(definition, "Period"):
        bias = _minutes(p.get("Bias") or "")
        if bias is not None:
            offsets[p.get("Id") or ""] = -bias  # Bias is what to add to local time to get UTC
    group = _group_in_force(definition)
    if group is None or not offsets:
        return None
    changes: list[tuple[date, int, int]] = []
    for tr in group:
        to = offsets.get(child_text(tr, "To"))
        if to is None:
            return None
        if local_name(tr.tag) == "Transition":  # no change in the year: one period
            return [], to
        try:
            month, weekday = int(child_text(tr, "Month")), _DAYS.index(child_text(tr, "DayOfWeek"))
            day = _nth_weekday(REFERENCE_YEAR, month, weekday, int(child_text(tr, "Occurrence")))
        except ValueError:
            return None
        changes.append((day, _minutes(child_text(tr, "TimeOffset")) or 0, to))
    if not changes:
        return None
    changes.sort()
    return changes, changes[-1][2]


def _fits(zone: ZoneInfo, changes: list[tuple[date, int, int]], before: int) -> bool:
    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        return -1 if delta is None else int(delta.total_seconds()) // 60

    if not changes:
        return all(offset(datetime(REFERENCE_YEAR, m, 15, 12, tzinfo=UTC)) == before for m in (1, 7))
    for day, minute, after in changes:
        instant = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute - before)
        if offset(instant - timedelta(hours=3)) != before or offset(instant + timedelta(hours=3)) != after:
            return False
        before = after
    return True


def zone_of_definition(definition: Element) -> str | None:
    """The IANA name of a zone whose clock matches this TimeZoneDefinition (StartTimeZone...), or None."""
    found = _changes(definition)
    if found is None:
        return None
    changes, before = found
    # Exchange's own definitions name their Windows zone in the period ids ("trule:Microsoft/Registry/<id>/..."):
    # that zone first, then the widely used ones, then Microsoft's table in its order.
    named = [part for p in iter_named(definition, "Period") for part in (p.get("Id") or "").split("/")]
    candidates = [MS_TIMEZONE_TO_IANA_MAP[n] for n in (*named, *_FIRST) if n in MS_TIMEZONE_TO_IANA_MAP]
    for key in dict.fromkeys([*candidates, *MS_TIMEZONE_TO_IANA_MAP.values()]):
        try:
            if _fits(ZoneInfo(key), changes, before):
                return str(key)
        except ZoneInfoNotFoundError:
            continue
    return None


class DefinedZoneField(TimeZoneField):  # type: ignore[misc]
    """exchangelib's zone field, reading a zone known by its definition only instead of dropping it."""

    def from_xml(self, elem: Any, account: Any) -> Any:
        field_elem = elem.find(self.response_tag())
        if field_elem is None:
            return self.default
        tz_id = field_elem.get("Id") or field_elem.get("Name")
        if tz_id:
            try:
                return self.value_cls.from_ms_id(tz_id)
            except UnknownTimeZone:
                pass
        key = zone_of_definition(field_elem)
        return None if key is None else EWSTimeZone(key)  # None: the reader reports the zone as unknown


for _field in CalendarItem.FIELDS:
    if type(_field) is TimeZoneField:
        _field.__class__ = DefinedZoneField
