"""Graph's JSON items as the neutral records: vCard cards, iCalendar events and tasks, rule and auto-reply models.

The same records the EWS adapter builds from Exchange (``shared/adapters/ews/mapping.py``), so whatever
writes EWS's items writes these: a contact is a :class:`ContactCard`, an event an :class:`EventRecord`
with its exceptions and deleted dates, a To Do task a :class:`TaskRecord`, a message rule a
:class:`RuleModel` in exchangelib's predicate names, the automatic replies an :class:`AutoReply` in EWS's
words. What Graph has and the record cannot hold is listed as lossy, per item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Generic, TypeVar

from shared.formats import free_busy, html_body
from shared.formats.ical import Alarm, Attendee, EventRecord, RecurrenceRule, TaskRecord
from shared.formats.ical_zones import zone_by_name
from shared.formats.month_days import SHORTEST, last_day_rule
from shared.formats.settings import AutoReply, RuleModel
from shared.formats.vcard import Address, ContactCard, TypedValue

T = TypeVar("T")
WEEKDAYS = {"monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
            "saturday": "SA", "sunday": "SU"}
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


@dataclass
class Mapped(Generic[T]):
    value: T
    lossy: list[str] = field(default_factory=list)


# -- times -------------------------------------------------------------------------------------

def zone(name: str | None) -> tzinfo:
    """A Graph time zone name (IANA or Windows) as a zone; UTC when unknown or empty."""
    return (zone_by_name(name) if name else None) or UTC


def parse_instant(value: Mapping[str, Any] | None) -> datetime | None:
    """A dateTimeTimeZone as an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])
    main, _, frac = text.partition(".")
    local = datetime.fromisoformat(main).replace(microsecond=int((frac + "000000")[:6]) if frac else 0)
    return local.replace(tzinfo=zone(str(value.get("timeZone") or "UTC")))


def _local_date(value: Mapping[str, Any] | None) -> date | None:
    """The calendar date a dateTimeTimeZone names (all-day events and To Do dates are floating days)."""
    if not value or not value.get("dateTime"):
        return None
    return date.fromisoformat(str(value["dateTime"])[:10])


def parse_utc(text: str | None) -> datetime | None:
    """An Edm.DateTimeOffset ("2024-03-01T10:00:00Z") as an aware datetime."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- contacts ----------------------------------------------------------------------------------

_ADDRESSES: tuple[tuple[str, list[str]], ...] = (("businessAddress", ["work"]), ("homeAddress", ["home"]),
                                                  ("otherAddress", []))
_EXTRA = (("assistantName", "X-ASSISTANT"), ("manager", "X-MANAGER"), ("spouseName", "X-SPOUSE"),
          ("officeLocation", "X-MS-OFFICE-LOCATION"), ("profession", "ROLE"))


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def contact_from_graph(c: Mapping[str, Any]) -> Mapped[ContactCard]:
    """A Graph contact as a card; the fields vCard has no property for go to ``extra`` as EWS's do."""
    lossy: list[str] = []
    card = ContactCard(formatted_name=c.get("displayName") or "", family_name=c.get("surname") or "",
                       given_name=c.get("givenName") or "", middle_name=c.get("middleName") or "",
                       prefix=c.get("title") or "", suffix=c.get("generation") or "", nickname=c.get("nickName"),
                       organization=c.get("companyName"), department=c.get("department"), title=c.get("jobTitle"))
    if card.department is not None and card.organization is None:
        card.organization = ""
    if c.get("personalNotes"):
        card.note = str(c["personalNotes"])
    card.categories = list(c.get("categories") or [])
    birthday = parse_utc(c.get("birthday"))
    if birthday is not None:
        card.birthday = birthday.date()
    for e in c.get("emailAddresses") or []:
        if e.get("address"):
            card.emails.append(TypedValue(str(e["address"])))
    if c.get("mobilePhone"):
        card.phones.append(TypedValue(str(c["mobilePhone"]), ["cell"]))
    for key, types in (("businessPhones", ["work"]), ("homePhones", ["home"])):
        for number in c.get(key) or []:
            if number:
                card.phones.append(TypedValue(str(number), list(types)))
    for key, types in _ADDRESSES:
        a = c.get(key) or {}
        if any(a.get(k) for k in ("street", "city", "state", "postalCode", "countryOrRegion")):
            card.addresses.append(Address(street=a.get("street") or "", locality=a.get("city") or "",
                                          region=a.get("state") or "", postal_code=a.get("postalCode") or "",
                                          country=a.get("countryOrRegion") or "", types=list(types)))
    if c.get("businessHomePage"):
        card.urls.append(TypedValue(str(c["businessHomePage"])))
    for key, prop in _EXTRA:
        if c.get(key):
            card.extra.append(f"{prop}:{_escaped(str(c[key]))}")
    for im in c.get("imAddresses") or []:
        if im:
            card.extra.append(f"IMPP:{_escaped(str(im))}")
    for key, what in (("children", "children"), ("initials", "initials"), ("yomiGivenName", "phonetic first name"),
                      ("yomiSurname", "phonetic last name"), ("yomiCompanyName", "phonetic company name")):
        if c.get(key):
            lossy.append(f"{what} {c[key]!r}")
    return Mapped(card, lossy)


