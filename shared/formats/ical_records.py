"""The neutral calendar records: what an event or a task is, whatever format or system it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ical_zones import VTimezone

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
    # parameters of mapped properties that no field holds: {"DESCRIPTION": {"LANGUAGE": ["de"]}, ...}
    params: dict[str, dict[str, list[str]]] = field(default_factory=dict)


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
    other_components: list[list[str]] = field(default_factory=list)  # unfolded lines of each
    timezones: list[VTimezone] = field(default_factory=list)  # custom VTIMEZONEs (not IANA names)
    prodid: str | None = field(default=None, compare=False)  # who wrote it (we write our own)
