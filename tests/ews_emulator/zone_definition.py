"""A calendar item's zone given by its definition (Periods, TransitionsGroups, Transitions), as a tzinfo.

Exchange keeps such a zone with the item ("Customized Time Zone", a localized name) and expands the
series in it; the emulator does the same from the definition alone, with no zone table, so it cannot
agree with mailferry's reading of the definition by sharing code with it.
"""

from __future__ import annotations

import calendar as pycal
import re
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from .soap import local, tq

_SPAN = re.compile(r"(-?)P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:[\d.]+S)?$")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _span(text: str) -> timedelta:
    m = _SPAN.match(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    size = timedelta(days=int(m[2] or 0), hours=int(m[3] or 0), minutes=int(m[4] or 0))
    return -size if m[1] else size


class DefinedZone(tzinfo):
    """Offsets from the definition's group in force (the last Transition names it), every year alike."""

    def __init__(self, definition: Any) -> None:
        offsets = {p.get("Id"): -_span(p.get("Bias") or "") for p in definition.iter(tq("Period"))}
        groups = {g.get("Id"): g for g in definition.iter(tq("TransitionsGroup"))}
        holder = definition.find(tq("Transitions"))
        in_force = [t.findtext(tq("To")) for t in (holder if holder is not None else [])]
        group = groups[in_force[-1] if in_force else list(groups)[-1]]
        self.rules: list[tuple[int, int, int, timedelta, timedelta]] = []
        self.fixed = timedelta(0)
        for t in group:
            to = offsets[t.findtext(tq("To"))]
            if local(t) == "Transition":
                self.fixed = to
                continue
            self.rules.append((int(t.findtext(tq("Month")) or 0), _WEEKDAYS.index(t.findtext(tq("DayOfWeek")) or ""),
                               int(t.findtext(tq("Occurrence")) or 0), _span(t.findtext(tq("TimeOffset")) or ""), to))
        self.name = definition.get("Id") or "Custom"

    def _changes(self, year: int) -> list[tuple[datetime, timedelta]]:
        out = []
        for month, weekday, nth, at, to in self.rules:
            days = [d for d in range(1, pycal.monthrange(year, month)[1] + 1)
                    if date(year, month, d).weekday() == weekday]
            day = days[-1] if nth < 0 or nth > len(days) else days[nth - 1]
            out.append((datetime(year, month, day) + at, to))
        return sorted(out)

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None or not self.rules:
            return self.fixed
        changes = self._changes(dt.year)
        current = changes[-1][1]  # the year starts in the period its last change leads to
        for when, to in changes:
            if dt.replace(tzinfo=None) >= when:
                current = to
        return current

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self.name

    def fromutc(self, dt: datetime) -> datetime:
        for offset in sorted({self.fixed, *(r[4] for r in self.rules)}):
            wall = dt.replace(tzinfo=None) + offset
            if self.utcoffset(wall) == offset:
                return wall.replace(tzinfo=self)
        return (dt.replace(tzinfo=None) + self.utcoffset(dt)).replace(tzinfo=self)