# -- events ------------------------------------------------------------------------------------

_PARTSTAT = {"accepted": "ACCEPTED", "declined": "DECLINED", "tentativelyAccepted": "TENTATIVE",
             "notResponded": "NEEDS-ACTION", "none": "NEEDS-ACTION", "organizer": "ACCEPTED"}
_ROLE = {"required": ("REQ-PARTICIPANT", None), "optional": ("OPT-PARTICIPANT", None),
         "resource": ("NON-PARTICIPANT", "RESOURCE")}
_SHOW_AS = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "oof": "OOF",
            "workingElsewhere": "WorkingElsewhere", "unknown": "NoData"}
_CLASS = {"private": "PRIVATE", "confidential": "CONFIDENTIAL", "personal": "X-PERSONAL"}
_PRIORITY = {"high": 1, "low": 9}


def recurrence_from_graph(rec: Mapping[str, Any], tz: tzinfo, all_day: bool) -> RecurrenceRule:
    """A patternedRecurrence as an RRULE (as EWS's recurrence becomes one). ValueError for an unknown pattern."""
    p = rec.get("pattern") or {}
    kind, interval = p.get("type"), int(p.get("interval") or 1)
    days = [WEEKDAYS[d] for d in p.get("daysOfWeek") or [] if d in WEEKDAYS]
    ordinal = _INDEX.get(str(p.get("index") or "first"), 1)

    def relative() -> tuple[list[tuple[int | None, str]], list[int]]:
        return ([(ordinal, days[0])], []) if len(days) == 1 else ([(None, d) for d in days], [ordinal])

    if kind == "daily":
        rule = RecurrenceRule("DAILY", interval=interval)
    elif kind == "weekly":
        order = list(WEEKDAYS.values())
        rule = RecurrenceRule("WEEKLY", interval=interval, by_day=[(None, d) for d in sorted(days, key=order.index)])
        first = WEEKDAYS.get(str(p.get("firstDayOfWeek") or "sunday"), "SU")
        if first != "MO":
            rule.week_start = first
    elif kind == "absoluteMonthly":  # day 31 falls on the last day of a shorter month (shared.formats.month_days)
        month_days, set_pos = last_day_rule(int(p.get("dayOfMonth") or 1))
        rule = RecurrenceRule("MONTHLY", interval=interval, by_month_day=month_days, by_set_pos=set_pos)
    elif kind == "relativeMonthly":
        by_day, set_pos = relative()
        rule = RecurrenceRule("MONTHLY", interval=interval, by_day=by_day, by_set_pos=set_pos)
    elif kind == "absoluteYearly":
        month = int(p.get("month") or 1)
        month_days, set_pos = last_day_rule(int(p.get("dayOfMonth") or 1), SHORTEST.get(month, 28))
        rule = RecurrenceRule("YEARLY", interval=interval, by_month_day=month_days, by_set_pos=set_pos,
                              by_month=[month])
    elif kind == "relativeYearly":
        by_day, set_pos = relative()
        rule = RecurrenceRule("YEARLY", interval=interval, by_day=by_day, by_set_pos=set_pos,
                              by_month=[int(p.get("month") or 1)])
    else:
        raise ValueError(f"unknown recurrence pattern {kind!r}")
    r = rec.get("range") or {}
    if r.get("type") == "numbered":
        rule.count = int(r.get("numberOfOccurrences") or 1)
    elif r.get("type") == "endDate" and r.get("endDate"):
        end = date.fromisoformat(str(r["endDate"]))
        rule.until = end if all_day else datetime.combine(end, time(23, 59, 59), tz).astimezone(UTC)
    return rule


_UTC_NAMES = {"tzone://microsoft/utc", "utc", "etc/utc", "gmt"}


