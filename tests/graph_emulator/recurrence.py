"""patternedRecurrence: the checks Exchange makes on a pattern and range, and the dates it yields."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from .errors import bad_request

DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
INDEX = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}
_NEEDS = {
    "daily": (),
    "weekly": ("daysOfWeek",),
    "absoluteMonthly": ("dayOfMonth",),
    "relativeMonthly": ("daysOfWeek",),
    "absoluteYearly": ("dayOfMonth", "month"),
    "relativeYearly": ("daysOfWeek", "month"),
}


def _invalid(text: str) -> Exception:
    return bad_request(f"The recurrence is not valid: {text}", "ErrorInvalidRequest")


def check(rec: dict[str, Any], first_day: date | None) -> None:
    """Refuse a pattern or range Exchange refuses; `first_day` is the event's start date (None for tasks)."""
    pattern, rng = rec.get("pattern"), rec.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise _invalid("both 'pattern' and 'range' are required.")
    kind = pattern.get("type")
    if kind not in _NEEDS:
        raise _invalid("pattern.type is required.")
    interval = pattern.get("interval")
    if not isinstance(interval, int) or interval < 1 or interval > 999:
        raise _invalid("pattern.interval must be between 1 and 999.")
    for field in _NEEDS[kind]:
        if not pattern.get(field):
            raise _invalid(f"pattern.{field} is required for a {kind} pattern.")
    if "dayOfMonth" in _NEEDS[kind] and not 1 <= int(pattern["dayOfMonth"]) <= 31:
        raise _invalid("pattern.dayOfMonth must be between 1 and 31.")
    if "month" in _NEEDS[kind] and not 1 <= int(pattern["month"]) <= 12:
        raise _invalid("pattern.month must be between 1 and 12.")
    rtype = rng.get("type")
    if not rng.get("startDate"):
        raise _invalid("range.startDate is required.")
    start = date.fromisoformat(rng["startDate"])
    if first_day is not None and start != first_day:
        raise _invalid("range.startDate must be the date of the event's start.")
    if rtype == "endDate":
        if not rng.get("endDate") or date.fromisoformat(rng["endDate"]) < start:
            raise _invalid("range.endDate is required and must not be before range.startDate.")
    elif rtype == "numbered":
        if not isinstance(rng.get("numberOfOccurrences"), int) or rng["numberOfOccurrences"] < 1:
            raise _invalid("range.numberOfOccurrences must be 1 or more.")
    elif rtype != "noEnd":
        raise _invalid("range.type must be endDate, noEnd or numbered.")


def _week_start(d: date, first_dow: str) -> date:
    return d - timedelta(days=(d.weekday() - DAYS.index(first_dow)) % 7)


def _nth_weekday(d: date, days: list[str], index: str) -> bool:
    if DAYS[d.weekday()] not in days:
        return False
    if INDEX.get(index, 0) == -1:
        return d.day + 7 > calendar.monthrange(d.year, d.month)[1]
    return (d.day - 1) // 7 == INDEX.get(index, 0)


def _clamped(d: date, day_of_month: int) -> int:
    """Day 31 in a 30-day month falls on its last day (MS-OXOCAL's monthly and yearly patterns)."""
    return min(day_of_month, calendar.monthrange(d.year, d.month)[1])


def _matches(p: dict[str, Any], start: date, d: date) -> bool:
    kind, n = str(p["type"]), int(p["interval"])
    months = (d.year - start.year) * 12 + d.month - start.month
    if kind == "daily":
        return (d - start).days % n == 0
    if kind == "weekly":
        fdow = p.get("firstDayOfWeek") or "sunday"
        weeks = (_week_start(d, fdow) - _week_start(start, fdow)).days // 7
        return weeks % n == 0 and DAYS[d.weekday()] in list(p["daysOfWeek"])
    if kind == "absoluteMonthly":
        return months % n == 0 and d.day == _clamped(d, int(p["dayOfMonth"]))
    if kind == "relativeMonthly":
        return months % n == 0 and _nth_weekday(d, list(p["daysOfWeek"]), str(p.get("index") or "first"))
    years = d.year - start.year
    if kind == "absoluteYearly":
        return years % n == 0 and d.month == int(p["month"]) and d.day == _clamped(d, int(p["dayOfMonth"]))
    return years % n == 0 and d.month == int(p["month"]) and _nth_weekday(d, list(p["daysOfWeek"]), str(p.get("index") or "first"))


def dates(rec: dict[str, Any], until: date) -> Iterator[date]:
    """Occurrence dates from range.startDate up to `until` (inclusive) or the range's own end."""
    p, rng = rec["pattern"], rec["range"]
    start = date.fromisoformat(rng["startDate"])
    end = date.fromisoformat(rng["endDate"]) if rng["type"] == "endDate" else until
    left = rng.get("numberOfOccurrences") if rng["type"] == "numbered" else None
    d = start
    while d <= min(end, until):
        if _matches(p, start, d):
            yield d
            if left is not None:
                left -= 1
                if left == 0:
                    return
        d += timedelta(days=1)
