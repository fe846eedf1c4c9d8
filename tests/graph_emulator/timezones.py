"""Time zone names Graph accepts (IANA and the common Windows names) and dateTimeTimeZone arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import GraphError

WINDOWS = {
    "UTC": "UTC", "GMT Standard Time": "Europe/London", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "Pacific Standard Time": "America/Los_Angeles",
    "Mountain Standard Time": "America/Denver", "Central Standard Time": "America/Chicago",
    "Eastern Standard Time": "America/New_York", "Tokyo Standard Time": "Asia/Tokyo",
    "China Standard Time": "Asia/Shanghai", "India Standard Time": "Asia/Kolkata",
    "AUS Eastern Standard Time": "Australia/Sydney", "Russian Standard Time": "Europe/Moscow",
}


def zone(name: str) -> ZoneInfo:
    """The zone for a Graph time zone name, or Graph's 400 for one it does not know."""
    iana = WINDOWS.get(name, name)
    try:
        if not iana or iana.startswith(("/", ".")) or ".." in iana:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise GraphError(400, "TimeZoneNotSupportedException", "A valid TimeZone value must be specified. The "
                                                                f"following TimeZone value is not supported: '{name}'.") from e


def parse_local(text: str) -> datetime:
    """dateTimeTimeZone.dateTime: an ISO local time without offset (up to 7 fraction digits)."""
    base, _, frac = text.partition(".")
    try:
        when = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
        if frac:
            if not frac.isdigit() or len(frac) > 7:
                raise ValueError(text)
            when += timedelta(microseconds=int(frac[:6].ljust(6, "0")))
    except ValueError as e:
        raise GraphError(400, "ErrorInvalidRequest" if "T" in text else "BadRequest",
                         f"Cannot convert the literal '{text}' to the expected DateTime format "
                         "yyyy-MM-ddTHH:mm:ss.fffffff.") from e
    return when


def to_utc(dttz: dict[str, Any]) -> datetime:
    tz = zone(str(dttz.get("timeZone") or "UTC"))
    return parse_local(str(dttz.get("dateTime") or "")).replace(tzinfo=tz).astimezone(UTC)


def render(when: datetime, tz_name: str) -> dict[str, str]:
    local = when.astimezone(zone(tz_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}
