"""An event's "show as" state: Exchange's LegacyFreeBusyStatus <-> iCalendar, every value both ways.

iCalendar itself has only TRANSP (OPAQUE = busy, TRANSPARENT = free). Outlook's own iCalendar
export adds ``X-MICROSOFT-CDO-BUSYSTATUS`` (FREE, TENTATIVE, BUSY, OOF, WORKINGELSEWHERE), which
is written here for every state, next to the TRANSP a plain iCalendar reader understands.
Exchange's sixth value, NoData, is written ``NODATA``. Reading an iCalendar text, that property
wins; without it ``STATUS:TENTATIVE`` means Tentative, ``TRANSP:TRANSPARENT`` Free, anything else
Busy.
"""

from __future__ import annotations

from .ical import EventRecord

PROPERTY = "X-MICROSOFT-CDO-BUSYSTATUS"
# Exchange's value -> the property's value.
EWS_TO_ICAL = {"Free": "FREE", "Tentative": "TENTATIVE", "Busy": "BUSY", "OOF": "OOF",
               "WorkingElsewhere": "WORKINGELSEWHERE", "NoData": "NODATA"}
ICAL_TO_EWS = {v: k for k, v in EWS_TO_ICAL.items()}


def busy_line(line: str) -> bool:
    """Whether an unfolded content line is the busy-status property."""
    return line.split(":", 1)[0].split(";", 1)[0].strip().upper() == PROPERTY


def to_ical(status: str | None, rec: EventRecord) -> None:
    """Set ``rec``'s TRANSP and busy-status line for Exchange's ``status`` (None: nothing known)."""
    rec.extra = [x for x in rec.extra if not busy_line(x)]
    if status not in EWS_TO_ICAL:
        return
    rec.transparency = "TRANSPARENT" if status == "Free" else "OPAQUE"
    rec.extra.append(f"{PROPERTY}:{EWS_TO_ICAL[status]}")


def from_ical(rec: EventRecord) -> str:
    """Exchange's LegacyFreeBusyStatus for an event."""
    for line in rec.extra:
        if busy_line(line):
            value = ICAL_TO_EWS.get(line.split(":", 1)[1].strip().upper())
            if value is not None:
                return value
    if rec.status == "TENTATIVE":
        return "Tentative"
    return "Free" if rec.transparency == "TRANSPARENT" else "Busy"