def event_zone(ev: Mapping[str, Any], end: bool = False) -> tzinfo:
    """The zone an event's wall clock belongs to: its original zone, else the zone its times are given in.

    Graph names a zone it cannot name otherwise "tzone://Microsoft/Custom" (a custom zone set in desktop
    Outlook): the times' own zone then stands in, UTC when that is all there is."""
    side = "End" if end else "Start"
    names = (ev.get(f"original{side}TimeZone"), (ev.get(side.lower()) or {}).get("timeZone"))
    for name in names:
        known = zone_by_name(str(name)) if name else None
        if known is not None:
            return known
    return UTC


def _unknown_zone(ev: Mapping[str, Any]) -> str | None:
    name = ev.get("originalStartTimeZone")
    if name and str(name).lower() not in _UTC_NAMES and zone_by_name(str(name)) is None:
        return str(name)
    return None


def _is_utc(tz: tzinfo) -> bool:
    return all(tz.utcoffset(datetime(2026, month, 1)) == timedelta(0) for month in (1, 7))


def _event_fields(ev: Mapping[str, Any], lossy: list[str]) -> EventRecord:
    tz = event_zone(ev)
    end_tz = event_zone(ev, end=True)
    rec = EventRecord()
    if ev.get("isAllDay"):
        rec.start, rec.end = _local_date(ev.get("start")), _local_date(ev.get("end"))
    else:
        start, end = parse_instant(ev.get("start")), parse_instant(ev.get("end"))
        rec.start = start.astimezone(tz) if start else None
        rec.end = end.astimezone(end_tz) if end else None
    rec.summary = ev.get("subject")
    body = ev.get("body") or {}
    if body.get("content"):
        html_body.set_body(rec, str(body["content"]), body.get("contentType") == "html")
    location = (ev.get("location") or {}).get("displayName")
    rec.location = location or None
    rec.categories = list(ev.get("categories") or [])
    rec.priority = _PRIORITY.get(str(ev.get("importance") or ""))
    rec.classification = _CLASS.get(str(ev.get("sensitivity") or ""))
    free_busy.to_ical(_SHOW_AS.get(str(ev.get("showAs") or "")), rec)
    if ev.get("isReminderOn") and ev.get("reminderMinutesBeforeStart") is not None:
        rec.alarms.append(Alarm("DISPLAY", -timedelta(minutes=int(ev["reminderMinutesBeforeStart"]))))
    for a in ev.get("attendees") or []:
        email = (a.get("emailAddress") or {})
        if not email.get("address"):
            lossy.append(f"attendee {email.get('name') or '(no name)'!r} has no e-mail address")
            continue
        role, kind = _ROLE.get(str(a.get("type") or "required"), ("REQ-PARTICIPANT", None))
        rec.attendees.append(Attendee(uri=f"mailto:{email['address']}", name=email.get("name"), role=role,
                                      status=_PARTSTAT.get(str((a.get("status") or {}).get("response") or "")),
                                      kind=kind))
    org = (ev.get("organizer") or {}).get("emailAddress") or {}
    if org.get("address"):
        rec.organizer = Attendee(uri=f"mailto:{org['address']}", name=org.get("name"))
    return rec


def _original(ev: Mapping[str, Any], tz: tzinfo, all_day: bool) -> date | datetime | None:
    start = parse_utc(ev.get("originalStart")) or parse_instant(ev.get("start"))
    if start is None:
        return None
    if all_day:
        return _local_date(ev.get("start")) if not ev.get("originalStart") else start.astimezone(tz).date()
    return start.astimezone(tz)


def event_from_graph(ev: Mapping[str, Any]) -> Mapped[EventRecord]:
    """A single event or a series master (with ``exceptionOccurrences`` expanded) as one record: its
    modified occurrences as exceptions, its cancelled ones as EXDATEs."""
    lossy: list[str] = []
    rec = _event_fields(ev, lossy)
    rec.uid = ev.get("iCalUId")
    all_day = bool(ev.get("isAllDay"))
    tz = event_zone(ev)
    if ev.get("recurrence") and not all_day and _unknown_zone(ev) and _is_utc(tz):
        lossy.append(f"time zone {_unknown_zone(ev)!r} has no name Microsoft 365 gives: the series is kept in UTC "
                     "and its occurrences may move by an hour where daylight-saving time changes")
    if ev.get("recurrence"):
        try:
            rec.rrule = recurrence_from_graph(ev["recurrence"], tz, all_day)
        except ValueError as err:
            lossy.append(f"recurrence: {err}; only the first occurrence is kept")
        first = rec.start
        for oid in ev.get("cancelledOccurrences") or []:
            day = date.fromisoformat(str(oid).rsplit(".", 1)[-1])
            if all_day or not isinstance(first, datetime):
                rec.exdates.append(day)
            else:
                rec.exdates.append(datetime.combine(day, first.timetz()))
        for occ in ev.get("exceptionOccurrences") or []:
            exc = _event_fields(occ, lossy)
            exc.uid = rec.uid
            exc.organizer = None if exc.organizer == rec.organizer else exc.organizer
            exc.recurrence_id = _original(occ, tz, all_day)
            rec.exceptions.append(exc)
    return Mapped(rec, lossy)


