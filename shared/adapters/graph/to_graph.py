"""The neutral records as Graph's JSON items: the reverse of :mod:`.mapping` (pure: no request is made here).

A vCard card becomes a contact, an iCalendar event an event (a series with its recurrence; its modified
and deleted occurrences are applied after the master exists, :mod:`.item_target`), a VTODO a To Do task, the
rule and auto-reply models a messageRule and an automaticRepliesSetting. What Graph cannot hold is listed
as lossy, per item, for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from shared.adapters.graph.mapping import (
    _ADDRESS_ACTIONS,
    _ADDRESSES_PRED,
    _AUDIENCE,
    _CHOICES,
    _FLAG_ACTIONS,
    _FLAGS,
    _FOLDER_ACTIONS,
    _OOF_STATE,
    _SHOW_AS,
    _STRINGS,
    WEEKDAYS,
    Mapped,
)
from shared.formats import free_busy, html_body
from shared.formats.ical import EventRecord, RecurrenceRule, TaskRecord
from shared.formats.month_days import SHORTEST, exchange_day
from shared.formats.settings import AutoReply, RuleModel
from shared.formats.vcard import ContactCard

DAYS = {v: k for k, v in WEEKDAYS.items()}
INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
LIMITS = {"emailAddresses": 3, "businessPhones": 2, "homePhones": 2, "imAddresses": 3}


def _inverse(table: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


# -- contacts ----------------------------------------------------------------------------------

def _extra_value(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.split(";", 1)[0].upper(), value.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";") \
        .replace("\\\\", "\\")


def contact_to_graph(card: ContactCard) -> Mapped[dict[str, Any]]:
    """A card as a contact; what does not fit (a fourth e-mail address, a photo by reference, URLs beyond one) is
    lossy. An embedded photo is not in the body: Graph takes it afterwards (``PUT photo/$value``)."""
    lossy: list[str] = []
    c: dict[str, Any] = {"displayName": card.formatted_name or " ".join(
        x for x in (card.given_name, card.family_name) if x)}
    for key, value in (("givenName", card.given_name), ("surname", card.family_name),
                       ("middleName", card.middle_name), ("title", card.prefix), ("generation", card.suffix),
                       ("nickName", card.nickname), ("companyName", card.organization),
                       ("department", card.department), ("jobTitle", card.title), ("personalNotes", card.note)):
        if value:
            c[key] = value
    if card.categories:
        c["categories"] = list(card.categories)
    if isinstance(card.birthday, date):
        c["birthday"] = f"{card.birthday.isoformat()}T00:00:00Z"
    elif card.birthday:
        lossy.append(f"birthday {card.birthday!r} (not a full date)")
    if card.anniversary:
        lossy.append("anniversary")
    emails = [{"address": e.value, "name": card.formatted_name or e.value} for e in card.emails if e.value]
    phones: dict[str, list[str]] = {"businessPhones": [], "homePhones": []}
    for p in card.phones:
        types = {t.lower() for t in p.types}
        if "cell" in types and "mobilePhone" not in c:
            c["mobilePhone"] = p.value
        elif "home" in types:
            phones["homePhones"].append(p.value)
        else:
            phones["businessPhones"].append(p.value)
    ims: list[str] = []
    for line in card.extra:
        name, value = _extra_value(line)
        graph = {"X-ASSISTANT": "assistantName", "X-MANAGER": "manager", "X-SPOUSE": "spouseName",
                 "X-MS-OFFICE-LOCATION": "officeLocation", "ROLE": "profession"}.get(name)
        if graph:
            c[graph] = value
        elif name == "IMPP":
            ims.append(value)
        elif name == html_body.ALT_DESC:
            lossy.append("the notes' HTML formatting (Graph keeps their text)")
        else:
            lossy.append(f"the vCard property {name}")
    lists: list[tuple[str, list[Any]]] = [("emailAddresses", emails), *phones.items(), ("imAddresses", ims)]
    for key, values in lists:
        if values:
            keep = values[:LIMITS[key]]
            c[key] = keep
            if len(values) > len(keep):
                lossy.append(f"{len(values) - len(keep)} of the {key} (Graph holds {LIMITS[key]})")
    slots = {"work": "businessAddress", "home": "homeAddress"}
    for a in card.addresses:
        types = {t.lower() for t in a.types}
        slot = next((slots[t] for t in ("work", "home") if t in types), "otherAddress")
        if slot in c:
            slot = "otherAddress" if "otherAddress" not in c else ""
        if not slot:
            lossy.append("an address beyond Graph's three (business, home, other)")
            continue
        street = "\n".join(x for x in (a.po_box, a.extended, a.street) if x)
        c[slot] = {"street": street, "city": a.locality, "state": a.region, "postalCode": a.postal_code,
                   "countryOrRegion": a.country}
    if card.urls:
        c["businessHomePage"] = card.urls[0].value
        if len(card.urls) > 1:
            lossy.append(f"{len(card.urls) - 1} of the web addresses (Graph holds one)")
    if card.photo_uri:  # an embedded photo is put after the contact exists (item_files.put_photo)
        lossy.append(f"the photo by reference {card.photo_uri}")
    return Mapped(c, lossy)


# -- events ------------------------------------------------------------------------------------

def zone_name(tz: tzinfo | None) -> str:
    """A time zone Graph knows: the IANA key (a custom VTIMEZONE's matching one), else UTC (the instant is
    converted, the zone is lost)."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    iana = getattr(tz, "iana", None)
    return iana if isinstance(iana, str) and iana else "UTC"


