"""Time zones of a calendar: IANA zones by name (also Windows and vendor-prefixed TZIDs), custom VTIMEZONEs
(offsets computed by icalendar), and TZIDs nobody defines (kept, offset unknown).

TZIDs are resolved here, per calendar, not through icalendar's process-wide cache of VTIMEZONEs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from . import FormatError
from .ical_lines import check_errors, component_lines


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


class VTimezone(tzinfo):
    """A time zone defined by a VTIMEZONE component (custom TZID); the library computes its offsets."""

    def __init__(self, tzid: str, lines: list[str], zone: tzinfo, iana: str | None) -> None:
        self.tzid = tzid
        self.lines = lines  # the VTIMEZONE, unfolded, BEGIN/END included
        self.zone = zone  # the library's tzinfo for the definition
        self.iana = iana  # an IANA zone with the same offsets, if one was found

    def __repr__(self) -> str:
        return f"VTimezone({self.tzid!r}, iana={self.iana!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VTimezone) and (self.tzid, self.lines) == (other.tzid, other.lines)

    def __hash__(self) -> int:
        return hash(self.tzid)

    # A repeated wall time means its first occurrence (fold=0): offsets do not depend on ``fold``, so
    # datetimes in this zone compare as instants with datetimes in another zone (PEP 495).
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None if dt is None else self.zone.utcoffset(dt.replace(tzinfo=None, fold=0))

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None if dt is None else self.zone.dst(dt.replace(tzinfo=None, fold=0))

    def tzname(self, dt: datetime | None) -> str | None:
        return self.tzid if dt is None else self.zone.tzname(dt.replace(tzinfo=None, fold=0))


@lru_cache(maxsize=1024)
def _zoneinfo(key: str) -> ZoneInfo | None:
    if not key or key.startswith("/") or ".." in key or "\x00" in key:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


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
    windows = WINDOWS_TO_OLSON.get(tzid)
    return _zoneinfo(windows) if windows else None


@lru_cache(maxsize=1)
def _candidate_zones() -> tuple[str, ...]:
    """IANA zones to match a custom VTIMEZONE against: the canonical zone of each Windows zone first."""
    preferred = sorted({v for v in WINDOWS_TO_OLSON.values() if "/" in v})
    rest = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return tuple(dict.fromkeys([*preferred, *rest]))


def _matching_iana(vtz: VTimezone, years: Iterable[int]) -> str | None:
    # Probe the latest years the definition speaks of. Observances that start in 1601 (Outlook) or 1970
    # (Thunderbird, Evolution) with a yearly rule describe today's rule, not those years, when most IANA zones
    # had other rules or none: such a definition is probed in recent years.
    recent = {y for y in years if y >= 1990} | {2024}
    last = sorted(recent if len(recent) > 1 else {2023, 2024})[-2:]
    probes = [datetime(y, m, 15, 12) for y in last for m in (1, 4, 7, 10)]
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


def vtimezone(comp: icalendar.Component, match: bool = True) -> VTimezone:
    """Our tzinfo for a VTIMEZONE; the checks are ours, the offsets the library's."""
    tzid = str(comp.get("TZID", "")).strip()
    if not tzid:
        raise FormatError("VTIMEZONE without TZID")
    observances = [c for c in comp.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if not observances:
        raise FormatError(f"VTIMEZONE {tzid!r} has neither STANDARD nor DAYLIGHT")
    for ob in observances:
        check_errors(ob, f"{ob.name} of VTIMEZONE {tzid!r}")
        for required in ("DTSTART", "TZOFFSETFROM", "TZOFFSETTO"):
            if required not in ob:
                raise FormatError(f"{ob.name} of VTIMEZONE {tzid!r} lacks {required}")
    if not isinstance(comp, icalendar.Timezone):  # the library reads every VTIMEZONE as one
        raise FormatError(f"VTIMEZONE {tzid!r} was not read as a time zone")
    try:
        zone = comp.to_tz(lookup_tzid=False)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise FormatError(f"VTIMEZONE {tzid!r} cannot be read: {exc}") from exc
    if str(comp["TZID"]) != tzid:
        comp["TZID"] = icalendar.vText(tzid)  # the library strips the TZID parameters that refer to it
    vtz = VTimezone(tzid, component_lines(comp), zone, None)
    if match:
        loc = comp.get("X-LIC-LOCATION")
        named = zone_by_name(str(loc)) if loc else None
        starts: list[Any] = [ob.get("DTSTART") for ob in observances]
        starts = [v.dt for v in starts if isinstance(getattr(v, "dt", None), date)]
        vtz.iana = named.key if named is not None else _matching_iana(vtz, (d.year for d in starts))
    return vtz


def vtimezone_for(tz: tzinfo, tzid: str, first: date, last: date) -> VTimezone:
    """A custom zone from any tzinfo (e.g. an Outlook time zone rule), its VTIMEZONE written by the library
    for the years ``first`` up to ``last``."""
    comp = icalendar.Timezone.from_tzinfo(tz, tzid=tzid, first_date=first, last_date=last)
    vtz = VTimezone(tzid, component_lines(comp), tz, None)
    vtz.iana = _matching_iana(vtz, (first.year, last.year - 1))
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


class Zones:
    """TZID -> tzinfo for one calendar."""

    def __init__(self, definitions: dict[str, icalendar.Component]) -> None:
        self.definitions = definitions
        self.cache: dict[str, tzinfo] = {}
        self.custom: dict[str, VTimezone] = {}

    def get(self, tzid: str) -> tzinfo:
        if tzid in self.cache:
            return self.cache[tzid]
        zone: tzinfo | None = zone_by_name(tzid)
        if zone is None and tzid in self.definitions:
            vtz = vtimezone(self.definitions[tzid])
            self.custom[tzid] = vtz
            zone = vtz
        if zone is None:
            zone = UnresolvedZone(tzid)
        self.cache[tzid] = zone
        return zone