# -- To Do tasks -------------------------------------------------------------------------------

_TASK_STATUS = {"notStarted": "NEEDS-ACTION", "inProgress": "IN-PROCESS", "completed": "COMPLETED",
                "waitingOnOthers": "IN-PROCESS", "deferred": "CANCELLED"}


def _task_day(value: Mapping[str, Any] | None, mailbox_zone: tzinfo) -> date | None:
    """A To Do date. Microsoft 365 keeps it as the midnight that starts the day in the mailbox's zone and
    answers that instant in UTC ("2023-04-14T22:00:00.0000000" for 15 April at UTC+2; Microsoft's own
    sample has 04:00 UTC, a day in a mailbox west of UTC): the day is the instant's date in that zone."""
    instant = parse_instant(value)
    return None if instant is None else instant.astimezone(mailbox_zone).date()


def task_from_graph(t: Mapping[str, Any], mailbox_zone: tzinfo = UTC) -> Mapped[TaskRecord]:
    """A To Do task as a VTODO record, its states in EWS's words (waiting and deferred kept as a note line).
    ``mailbox_zone``: the mailbox's zone (mailboxSettings), in which its dates are days."""
    lossy: list[str] = []
    rec = TaskRecord(summary=t.get("title"))
    body = t.get("body") or {}
    if body.get("content"):
        html_body.set_body(rec, str(body["content"]), body.get("contentType") == "html")
    rec.categories = list(t.get("categories") or [])
    rec.priority = _PRIORITY.get(str(t.get("importance") or ""))
    rec.start = _task_day(t.get("startDateTime"), mailbox_zone)
    rec.due = _task_day(t.get("dueDateTime"), mailbox_zone)
    status = str(t.get("status") or "")
    rec.status = _TASK_STATUS.get(status)
    if status == "waitingOnOthers":
        rec.extra.append("X-MS-TASK-STATUS:WaitingOnOthers")
    elif status == "deferred":
        rec.extra.append("X-MS-TASK-STATUS:Deferred")
    if status == "completed":
        rec.percent_complete = 100
        done = parse_instant(t.get("completedDateTime"))
        if done is not None:
            rec.completed = done.astimezone(UTC)
    if t.get("isReminderOn") and t.get("reminderDateTime"):
        when = parse_instant(t["reminderDateTime"])
        if when is not None:
            rec.alarms.append(Alarm("DISPLAY", when.astimezone(UTC)))
    if t.get("recurrence"):
        try:
            rec.rrule = recurrence_from_graph(t["recurrence"], UTC, True)
        except ValueError as err:
            lossy.append(f"task recurrence: {err}")
    return Mapped(rec, lossy)


# -- rules ------------------------------------------------------------------------------------

_STRINGS = {"bodyContains": "contains_body_strings", "bodyOrSubjectContains": "contains_subject_or_body_strings",
            "categories": "categories", "headerContains": "contains_header_strings",
            "recipientContains": "contains_recipient_strings", "senderContains": "contains_sender_strings",
            "subjectContains": "contains_subject_strings"}
_FLAGS = {"hasAttachments": "has_attachments", "isApprovalRequest": "is_approval_request",
          "isAutomaticForward": "is_automatic_forward", "isAutomaticReply": "is_automatic_reply",
          "isEncrypted": "is_encrypted", "isMeetingRequest": "is_meeting_request",
          "isMeetingResponse": "is_meeting_response", "isNonDeliveryReport": "is_ndr",
          "isPermissionControlled": "is_permission_controlled", "isReadReceipt": "is_read_receipt",
          "isSigned": "is_signed", "isVoicemail": "is_voicemail", "notSentToMe": "not_sent_to_me",
          "sentCcMe": "sent_cc_me", "sentOnlyToMe": "sent_only_to_me", "sentToMe": "sent_to_me",
          "sentToOrCcMe": "sent_to_or_cc_me"}