def date_time_zone(value: date | datetime, tz_name: str | None = None) -> dict[str, str]:
    """A dateTimeTimeZone: a datetime in its own zone (UTC when Graph would not know it), a date at midnight."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return {"dateTime": value.isoformat(timespec="seconds"), "timeZone": tz_name or "UTC"}
        name = zone_name(value.tzinfo)
        local = value.astimezone(ZoneInfo(name)) if name != "UTC" else value.astimezone(UTC)
        return {"dateTime": local.replace(tzinfo=None).isoformat(timespec="seconds"), "timeZone": name}
    return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": tz_name or "UTC"}


def recurrence_to_graph(rule: RecurrenceRule, start: date | datetime, all_day: bool,
                        lossy: list[str] | None = None) -> dict[str, Any]:
    """An RRULE as a patternedRecurrence; ValueError for what Graph's patterns cannot say, ``lossy`` for what
    it says otherwise."""
    if rule.other:
        raise ValueError(f"the recurrence parts {', '.join(sorted(rule.other))}")
    first = start.date() if isinstance(start, datetime) else start
    days = [DAYS[d] for _n, d in rule.by_day if d in DAYS]
    pattern: dict[str, Any] = {"interval": rule.interval}
    ordinals = {n for n, _d in rule.by_day if n is not None} | set(rule.by_set_pos)
    if rule.freq == "DAILY" and not rule.by_day:
        pattern["type"] = "daily"
    elif rule.freq in ("DAILY", "WEEKLY"):
        if rule.freq == "DAILY":
            pattern["interval"] = 1
        pattern.update(type="weekly", daysOfWeek=days or [first.strftime("%A").lower()],
                       firstDayOfWeek=DAYS.get(rule.week_start or "MO", "monday"))
    elif rule.freq in ("MONTHLY", "YEARLY") and rule.by_day:
        if len(ordinals) > 1 or not ordinals or next(iter(ordinals)) not in INDEX:
            raise ValueError("a relative pattern with several or unknown positions")
        pattern.update(type="relativeMonthly" if rule.freq == "MONTHLY" else "relativeYearly", daysOfWeek=days,
                       index=INDEX[next(iter(ordinals))])
        if rule.freq == "YEARLY":
            pattern["month"] = (rule.by_month or [first.month])[0]
    elif rule.freq in ("MONTHLY", "YEARLY"):
        month = (rule.by_month or [first.month])[0]
        day = exchange_day(rule, first.day, SHORTEST.get(month, 28) if rule.freq == "YEARLY" else 28,
                           [] if lossy is None else lossy)
        if day is None or (rule.freq == "YEARLY" and len(rule.by_month) > 1):
            raise ValueError("days of the month Graph's patterns cannot say")
        pattern.update(type="absoluteMonthly", dayOfMonth=day)
        if rule.freq == "YEARLY":
            pattern.update(type="absoluteYearly", month=month)
    else:
        raise ValueError(f"the frequency {rule.freq}")
    rng: dict[str, Any] = {"startDate": first.isoformat()}
    if rule.count:
        rng.update(type="numbered", numberOfOccurrences=rule.count)
    elif rule.until is not None:
        until = rule.until
        if isinstance(until, datetime):
            tz = start.tzinfo if isinstance(start, datetime) and start.tzinfo else UTC
            until = until.astimezone(tz).date() if until.tzinfo else until.date()
        rng.update(type="endDate", endDate=until.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


_IMPORTANCE = {1: "high", 2: "high", 3: "high", 4: "high", 6: "low", 7: "low", 8: "low", 9: "low"}
_SENSITIVITY = {"PRIVATE": "private", "CONFIDENTIAL": "confidential", "X-PERSONAL": "personal"}
_SHOW = _inverse(_SHOW_AS)


def _all_day(rec: EventRecord) -> bool:
    return isinstance(rec.start, date) and not isinstance(rec.start, datetime)


def event_fields(rec: EventRecord, lossy: list[str], day_zone: str | None = None) -> dict[str, Any]:
    """The fields an event and a modified occurrence share; an all-day event's days are anchored in
    ``day_zone`` (the source's zone, see shared.formats.calendar_zone), else in UTC."""
    ev: dict[str, Any] = {}
    if rec.summary is not None:
        ev["subject"] = rec.summary
    body = html_body.body_of(rec)
    if body is not None and body[0]:
        ev["body"] = {"contentType": "html" if body[1] else "text", "content": body[0]}
    if rec.location:
        ev["location"] = {"displayName": rec.location}
    if rec.categories:
        ev["categories"] = list(rec.categories)
    if rec.priority:
        ev["importance"] = _IMPORTANCE.get(rec.priority, "normal")
    if rec.classification in _SENSITIVITY:
        ev["sensitivity"] = _SENSITIVITY[rec.classification]
    show = _SHOW.get(free_busy.from_ical(rec) or "")
    if show:
        ev["showAs"] = show
    start, end = rec.start, rec.end
    if start is not None:
        if end is None:
            end = start + (rec.duration or (timedelta(days=1) if _all_day(rec) else timedelta(0)))
        if _all_day(rec):
            ev["isAllDay"] = True
            ev["start"], ev["end"] = date_time_zone(start, day_zone), date_time_zone(end, day_zone)
        else:
            start_tz = start.tzinfo if isinstance(start, datetime) else None
            ev["start"] = date_time_zone(start)
            ev["end"] = date_time_zone(end if not isinstance(end, datetime) or end.tzinfo or not start_tz
                                       else end.replace(tzinfo=start_tz))
    before = next((a.trigger for a in rec.alarms if isinstance(a.trigger, timedelta) and a.related == "START"), None)
    if isinstance(before, timedelta):
        ev["isReminderOn"] = True
        ev["reminderMinutesBeforeStart"] = max(0, int(-before.total_seconds() // 60))
    if rec.attendees:
        ev["attendees"] = [{"emailAddress": {"address": a.uri.removeprefix("mailto:").removeprefix("MAILTO:"),
                                             "name": a.name or a.uri.removeprefix("mailto:")},
                            "type": "resource" if a.kind in ("RESOURCE", "ROOM") else
                            "optional" if a.role == "OPT-PARTICIPANT" else "required"}
                           for a in rec.attendees if "@" in a.uri]
        lossy.append("attendees' responses (Graph sets them from meeting replies)")
    if rec.organizer is not None:
        lossy.append("the organizer (Graph makes the mailbox's owner organizer of an event it creates)")
    unmapped = [x for x in rec.extra if not free_busy.busy_line(x) and not html_body.is_alt_desc(x)]
    if unmapped:
        lossy.append(f"{len(unmapped)} iCalendar properties without a Graph field")
    return ev


def event_to_graph(rec: EventRecord, day_zone: str | None = None) -> Mapped[dict[str, Any]]:
    """A single event or a series master (its occurrence changes are applied by the writer)."""
    lossy: list[str] = []
    ev = event_fields(rec, lossy, day_zone)
    if rec.rrule is not None and rec.start is not None:
        try:
            ev["recurrence"] = recurrence_to_graph(rec.rrule, rec.start, _all_day(rec), lossy)
        except ValueError as err:
            lossy.append(f"recurrence: {err}; only the first occurrence is kept")
    if rec.rdates:
        lossy.append("extra dates of the series (RDATE)")
    return Mapped(ev, lossy)


def occurrence_day(when: date | datetime, tz: tzinfo | None) -> date:
    """The day an occurrence (RECURRENCE-ID, EXDATE) falls on in the series' zone."""
    if isinstance(when, datetime):
        return (when.astimezone(tz) if when.tzinfo and tz else when).date()
    return when


# -- To Do -------------------------------------------------------------------------------------

_STATUS = {"NEEDS-ACTION": "notStarted", "IN-PROCESS": "inProgress", "COMPLETED": "completed",
           "CANCELLED": "deferred"}


def task_to_graph(rec: TaskRecord) -> Mapped[dict[str, Any]]:
    lossy: list[str] = []
    t: dict[str, Any] = {"title": rec.summary or ""}
    body = html_body.body_of(rec)
    if body is not None and body[0]:
        t["body"] = {"contentType": "html" if body[1] else "text", "content": body[0]}
    if rec.categories:
        t["categories"] = list(rec.categories)
    if rec.priority:
        t["importance"] = _IMPORTANCE.get(rec.priority, "normal")
    status = _STATUS.get(rec.status or "", "completed" if rec.completed else "notStarted")
    for line in rec.extra:
        if line.upper() == "X-MS-TASK-STATUS:WAITINGONOTHERS":
            status = "waitingOnOthers"
        elif line.upper() == "X-MS-TASK-STATUS:DEFERRED":
            status = "deferred"
    t["status"] = status
    for key, value in (("startDateTime", rec.start), ("dueDateTime", rec.due)):
        if value is not None:
            day = value.date() if isinstance(value, datetime) else value
            t[key] = {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "UTC"}
            if isinstance(value, datetime):
                lossy.append(f"the time of {key} (To Do keeps a day)")
    if rec.completed is not None:
        t["completedDateTime"] = {"dateTime": rec.completed.astimezone(UTC).replace(tzinfo=None)
                                  .isoformat(timespec="seconds"), "timeZone": "UTC"}
    alarm = next((a for a in rec.alarms if isinstance(a.trigger, datetime)), None)
    if alarm is not None and isinstance(alarm.trigger, datetime):
        t["isReminderOn"] = True
        t["reminderDateTime"] = date_time_zone(alarm.trigger.astimezone(UTC))
    if rec.rrule is not None:
        anchor = rec.due or rec.start
        if anchor is None:
            lossy.append("the recurrence (a To Do task repeats from its due date, and it has none)")
        else:
            try:
                t["recurrence"] = recurrence_to_graph(rec.rrule, anchor, True)
            except ValueError as err:
                lossy.append(f"recurrence: {err}")
    if rec.attendees or rec.organizer:
        lossy.append("the task's people (To Do has no assignees)")
    return Mapped(t, lossy)


# -- rules -------------------------------------------------------------------------------------

_STRINGS_BACK = _inverse(_STRINGS)
_FLAGS_BACK = _inverse(_FLAGS)
_ADDR_BACK = _inverse(_ADDRESSES_PRED)
_FLAG_ACTIONS_BACK = _inverse(_FLAG_ACTIONS)
_ADDRESS_ACTIONS_BACK = _inverse(_ADDRESS_ACTIONS)
_FOLDER_ACTIONS_BACK = _inverse(_FOLDER_ACTIONS)
_CHOICES_BACK = {name: (key, _inverse(members)) for key, (name, members) in _CHOICES.items()}


def _recipients(addresses: Any) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": str(a)}} for a in addresses or [] if a]


def _predicates(values: dict[str, Any], what: str, lossy: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _STRINGS_BACK:
            out[_STRINGS_BACK[key]] = [str(v) for v in value]
        elif key in _FLAGS_BACK:
            out[_FLAGS_BACK[key]] = bool(value)
        elif key in _ADDR_BACK:
            out[_ADDR_BACK[key]] = _recipients(value)
        elif key in _CHOICES_BACK and value in _CHOICES_BACK[key][1]:
            out[_CHOICES_BACK[key][0]] = _CHOICES_BACK[key][1][value]
        elif key == "within_size_range" and isinstance(value, dict):
            out["withinSizeRange"] = {"minimumSize": int(value.get("minimum_size") or 0),
                                      "maximumSize": int(value.get("maximum_size") or 2**31 - 1)}
        else:
            lossy.append(f"{what} {key}")
    return out


def rule_to_graph(model: RuleModel, folder_id: Callable[[list[str]], str]) -> Mapped[dict[str, Any]]:
    """The rule model as a messageRule; ``folder_id(path)`` finds or makes a folder action's folder."""
    lossy = list(model.lossy)
    actions: dict[str, Any] = {}
    for key, value in model.actions.items():
        if key in _FLAG_ACTIONS_BACK:
            actions[_FLAG_ACTIONS_BACK[key]] = bool(value)
        elif key in _ADDRESS_ACTIONS_BACK:
            actions[_ADDRESS_ACTIONS_BACK[key]] = _recipients(value)
        elif key == "assign_categories":
            actions["assignCategories"] = [str(v) for v in value]
        elif key == "mark_importance" and value in _CHOICES_BACK["importance"][1]:
            actions["markImportance"] = _CHOICES_BACK["importance"][1][value]
        elif key in _FOLDER_ACTIONS_BACK and isinstance(value, list) and value:
            actions[_FOLDER_ACTIONS_BACK[key]] = folder_id([str(v) for v in value])
        else:
            lossy.append(f"the action {key}")
    rule: dict[str, Any] = {"displayName": model.name or "rule", "sequence": max(1, int(model.priority or 1)),
                            "isEnabled": bool(model.enabled), "actions": actions,
                            "conditions": _predicates(model.conditions, "the condition", lossy)}
    exceptions = _predicates(model.exceptions, "the exception", lossy)
    if exceptions:
        rule["exceptions"] = exceptions
    return Mapped(rule, lossy)


# -- automatic replies -------------------------------------------------------------------------

_STATE_BACK = _inverse(_OOF_STATE)
_AUDIENCE_BACK = _inverse(_AUDIENCE)


def auto_reply_to_graph(model: AutoReply, keep_schedule: bool = False) -> dict[str, Any]:
    """automaticRepliesSetting; the schedule goes with a scheduled state (or when putting one back)."""
    out: dict[str, Any] = {"status": _STATE_BACK.get(model.state, "disabled"),
                           "externalAudience": _AUDIENCE_BACK.get(model.external_audience or "All", "all"),
                           "internalReplyMessage": model.internal_reply or "",
                           "externalReplyMessage": model.external_reply or ""}
    if model.start and model.end and (out["status"] == "scheduled" or keep_schedule):
        for key, text in (("scheduledStartDateTime", model.start), ("scheduledEndDateTime", model.end)):
            when = datetime.fromisoformat(text)
            out[key] = date_time_zone(when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC))
    return out


def midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tz)