_ADDRESSES_PRED = {"fromAddresses": "from_addresses", "sentToAddresses": "sent_to_addresses"}
# Graph's enum members as EWS's (exchangelib's) choices.
_CHOICES = {
    "importance": ("importance", {"low": "Low", "normal": "Normal", "high": "High"}),
    "sensitivity": ("sensitivity", {"normal": "Normal", "personal": "Personal", "private": "Private",
                                    "confidential": "Confidential"}),
    "messageActionFlag": ("flagged_for_action", {"any": "Any", "call": "Call", "doNotForward": "DoNotForward",
                                                 "followUp": "FollowUp", "fyi": "FYI", "forward": "Forward",
                                                 "noResponseNecessary": "NoResponseNecessary", "read": "Read",
                                                 "reply": "Reply", "replyToAll": "ReplyToAll", "review": "Review"}),
}
_FLAG_ACTIONS = {"delete": "delete", "markAsRead": "mark_as_read", "permanentDelete": "permanent_delete",
                 "stopProcessingRules": "stop_processing_rules"}
_ADDRESS_ACTIONS = {"forwardTo": "forward_to_recipients",
                    "forwardAsAttachmentTo": "forward_as_attachment_to_recipients",
                    "redirectTo": "redirect_to_recipients"}
_FOLDER_ACTIONS = {"moveToFolder": "move_to_folder", "copyToFolder": "copy_to_folder"}


def _recipients(values: Any) -> list[str]:
    return [str(r["emailAddress"]["address"]) for r in values or []
            if (r.get("emailAddress") or {}).get("address")]


def _predicates(pred: Mapping[str, Any] | None, what: str, lossy: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (pred or {}).items():
        if value in (None, [], ""):
            continue
        if key in _STRINGS:
            out[_STRINGS[key]] = list(value)
        elif key in _FLAGS:
            out[_FLAGS[key]] = bool(value)
        elif key in _ADDRESSES_PRED:
            out[_ADDRESSES_PRED[key]] = _recipients(value)
        elif key in _CHOICES:
            name, members = _CHOICES[key]
            if value in members:
                out[name] = members[value]
            else:
                lossy.append(f"{what} {key}={value!r}")
        elif key == "withinSizeRange":
            out["within_size_range"] = {"minimum_size": value.get("minimumSize"),
                                        "maximum_size": value.get("maximumSize")}
        else:
            lossy.append(f"{what} {key}")
    return out


def rule_from_graph(r: Mapping[str, Any], folder_path: Callable[[str | None], list[str] | None]) -> RuleModel:
    """A messageRule as the rule model; ``folder_path(folder_id)`` gives a folder action's neutral path."""
    model = RuleModel(name=str(r.get("displayName") or ""), priority=int(r.get("sequence") or 1),
                      enabled=bool(r.get("isEnabled")))
    model.conditions = _predicates(r.get("conditions"), "a condition", model.lossy)
    model.exceptions = _predicates(r.get("exceptions"), "an exception", model.lossy)
    for key, value in (r.get("actions") or {}).items():
        if value in (None, [], ""):
            continue
        if key in _FLAG_ACTIONS:
            model.actions[_FLAG_ACTIONS[key]] = bool(value)
        elif key in _ADDRESS_ACTIONS:
            model.actions[_ADDRESS_ACTIONS[key]] = _recipients(value)
        elif key == "assignCategories":
            model.actions["assign_categories"] = list(value)
        elif key == "markImportance":
            model.actions["mark_importance"] = _CHOICES["importance"][1].get(str(value), "Normal")
        elif key in _FOLDER_ACTIONS:
            path = folder_path(str(value))
            if path:
                model.actions[_FOLDER_ACTIONS[key]] = path
            else:
                model.lossy.append(f"{_FOLDER_ACTIONS[key]}: the folder could not be identified")
        else:
            model.lossy.append(f"the action {key} is not migrated")
    return model


# -- automatic replies -------------------------------------------------------------------------

_OOF_STATE = {"disabled": "Disabled", "alwaysEnabled": "Enabled", "scheduled": "Scheduled"}
_AUDIENCE = {"none": "None", "contactsOnly": "Known", "all": "All"}


def auto_reply_from_graph(s: Mapping[str, Any]) -> AutoReply:
    """automaticRepliesSetting as the auto-reply model (EWS's state and audience words)."""
    start, end = parse_instant(s.get("scheduledStartDateTime")), parse_instant(s.get("scheduledEndDateTime"))
    return AutoReply(state=_OOF_STATE.get(str(s.get("status") or "disabled"), "Disabled"),
                     external_audience=_AUDIENCE.get(str(s.get("externalAudience") or "all"), "All"),
                     start=start.astimezone(UTC).isoformat() if start else None,
                     end=end.astimezone(UTC).isoformat() if end else None,
                     internal_reply=s.get("internalReplyMessage") or "",
                     external_reply=s.get("externalReplyMessage") or "")
