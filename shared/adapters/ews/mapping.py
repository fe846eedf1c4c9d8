"""Neutral records <-> exchangelib items (Contact, DistributionList, CalendarItem, Task).

Every converter returns the converted value together with ``lossy``: human-readable notes on what the
other side cannot hold, so callers can report it per item. The converters are pure (no server calls),
except :func:`apply_occurrence_changes`, which is the documented way to apply a recurring event's
modified and deleted occurrences after its master has been saved (Exchange cannot take them on create).

Exchange field notes: contact photos are FileAttachments with ``is_contact_photo``; an all-day item's
``end`` in exchangelib is the last day (inclusive) while iCalendar's DTEND is exclusive; ``organizer`` of a
calendar item and ``complete_date`` of a task are read-only in EWS.
"""

from __future__ import annotations

import base64
import calendar as pycal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem, Contact, DistributionList, EWSDate, EWSDateTime, EWSTimeZone, Task
from exchangelib.attachments import FileAttachment
from exchangelib.errors import UnknownTimeZone
from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import HTMLBody, Mailbox, Member
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    TaskRecurrence,
    WeeklyPattern,
)

from shared.adapters.ews import zones as _zones  # noqa: F401 - calendar zones given by their definition are read
from shared.adapters.ews.item_files import attach_to_ews, attached_items
from shared.formats import FormatError, free_busy, html_body, item_attachments, parse_line
from shared.formats.ical import (
    WEEKDAYS,
    Alarm,
    Attendee,
    DateOrDateTime,
    EventRecord,
    RecurrenceRule,
    TaskRecord,
    UnresolvedZone,
    VTimezone,
    zone_by_name,
)
from shared.formats.month_days import SHORTEST, exchange_day, last_day_rule
from shared.formats.vcard import Address, ContactCard, TypedValue, unescape

__all__ = [
    "ContactGroup",
    "EventMapping",
    "Mapped",
    "apply_occurrence_changes",
    "contact_from_ews",
    "contact_to_ews",
    "event_from_ews",
    "event_to_ews",
    "group_from_ews",
    "group_to_ews",
    "occurrence_index",
    "recurrence_from_ews",
    "recurrence_to_ews",
    "task_from_ews",
    "task_to_ews",
]

T = TypeVar("T")


@dataclass
class Mapped(Generic[T]):
    """A converted value and what could not be carried over."""

    value: T
    lossy: list[str] = field(default_factory=list)


@dataclass
class ContactGroup:
    """A contact group (Exchange distribution list): its name and its members as (name, e-mail)."""

    display_name: str
    members: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class EventMapping:
    """An event for Exchange: the master item, and what to apply once it is saved.

    ``modified_occurrences``: (original start, {exchangelib field name: value}) per overridden occurrence;
    ``deleted_occurrences``: original starts of removed occurrences (EXDATE, cancelled overrides).
    Apply both with :func:`apply_occurrence_changes`.
    """

    item: Any  # exchangelib CalendarItem
    modified_occurrences: list[tuple[DateOrDateTime, dict[str, Any]]] = field(default_factory=list)
    deleted_occurrences: list[DateOrDateTime] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)


def _extra_names(lines: Sequence[str]) -> list[str]:
    names: list[str] = []
    for line in lines:
        head = line.split(":", 1)[0].split(";", 1)[0]
        name = head.rsplit(".", 1)[-1].upper()
        if line.upper().startswith("BEGIN:"):
            name = line.split(":", 1)[1].strip().upper()
        elif line.upper().startswith("END:"):
            continue
        if name and name not in names:
            names.append(name)
    return names


# -- time zones -----------------------------------------------------------------------


def _ews_tz(tz: tzinfo | None, default_tz: EWSTimeZone, lossy: list[str], what: str) -> EWSTimeZone:
    if tz is None:
        lossy.append(f"{what}: floating time, interpreted in {default_tz.key}")
        return default_tz
    if tz is UTC:
        return EWSTimeZone("UTC")
    key: str | None = None
    if isinstance(tz, ZoneInfo):
        key = tz.key
    elif isinstance(tz, VTimezone):
        key = tz.iana
        if key is None:
            lossy.append(f"{what}: custom time zone {tz.tzid!r} matches no known zone, interpreted in UTC")
            return EWSTimeZone("UTC")
    elif isinstance(tz, UnresolvedZone):
        lossy.append(f"{what}: unknown time zone {tz.tzid!r}, interpreted in {default_tz.key}")
        return default_tz
    if key is not None:
        try:
            return EWSTimeZone(key)
        except UnknownTimeZone:
            lossy.append(f"{what}: time zone {key!r} has no Exchange equivalent; converted to UTC")
    return EWSTimeZone("UTC")


def _to_ews_dt(value: datetime, default_tz: EWSTimeZone, lossy: list[str], what: str) -> EWSDateTime:
    tz = value.tzinfo
    ews_tz = _ews_tz(tz, default_tz, lossy, what)
    foreign = not isinstance(tz, VTimezone | UnresolvedZone | ZoneInfo)
    if tz is not None and tz is not UTC and value.utcoffset() is not None and (foreign or ews_tz.key == "UTC"):
        value = value.astimezone(UTC)
    return EWSDateTime(value.year, value.month, value.day, value.hour, value.minute, value.second, tzinfo=ews_tz)


def _plain_zone(tz: tzinfo | None) -> tzinfo:
    key = getattr(tz, "key", None)
    if not key or key == "UTC":
        return UTC
    return ZoneInfo(str(key))


def _from_ews_dt(value: datetime | None, tz: tzinfo) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        local = value.replace(tzinfo=tz)
    else:  # a plain datetime first: EWSDateTime.astimezone takes only EWSTimeZone (a task's UTC reminder)
        local = datetime.fromtimestamp(value.timestamp(), UTC).astimezone(tz)
    return datetime(local.year, local.month, local.day, local.hour, local.minute, local.second, tzinfo=tz)


def _as_date(value: DateOrDateTime) -> date:
    return value.date() if isinstance(value, datetime) else value


def attachment_notes(item: Any) -> list[str]:
    """The item's attachments the neutral formats do not carry: attached items (its files travel,
    :mod:`shared.adapters.ews.item_files`)."""
    return attached_items(item)


def _with_files(item: Any, lines: list[str], lossy: list[str]) -> list[str]:
    """The attachments among a record's kept lines attached to the unsaved item; returns the other lines."""
    files, rest = item_attachments.split(lines)
    lossy.extend(attach_to_ews(item, files))
    return rest


def smtp_address(mbx: Any, lossy: list[str], what: str) -> str | None:
    """The mailbox's SMTP address, or None. Exchange answers with an X.500 address (RoutingType EX,
    "/O=EXCHANGELABS/OU=.../CN=...") for a person its directory no longer resolves: that is no e-mail
    address, and is reported rather than written as one."""
    address = (getattr(mbx, "email_address", None) or "").strip()
    routing = (getattr(mbx, "routing_type", None) or "SMTP").upper()
    if not address:
        if mbx is not None and what != "member":  # a member without one is reported by its group's reader
            lossy.append(f"{what} {getattr(mbx, 'name', None) or '(no name)'!r} has no e-mail address")
        return None
    if routing != "SMTP" or address.startswith("/") or "@" not in address:
        name = getattr(mbx, "name", None)
        lossy.append(f"{what} {name or address!r}: Exchange gives only its {routing} address {address!r}, "
                     "no e-mail address")
        return None
    return address


# -- contacts ---------------------------------------------------------------------------

_PHONE_TYPES: dict[str, list[str]] = {
    "BusinessPhone": ["work"],
    "BusinessPhone2": ["work"],
    "HomePhone": ["home"],
    "HomePhone2": ["home"],
    "MobilePhone": ["cell"],
    "BusinessFax": ["work", "fax"],
    "HomeFax": ["home", "fax"],
    "OtherFax": ["fax"],
    "Pager": ["pager"],
    "CarPhone": ["car"],
    "Isdn": ["isdn"],
    "TtyTddPhone": ["textphone"],
    "AssistantPhone": ["x-assistant"],
    "Callback": ["x-callback"],
    "CompanyMainPhone": ["work", "x-main"],
    "RadioPhone": ["x-radio"],
    "Telex": ["x-telex"],
    "OtherTelephone": [],
    "PrimaryPhone": [],
}
_NEUTRAL_TYPES = {"voice", "internet", "pref", "x400"}


def _phone_labels(tv: TypedValue) -> list[str]:
    t = set(tv.types)
    if "fax" in t:
        return ["BusinessFax"] if "work" in t else ["HomeFax"] if "home" in t else ["OtherFax"]
    for key, labels in (
        ("cell", ["MobilePhone"]),
        ("mobile", ["MobilePhone"]),
        ("iphone", ["MobilePhone"]),
        ("pager", ["Pager"]),
        ("car", ["CarPhone"]),
        ("isdn", ["Isdn"]),
        ("textphone", ["TtyTddPhone"]),
        ("x-assistant", ["AssistantPhone"]),
        ("x-callback", ["Callback"]),
        ("x-main", ["CompanyMainPhone"]),
        ("x-radio", ["RadioPhone"]),
        ("x-telex", ["Telex"]),
        ("work", ["BusinessPhone", "BusinessPhone2"]),
        ("home", ["HomePhone", "HomePhone2"]),
    ):
        if key in t:
            return labels
    return ["PrimaryPhone", "OtherTelephone"] if tv.pref == 1 else ["OtherTelephone", "PrimaryPhone"]


def _address_label(adr: Address) -> str:
    t = set(adr.types)
    return "Business" if "work" in t else "Home" if "home" in t else "Other"


def contact_to_ews(card: ContactCard, account: Any = None, folder: Any = None) -> Mapped[Any]:
    """ContactCard -> exchangelib Contact (not saved). The photo becomes a contact-photo attachment."""
    lossy: list[str] = []
    kwargs: dict[str, Any] = {"account": account, "folder": folder} if account is not None else {}
    contact = Contact(**kwargs)
    contact.display_name = card.formatted_name or card.display_name
    contact.given_name = card.given_name or None
    contact.surname = card.family_name or None
    contact.middle_name = card.middle_name or None
    contact.generation = card.suffix or None
    contact.nickname = card.nickname
    if card.prefix:
        lossy.append(f"name prefix {card.prefix!r} (Exchange's Title is read-only)")
    contact.company_name = card.organization or None
    contact.department = card.department
    if card.org_units:
        lossy.append(f"further organisation units {card.org_units!r}")
    contact.job_title = card.title
    html = html_body.html_of(card.extra)
    if html is not None:
        contact.body = HTMLBody(html)
    elif card.note is not None:
        contact.body = card.note
    contact.categories = list(card.categories) or None
    for attr, value, what in (
        ("birthday", card.birthday, "birthday"),
        ("wedding_anniversary", card.anniversary, "anniversary"),
    ):
        if isinstance(value, date):
            setattr(contact, attr, EWSDate(value.year, value.month, value.day))
        elif value is not None:
            lossy.append(f"{what} {value!r} is not a full date")
    emails = sorted(card.emails, key=lambda e: e.pref if e.pref is not None else 100)
    contact.email_addresses = [
        EmailAddress(email=e.value, label=label) for e, label in zip(emails, EmailAddress.LABEL_CHOICES, strict=False)
    ] or None
    for e in emails[3:]:
        lossy.append(f"e-mail {e.value} (Exchange keeps 3 addresses)")
    if any(set(e.types) - _NEUTRAL_TYPES for e in emails[:3]):
        lossy.append("e-mail address types (Exchange has none)")
    phones: dict[str, str] = {}
    for tv in sorted(card.phones, key=lambda p: p.pref if p.pref is not None else 100):
        label = next((lb for lb in _phone_labels(tv) if lb not in phones), None)
        if label is None:
            label = next((lb for lb in ("OtherTelephone", "PrimaryPhone", "Callback") if lb not in phones), None)
            if label is not None:
                lossy.append(f"phone {tv.value} types {tv.types} stored as {label}")
        if label is None:
            lossy.append(f"phone {tv.value} (no free Exchange phone slot)")
            continue
        phones[label] = tv.value
    contact.phone_numbers = [PhoneNumber(label=k, phone_number=v) for k, v in phones.items()] or None
    addresses: dict[str, PhysicalAddress] = {}
    for adr in sorted(card.addresses, key=lambda a: a.pref if a.pref is not None else 100):
        label = _address_label(adr)
        if label in addresses:
            lossy.append(f"second {label.lower()} address {adr.street!r}, {adr.locality!r}")
            continue
        if adr.po_box or adr.extended:
            lossy.append(f"address PO box / extended part {adr.po_box!r} {adr.extended!r}")
        addresses[label] = PhysicalAddress(
            label=label,
            street=adr.street or None,
            city=adr.locality or None,
            state=adr.region or None,
            zipcode=adr.postal_code or None,
            country=adr.country or None,
        )
        if adr.pref is not None and contact.postal_address_index in (None, "None"):
            contact.postal_address_index = label
    contact.physical_addresses = list(addresses.values()) or None
    if card.urls:
        contact.business_homepage = card.urls[0].value
        lossy.extend(f"URL {u.value}" for u in card.urls[1:])
    if card.photo is not None:
        media = card.photo_type or "image/jpeg"
        ext = media.split("/", 1)[-1].lower().replace("jpeg", "jpg")
        contact.attach(
            FileAttachment(
                name=f"ContactPicture.{ext}",
                content=base64.b64decode(card.photo),
                content_type=media,
                is_contact_photo=True,
            )
        )
    if card.photo_uri is not None:
        lossy.append(f"photo by reference {card.photo_uri}")
    if card.uid is not None:
        lossy.append("UID (Exchange assigns its own item id)")
    rest = _contact_extras(_with_files(contact, card.extra, lossy), contact, lossy)
    extra = _extra_names([x for x in rest if not x.upper().startswith(("PRODID", "REV"))])
    if extra:
        lossy.append("properties without Exchange field: " + ", ".join(extra))
    return Mapped(contact, lossy)


# vCard properties with no ContactCard field that Exchange has a field for (names other writers use, too).
_EXTRA_FIELDS = {
    "X-ASSISTANT": "assistant_name", "X-MS-ASSISTANT": "assistant_name", "X-EVOLUTION-ASSISTANT": "assistant_name",
    "X-MANAGER": "manager", "X-MS-MANAGER": "manager", "X-EVOLUTION-MANAGER": "manager",
    "X-SPOUSE": "spouse_name", "X-MS-SPOUSE": "spouse_name", "X-EVOLUTION-SPOUSE": "spouse_name",
    "X-MS-OFFICE-LOCATION": "office", "ROLE": "profession",
}


def _contact_extras(lines: Sequence[str], contact: Any, lossy: list[str]) -> list[str]:
    """Set the Exchange fields that ``lines`` (a card's extra properties) hold; returns the lines left."""
    rest: list[str] = []
    ims: list[str] = []
    for line in lines:
        try:
            parsed = parse_line(line, allow_group=True)
        except FormatError:
            rest.append(line)
            continue
        attr = _EXTRA_FIELDS.get(parsed.name)
        if attr is not None and getattr(contact, attr, None) is None:
            setattr(contact, attr, unescape(parsed.value) or None)
        elif html_body.is_alt_desc(line):
            continue  # the notes' HTML, set as the body
        elif parsed.name in ("IMPP", "X-MS-IMADDRESS"):
            ims.append(unescape(parsed.value))
        else:
            rest.append(line)
    labels = ImAddress.LABEL_CHOICES
    contact.im_addresses = [ImAddress(label=label, im_address=v) for label, v in zip(labels, ims, strict=False)] or None
    lossy.extend(f"IM address {v} (Exchange keeps 3)" for v in ims[len(labels):])
    return rest


def contact_from_ews(contact: Any) -> Mapped[ContactCard]:
    """exchangelib Contact -> ContactCard. Fields vCard has no standard property for go to ``extra``."""
    lossy: list[str] = []
    card = ContactCard(
        formatted_name=contact.display_name or "",
        family_name=contact.surname or "",
        given_name=contact.given_name or "",
        middle_name=contact.middle_name or "",
        suffix=contact.generation or "",
        nickname=contact.nickname,
        organization=contact.company_name,
        department=contact.department,
        title=contact.job_title,
    )
    if card.department is not None and card.organization is None:
        card.organization = ""
    if isinstance(contact.body, HTMLBody):  # the text as NOTE, the HTML beside it (as events carry it)
        card.note = html_body.html_to_text(str(contact.body)) or None
        card.extra.append(html_body.html_line(str(contact.body)))
    elif contact.body is not None:
        card.note = str(contact.body)
    card.categories = list(contact.categories or [])
    if contact.birthday is not None:
        card.birthday = date(contact.birthday.year, contact.birthday.month, contact.birthday.day)
    if contact.wedding_anniversary is not None:
        wa = contact.wedding_anniversary
        card.anniversary = date(wa.year, wa.month, wa.day)
    for e in sorted(contact.email_addresses or [], key=lambda e: e.label or ""):
        card.emails.append(TypedValue(e.email))
    order = list(_PHONE_TYPES)
    for p in sorted(contact.phone_numbers or [], key=lambda p: order.index(p.label) if p.label in order else 99):
        if not p.phone_number:
            continue
        card.phones.append(
            TypedValue(p.phone_number, list(_PHONE_TYPES.get(p.label, [])), 1 if p.label == "PrimaryPhone" else None)
        )
    for a in sorted(contact.physical_addresses or [], key=lambda a: ("Business", "Home", "Other").index(a.label)):
        types = {"Business": ["work"], "Home": ["home"]}.get(a.label, [])
        card.addresses.append(
            Address(
                street=a.street or "",
                locality=a.city or "",
                region=a.state or "",
                postal_code=a.zipcode or "",
                country=a.country or "",
                types=list(types),
                pref=1 if contact.postal_address_index == a.label else None,
            )
        )
    if contact.business_homepage:
        card.urls.append(TypedValue(contact.business_homepage))
    for att in contact.attachments or []:
        if isinstance(att, FileAttachment) and att.is_contact_photo and card.photo is None:
            card.photo = base64.b64encode(att.content).decode("ascii")
            card.photo_type = att.content_type or "image/jpeg"
    lossy.extend(attachment_notes(contact))
    for attr, prop in (
        ("assistant_name", "X-ASSISTANT"),
        ("manager", "X-MANAGER"),
        ("spouse_name", "X-SPOUSE"),
        ("office", "X-MS-OFFICE-LOCATION"),
        ("profession", "ROLE"),
    ):
        value = getattr(contact, attr, None)
        if value:
            card.extra.append(f"{prop}:" + str(value).replace("\\", "\\\\").replace("\n", "\\n"))
    for im in contact.im_addresses or []:
        if im.im_address:
            card.extra.append(f"IMPP:{im.im_address}")
    for attr in ("children", "companies", "mileage", "initials", "phonetic_full_name", "phonetic_first_name",
                 "phonetic_last_name"):  # file_as is not listed: Exchange computes it from the name again
        value = getattr(contact, attr, None)
        if value:
            lossy.append(f"{attr.replace('_', ' ')} {value!r}")
    return Mapped(card, lossy)


# -- contact groups ---------------------------------------------------------------------


def group_to_ews(group: ContactGroup, account: Any = None, folder: Any = None) -> Mapped[Any]:
    lossy: list[str] = []
    kwargs: dict[str, Any] = {"account": account, "folder": folder} if account is not None else {}
    members = []
    for name, email in group.members:
        if not email:
            lossy.append(f"member {name!r} without e-mail address")
            continue
        members.append(Member(mailbox=Mailbox(name=name or None, email_address=email, routing_type="SMTP")))
    return Mapped(DistributionList(display_name=group.display_name, members=members or None, **kwargs), lossy)


def group_from_ews(dl: Any) -> Mapped[ContactGroup]:
    lossy: list[str] = []
    group = ContactGroup(display_name=dl.display_name or "")
    for m in dl.members or []:
        mbx = m.mailbox
        if mbx is None or not mbx.email_address:
            lossy.append(f"member {getattr(mbx, 'name', None)!r} has no e-mail address (store reference only)")
            continue
        address = smtp_address(mbx, lossy, "member")
        if address is not None:
            group.members.append((mbx.name or "", address))
    return Mapped(group, lossy)


# -- recurrence -------------------------------------------------------------------------

_WEEK_NUMBERS = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5}  # ordinal -> exchangelib week_number (5 = Last)
_WEEKDAY_GROUPS = {
    frozenset(WEEKDAYS): 8,  # Day
    frozenset(WEEKDAYS[:5]): 9,  # Weekday
    frozenset(WEEKDAYS[5:]): 10,  # WeekendDay
}


def _relative(rule: RecurrenceRule, lossy: list[str]) -> tuple[int, int] | None:
    """(weekday 1..10, week_number 1..5) for BYDAY=2TU / -1FR / MO,TU,..;BYSETPOS=n, else None."""
    if len(rule.by_day) == 1 and rule.by_day[0][0] is not None and not rule.by_set_pos:
        ordinal, wd = rule.by_day[0]
        if ordinal not in _WEEK_NUMBERS:
            return None
        return WEEKDAYS.index(wd) + 1, _WEEK_NUMBERS[ordinal]
    if len(rule.by_set_pos) == 1 and rule.by_day and all(o is None for o, _ in rule.by_day):
        days = frozenset(d for _, d in rule.by_day)
        pos = rule.by_set_pos[0]
        if pos not in _WEEK_NUMBERS:
            return None
        if len(days) == 1:
            return WEEKDAYS.index(next(iter(days))) + 1, _WEEK_NUMBERS[pos]
        if days in _WEEKDAY_GROUPS:
            return _WEEKDAY_GROUPS[days], _WEEK_NUMBERS[pos]
    if rule.by_month_day == [-1] and not rule.by_day:
        return 8, 5  # last day of the month
    return None


def recurrence_to_ews(rule: RecurrenceRule, start: DateOrDateTime, task: bool = False) -> tuple[Any | None, list[str]]:
    """An RRULE as an exchangelib Recurrence (or TaskRecurrence), or None with the reason in lossy."""
    lossy: list[str] = []
    first = _as_date(start)
    interval = rule.interval
    unsupported = [k for k in rule.other]
    if unsupported:
        return None, [f"RRULE parts {', '.join(unsupported)} have no Exchange equivalent"]
    pattern: Any = None
    by_days_plain = [d for o, d in rule.by_day if o is None]
    if rule.freq == "DAILY":
        if not rule.by_day and not rule.by_month_day and not rule.by_month and not rule.by_set_pos:
            pattern = DailyPattern(interval=interval) if interval <= 999 else None
        elif interval == 1 and by_days_plain and len(by_days_plain) == len(rule.by_day) and not rule.by_set_pos:
            pattern = WeeklyPattern(interval=1, weekdays=[WEEKDAYS.index(d) + 1 for d in by_days_plain])
    elif rule.freq == "WEEKLY":
        if not rule.by_month_day and not rule.by_month and not rule.by_set_pos and interval <= 99:
            days = by_days_plain if rule.by_day else [WEEKDAYS[first.weekday()]]
            if len(days) == len(rule.by_day) or not rule.by_day:
                pattern = WeeklyPattern(
                    interval=interval,
                    weekdays=sorted({WEEKDAYS.index(d) + 1 for d in days}),
                    first_day_of_week=WEEKDAYS.index(rule.week_start or "MO") + 1,
                )
    elif rule.freq in ("MONTHLY", "YEARLY"):
        months = interval if rule.freq == "MONTHLY" else interval * 12
        month = rule.by_month[0] if len(rule.by_month) == 1 else first.month if not rule.by_month else None
        relative = _relative(rule, lossy) if (rule.by_day or rule.by_month_day == [-1]) else None
        shortest = SHORTEST[month] if rule.freq == "YEARLY" and month is not None else 28
        plain_day = None if relative is not None else exchange_day(rule, first.day, shortest, lossy)
        if (
            (rule.freq == "MONTHLY" and rule.by_month)
            or month is None
            or (months > 99 and not (rule.freq == "YEARLY" and interval == 1))
        ):
            pattern = None
        elif rule.freq == "YEARLY" and interval == 1:
            if relative is not None:
                pattern = RelativeYearlyPattern(weekday=relative[0], week_number=relative[1], month=month)
            elif plain_day is not None:
                pattern = AbsoluteYearlyPattern(day_of_month=plain_day, month=month)
        elif rule.freq == "YEARLY" and month != first.month:
            pattern = None
        elif relative is not None:
            pattern = RelativeMonthlyPattern(interval=months, weekday=relative[0], week_number=relative[1])
        elif plain_day is not None:
            pattern = AbsoluteMonthlyPattern(interval=months, day_of_month=plain_day)
    if pattern is None:
        return None, [f"RRULE {_rule_text(rule)} has no Exchange recurrence pattern"]
    boundary: Any
    if rule.count is not None:
        if rule.count > 999:
            lossy.append(f"RRULE COUNT={rule.count} capped at 999 occurrences")
        boundary = NumberedPattern(start=EWSDate.from_date(first), number=min(rule.count, 999))
    elif rule.until is not None:
        until = rule.until
        if isinstance(until, datetime) and isinstance(start, datetime) and start.tzinfo and until.tzinfo:
            until = until.astimezone(start.tzinfo)
        boundary = EndDatePattern(start=EWSDate.from_date(first), end=EWSDate.from_date(_as_date(until)))
    else:
        boundary = NoEndPattern(start=EWSDate.from_date(first))
    cls = TaskRecurrence if task else Recurrence
    return cls(pattern=pattern, boundary=boundary), lossy


def _rule_text(rule: RecurrenceRule) -> str:
    parts = [f"FREQ={rule.freq}"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.by_day:
        parts.append("BYDAY=" + ",".join(f"{'' if o is None else o}{d}" for o, d in rule.by_day))
    if rule.by_month_day:
        parts.append("BYMONTHDAY=" + ",".join(map(str, rule.by_month_day)))
    if rule.by_month:
        parts.append("BYMONTH=" + ",".join(map(str, rule.by_month)))
    if rule.by_set_pos:
        parts.append("BYSETPOS=" + ",".join(map(str, rule.by_set_pos)))
    parts.extend(f"{k}={v}" for k, v in rule.other.items())
    return ";".join(parts)


_ORDINALS = {1: 1, 2: 2, 3: 3, 4: 4, 5: -1}


def _relative_byday(weekday: int, week_number: int) -> tuple[list[tuple[int | None, str]], list[int]]:
    ordinal = _ORDINALS[week_number]
    if weekday <= 7:
        return [(ordinal, WEEKDAYS[weekday - 1])], []
    days = {8: WEEKDAYS, 9: WEEKDAYS[:5], 10: WEEKDAYS[5:]}[weekday]
    return [(None, d) for d in days], [ordinal]


def recurrence_from_ews(recurrence: Any, tz: tzinfo | None = None, all_day: bool = False) -> RecurrenceRule:
    """An exchangelib Recurrence as an RRULE. An end date becomes UNTIL (a DATE for all-day events,
    else the end of that day in ``tz``, in UTC)."""
    p = recurrence.pattern
    rule: RecurrenceRule
    if isinstance(p, DailyPattern):
        rule = RecurrenceRule("DAILY", interval=p.interval)
    elif isinstance(p, WeeklyPattern):
        days = p.weekdays if isinstance(p.weekdays, list) else [p.weekdays]
        rule = RecurrenceRule("WEEKLY", interval=p.interval, by_day=[(None, WEEKDAYS[d - 1]) for d in sorted(days)])
        if p.first_day_of_week not in (None, 1):
            rule.week_start = WEEKDAYS[p.first_day_of_week - 1]
    elif isinstance(p, AbsoluteMonthlyPattern):
        days, pos = last_day_rule(p.day_of_month, 28)
        if p.interval % 12 == 0:
            rule = RecurrenceRule("YEARLY", interval=p.interval // 12, by_month_day=days, by_set_pos=pos)
        else:
            rule = RecurrenceRule("MONTHLY", interval=p.interval, by_month_day=days, by_set_pos=pos)
    elif isinstance(p, RelativeMonthlyPattern):
        by_day, set_pos = _relative_byday(p.weekday, p.week_number)
        freq, interval = ("YEARLY", p.interval // 12) if p.interval % 12 == 0 else ("MONTHLY", p.interval)
        rule = RecurrenceRule(freq, interval=interval, by_day=by_day, by_set_pos=set_pos)
    elif isinstance(p, AbsoluteYearlyPattern):
        days, pos = last_day_rule(p.day_of_month, SHORTEST[p.month])
        rule = RecurrenceRule("YEARLY", by_month_day=days, by_set_pos=pos, by_month=[p.month])
    elif isinstance(p, RelativeYearlyPattern):
        by_day, set_pos = _relative_byday(p.weekday, p.week_number)
        rule = RecurrenceRule("YEARLY", by_day=by_day, by_set_pos=set_pos, by_month=[p.month])
    else:
        raise ValueError(f"unsupported recurrence pattern {type(p).__name__}")
    b = recurrence.boundary
    if rule.freq == "YEARLY" and not rule.by_month and b is not None:
        rule.by_month = [b.start.month]
    if isinstance(b, NumberedPattern):
        rule.count = b.number
    elif isinstance(b, EndDatePattern):
        end = _as_date(b.end)
        if all_day or tz is None:
            rule.until = date(end.year, end.month, end.day)
        else:
            rule.until = datetime.combine(end, time(23, 59, 59), tz).astimezone(UTC)
    return rule


def _nth_matches(d: date, weekday: int, week_number: int) -> bool:
    def hit(x: date) -> bool:
        if weekday <= 7:
            return bool(x.weekday() == weekday - 1)
        if weekday == 9:
            return x.weekday() < 5
        if weekday == 10:
            return x.weekday() >= 5
        return True

    if not hit(d):
        return False
    days = [date(d.year, d.month, n) for n in range(1, pycal.monthrange(d.year, d.month)[1] + 1)]
    candidates = [x for x in days if hit(x)]
    index = week_number - 1 if week_number < 5 else -1
    return bool(abs(index) < len(candidates) + (index < 0) and candidates[index] == d)


def _occurrence_dates(recurrence: Any, limit: date) -> Iterator[date]:
    """Occurrence dates of an exchangelib Recurrence, in order, up to ``limit`` (inclusive)."""
    p, b = recurrence.pattern, recurrence.boundary
    first = _as_date(b.start)
    last = _as_date(b.end) if isinstance(b, EndDatePattern) else None
    count = b.number if isinstance(b, NumberedPattern) else None

    def months_between(d: date) -> int:
        return (d.year - first.year) * 12 + d.month - first.month

    def matches(d: date) -> bool:
        if isinstance(p, DailyPattern):
            return bool((d - first).days % p.interval == 0)
        if isinstance(p, WeeklyPattern):
            days = p.weekdays if isinstance(p.weekdays, list) else [p.weekdays]
            fdow = (p.first_day_of_week or 1) - 1
            week0 = first - timedelta(days=(first.weekday() - fdow) % 7)
            return bool(d.weekday() + 1 in days and ((d - week0).days // 7) % p.interval == 0)
        if isinstance(p, AbsoluteMonthlyPattern):
            dom = min(p.day_of_month, pycal.monthrange(d.year, d.month)[1])
            return bool(d.day == dom and months_between(d) % p.interval == 0)
        if isinstance(p, RelativeMonthlyPattern):
            return bool(months_between(d) % p.interval == 0 and _nth_matches(d, p.weekday, p.week_number))
        if isinstance(p, AbsoluteYearlyPattern):
            return bool(d.month == p.month and d.day == min(p.day_of_month, pycal.monthrange(d.year, d.month)[1]))
        if isinstance(p, RelativeYearlyPattern):
            return bool(d.month == p.month and _nth_matches(d, p.weekday, p.week_number))
        return False

    d, n = first, 0
    while d <= limit and (last is None or d <= last) and (count is None or n < count):
        if matches(d):
            n += 1
            yield d
        d += timedelta(days=1)


def occurrence_index(recurrence: Any, original_start: DateOrDateTime, tz: tzinfo | None = None) -> int | None:
    """The 1-based InstanceIndex of the occurrence that originally started at ``original_start``
    (compared by date, in ``tz`` when given), or None if the series has no occurrence that day."""
    if isinstance(original_start, datetime) and tz is not None and original_start.utcoffset() is not None:
        original_start = original_start.astimezone(tz)
    target = _as_date(original_start)
    for index, d in enumerate(_occurrence_dates(recurrence, target), 1):
        if d == target:
            return index
    return None


# -- events -----------------------------------------------------------------------------


def _set_body(rec: EventRecord | TaskRecord, body: Any) -> None:
    """An HTML body travels as X-ALT-DESC with its text as DESCRIPTION (see shared.formats.html_body)."""
    if body is not None:
        html_body.set_body(rec, str(body), isinstance(body, HTMLBody))


def _body(rec: EventRecord | TaskRecord) -> Any:
    body = html_body.body_of(rec)
    return None if body is None else HTMLBody(body[0]) if body[1] else body[0]

_PARTSTAT_TO_EWS = {
    "ACCEPTED": "Accept",
    "DECLINED": "Decline",
    "TENTATIVE": "Tentative",
    "NEEDS-ACTION": "NoResponseReceived",
}
_EWS_TO_PARTSTAT = {v: k for k, v in _PARTSTAT_TO_EWS.items()} | {"Organizer": "ACCEPTED"}


def _importance(priority: int | None, lossy: list[str]) -> str | None:
    if priority is None or priority == 0:
        return None
    if priority not in (1, 5, 9):
        lossy.append(f"priority {priority} rounded to Exchange importance")
    return "High" if priority < 5 else "Normal" if priority == 5 else "Low"


def _priority(importance: str | None) -> int | None:
    return {"High": 1, "Low": 9}.get(importance or "")


# Exchange's "Personal" has no CLASS of its own: an x-name, which readers that do not know it must treat
# as PRIVATE (RFC 5545 §3.8.1.3), and which comes back as Personal.
_CLASS_TO_SENSITIVITY = {"PRIVATE": "Private", "CONFIDENTIAL": "Confidential", "X-PERSONAL": "Personal"}


def _sensitivity(classification: str | None, lossy: list[str]) -> str | None:
    if classification in (None, "PUBLIC"):
        return None
    mapped = _CLASS_TO_SENSITIVITY.get(classification or "")
    if mapped is None:
        lossy.append(f"CLASS {classification} stored as Private")
        return "Private"
    return mapped


def _classification(sensitivity: str | None) -> str | None:
    return {v: k for k, v in _CLASS_TO_SENSITIVITY.items()}.get(sensitivity or "")


def _attendees(rec: EventRecord, lossy: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"required_attendees": [], "optional_attendees": [], "resources": []}
    for a in rec.attendees:
        if not a.uri.lower().startswith("mailto:"):
            lossy.append(f"attendee {a.uri} (not an e-mail address)")
            continue
        if a.kind in ("RESOURCE", "ROOM"):
            key = "resources"
        elif a.role in ("OPT-PARTICIPANT", "NON-PARTICIPANT"):
            key = "optional_attendees"
        else:
            key = "required_attendees"
        out[key].append(
            EwsAttendee(
                mailbox=Mailbox(name=a.name, email_address=a.email),
                response_type=_PARTSTAT_TO_EWS.get(a.status or "", "Unknown"),
            )
        )
        if a.status and a.status not in _PARTSTAT_TO_EWS:
            lossy.append(f"attendee {a.email} status {a.status}")
    return out


def _span_minutes(start: DateOrDateTime | None, end: DateOrDateTime | None) -> int:
    if start is None or end is None:
        return 0
    if isinstance(start, datetime) and isinstance(end, datetime):
        if (start.utcoffset() is None) != (end.utcoffset() is None):
            return 0
        return int((end - start).total_seconds() // 60)
    return (_as_date(end) - _as_date(start)).days * 1440


def _reminder_minutes(alarms: list[Alarm], start: DateOrDateTime | None, lossy: list[str],
                      end: DateOrDateTime | None = None) -> int | None:
    if not alarms:
        return None
    alarm = alarms[0]
    if len(alarms) > 1:
        lossy.append(f"{len(alarms) - 1} further alarm(s) (Exchange keeps one reminder)")
    if isinstance(alarm.trigger, timedelta):
        minutes = -int(alarm.trigger.total_seconds() // 60)
        if alarm.related == "END":  # Exchange counts from the start: the same moment, counted from there
            minutes -= _span_minutes(start, end)
    elif isinstance(start, datetime) and start.utcoffset() is not None and alarm.trigger.utcoffset() is not None:
        minutes = int((start - alarm.trigger).total_seconds() // 60)
    else:
        lossy.append("absolute alarm time")
        return None
    if minutes < 0:
        lossy.append("alarm after the start, moved to the start")
        minutes = 0
    return minutes


def _event_fields(rec: EventRecord, default_tz: EWSTimeZone, lossy: list[str]) -> dict[str, Any]:
    """The CalendarItem fields of one event or override (no recurrence, no uid)."""
    f: dict[str, Any] = {}
    if rec.start is None:
        raise ValueError(f"event uid={rec.uid!r} has no start; Exchange needs one")
    end = rec.effective_end
    if rec.is_all_day:
        f["is_all_day"] = True
        s = _as_date(rec.start)
        e = _as_date(end) if end is not None else s + timedelta(days=1)
        if isinstance(end, datetime):
            lossy.append("all-day event with a timed end")
            e += timedelta(days=1)
        last = max(s, e - timedelta(days=1))  # exchangelib's all-day end is the last day
        f["start"] = EWSDate(s.year, s.month, s.day)
        f["end"] = EWSDate(last.year, last.month, last.day)
    else:
        assert isinstance(rec.start, datetime)
        f["is_all_day"] = False
        f["start"] = _to_ews_dt(rec.start, default_tz, lossy, "start")
        if isinstance(end, datetime):
            f["end"] = _to_ews_dt(end, default_tz, lossy, "end")
        else:
            if end is not None:
                lossy.append("timed event with a date end")
            f["end"] = f["start"]
        if f["end"] < f["start"]:
            lossy.append("end before start, set to start")
            f["end"] = f["start"]
    f["subject"] = rec.summary
    f["body"] = _body(rec)
    f["location"] = rec.location
    f["categories"] = list(rec.categories) or None
    f["importance"] = _importance(rec.priority, lossy) or "Normal"
    f["sensitivity"] = _sensitivity(rec.classification, lossy) or "Normal"
    f["legacy_free_busy_status"] = free_busy.from_ical(rec)
    if rec.status == "CANCELLED":
        lossy.append("STATUS:CANCELLED (read-only in Exchange)")
    minutes = _reminder_minutes(rec.alarms, rec.start, lossy, end)
    f["reminder_is_set"] = minutes is not None
    if minutes is not None:
        f["reminder_minutes_before_start"] = minutes
    f.update(_attendees(rec, lossy))
    for k in ("required_attendees", "optional_attendees", "resources"):
        f[k] = f[k] or None
    if rec.organizer is not None:
        lossy.append(f"organizer {rec.organizer.email} (read-only in Exchange; the mailbox owner organizes)")
    if rec.url is not None:
        lossy.append(f"URL {rec.url}")
    extra = _extra_names([x for x in rec.extra if not x.upper().startswith(("DTSTAMP", "SEQUENCE"))
                          and not free_busy.busy_line(x) and not html_body.is_alt_desc(x)])
    if extra:
        lossy.append("properties without Exchange field: " + ", ".join(extra))
    return f


def event_to_ews(
    event: EventRecord, default_tz: str | ZoneInfo = "UTC", account: Any = None, folder: Any = None
) -> EventMapping:
    """EventRecord (+ its exceptions) -> unsaved CalendarItem and the occurrence changes to apply after save.

    ``default_tz`` is used for floating times and for all-day events (Exchange anchors them to a zone).
    """
    tz = EWSTimeZone(default_tz if isinstance(default_tz, str) else default_tz.key)
    lossy: list[str] = []
    files, rest = item_attachments.split(event.extra)
    fields = _event_fields(replace(event, extra=rest), tz, lossy)
    kwargs: dict[str, Any] = {"account": account, "folder": folder} if account is not None else {}
    item = CalendarItem(**kwargs, **{k: v for k, v in fields.items() if v is not None})
    lossy.extend(attach_to_ews(item, files))
    if event.is_all_day:
        item._start_timezone = tz
        item._end_timezone = tz
    if event.uid is not None:
        item.uid = event.uid
    mapping = EventMapping(item=item, lossy=lossy)
    if event.rdates:
        lossy.append(f"{len(event.rdates)} RDATE occurrence(s) (Exchange patterns only)")
    if event.rrule is None:
        if event.exdates or event.exceptions:
            lossy.append("EXDATE/overrides on an event without RRULE")
        return mapping
    assert event.start is not None
    recurrence, rec_lossy = recurrence_to_ews(event.rrule, _local_start(event, tz))
    lossy.extend(rec_lossy)
    if recurrence is None:
        lossy.append("recurrence dropped: only the first occurrence is kept")
        return mapping
    item.recurrence = recurrence
    mapping.deleted_occurrences.extend(event.exdates)
    for exc in event.exceptions:
        if exc.recurrence_id is None:
            continue
        if exc.status == "CANCELLED":
            mapping.deleted_occurrences.append(exc.recurrence_id)
            continue
        exc_lossy: list[str] = []
        changes = _event_fields(exc, tz, exc_lossy)
        lossy.extend(f"occurrence {exc.recurrence_id}: {n}" for n in exc_lossy)
        for k in ("required_attendees", "optional_attendees", "resources"):
            if changes.get(k) is None:
                changes.pop(k, None)
        mapping.modified_occurrences.append((exc.recurrence_id, changes))
    return mapping


def _local_start(event: EventRecord, default_tz: EWSTimeZone) -> DateOrDateTime:
    start = event.start
    assert start is not None
    if isinstance(start, datetime) and start.utcoffset() is not None and isinstance(start.tzinfo, VTimezone):
        iana = start.tzinfo.iana
        return start.astimezone(zone_by_name(iana) or UTC) if iana else start
    return start


def apply_occurrence_changes(master: Any, mapping: EventMapping) -> list[str]:
    """Apply ``mapping``'s modified and deleted occurrences to the saved recurring ``master``
    (talks to the server). Returns what could not be applied."""
    problems: list[str] = []
    tz = master._start_timezone
    for original, changes in mapping.modified_occurrences:
        index = occurrence_index(master.recurrence, original, tz)
        if index is None:
            problems.append(f"modified occurrence {original} is not in the series")
            continue
        occ = master.occurrence(index=index)
        occ.refresh()
        for name, value in changes.items():
            setattr(occ, name, value)
        occ.save(update_fields=list(changes))
    for original in mapping.deleted_occurrences:
        index = occurrence_index(master.recurrence, original, tz)
        if index is None:
            problems.append(f"deleted occurrence {original} is not in the series")
            continue
        master.occurrence(index=index).delete()
    return problems


def _record_times(item: Any) -> tuple[DateOrDateTime | None, DateOrDateTime | None, tzinfo]:
    tz = _plain_zone(getattr(item, "_start_timezone", None))
    end_tz = _plain_zone(getattr(item, "_end_timezone", None) or getattr(item, "_start_timezone", None))
    if item.is_all_day:
        s = _as_date(item.start) if item.start is not None else None
        e = _as_date(item.end) + timedelta(days=1) if item.end is not None else None
        return (
            date(s.year, s.month, s.day) if s else None,
            date(e.year, e.month, e.day) if e else None,
            tz,
        )
    return _from_ews_dt(item.start, tz), _from_ews_dt(item.end, end_tz), tz


def _event_record(item: Any, lossy: list[str]) -> EventRecord:
    start, end, _ = _record_times(item)
    rec = EventRecord(start=start, end=end)
    rec.summary = item.subject
    _set_body(rec, item.body)
    rec.location = item.location
    rec.categories = list(item.categories or [])
    rec.priority = _priority(item.importance)
    rec.classification = _classification(item.sensitivity)
    free_busy.to_ical(item.legacy_free_busy_status, rec)
    if item.reminder_is_set and item.reminder_minutes_before_start is not None:
        rec.alarms.append(Alarm("DISPLAY", -timedelta(minutes=item.reminder_minutes_before_start)))
    for attr, role, kind in (
        ("required_attendees", "REQ-PARTICIPANT", None),
        ("optional_attendees", "OPT-PARTICIPANT", None),
        ("resources", "NON-PARTICIPANT", "RESOURCE"),
    ):
        for a in getattr(item, attr, None) or []:
            mbx = a.mailbox
            address = smtp_address(mbx, lossy, "attendee")
            if mbx is None or address is None:
                continue
            rec.attendees.append(
                Attendee(
                    uri=f"mailto:{address}",
                    name=mbx.name,
                    role=role,
                    status=_EWS_TO_PARTSTAT.get(a.response_type or ""),
                    kind=kind,
                )
            )
    org = item.organizer
    org_address = smtp_address(org, lossy, "organizer")
    if org is not None and org_address is not None:
        rec.organizer = Attendee(uri=f"mailto:{org_address}", name=org.name)
    return rec


def event_from_ews(item: Any, exceptions: Sequence[Any] = ()) -> Mapped[EventRecord]:
    """CalendarItem (a single item or a recurring master) -> EventRecord. ``exceptions`` are the
    modified occurrences fetched by the caller (ids in ``item.modified_occurrences``)."""
    lossy: list[str] = []
    rec = _event_record(item, lossy)
    rec.uid = item.uid
    lossy.extend(attachment_notes(item))
    _, _, tz = _record_times(item)
    if item.recurrence is not None:
        rec.rrule = recurrence_from_ews(item.recurrence, tz, bool(item.is_all_day))
        for d in item.deleted_occurrences or []:
            rec.exdates.append(_original(d.start, tz, bool(item.is_all_day)))
        for occ in exceptions:
            exc = _event_record(occ, lossy)
            exc.uid = item.uid
            exc.organizer = None if exc.organizer == rec.organizer else exc.organizer
            exc.recurrence_id = _original(occ.original_start or occ.start, tz, bool(item.is_all_day))
            rec.exceptions.append(exc)
        missing = len(item.modified_occurrences or []) - len(exceptions)
        if missing > 0:
            lossy.append(f"{missing} modified occurrence(s) not fetched")
    return Mapped(rec, lossy)


def _original(value: Any, tz: tzinfo, all_day: bool) -> DateOrDateTime:
    if isinstance(value, datetime):
        local = _from_ews_dt(value, tz)
        assert local is not None
        return local.date() if all_day else local
    return date(value.year, value.month, value.day)


# -- tasks ------------------------------------------------------------------------------

_TASK_STATUS = {"NEEDS-ACTION": "NotStarted", "IN-PROCESS": "InProgress", "COMPLETED": "Completed"}
_EWS_TASK_STATUS = {v: k for k, v in _TASK_STATUS.items()}


def task_to_ews(task: TaskRecord, account: Any = None, folder: Any = None) -> Mapped[Any]:
    lossy: list[str] = []
    kwargs: dict[str, Any] = {"account": account, "folder": folder} if account is not None else {}
    item = Task(**kwargs)
    item.subject = task.summary
    item.body = _body(task)
    item.categories = list(task.categories) or None
    item.importance = _importance(task.priority, lossy) or "Normal"
    item.sensitivity = _sensitivity(task.classification, lossy) or "Normal"
    for attr, value, what in (("start_date", task.start, "start"), ("due_date", task.due, "due")):
        if value is None:
            continue
        if isinstance(value, datetime):
            if value.time() != time(0, 0):
                lossy.append(f"{what} time of day {value.time()} (Exchange keeps the date)")
            value = value.date()
        setattr(item, attr, EWSDate(value.year, value.month, value.day))
    if task.duration is not None:
        lossy.append("task DURATION")
    percent = task.percent_complete
    status = _TASK_STATUS.get(task.status or "")
    word = _task_status_word(task.extra)
    if word is not None:
        status = word
    elif task.status == "CANCELLED":
        status = "Deferred"
        lossy.append("STATUS:CANCELLED stored as Deferred")
    if status is None:
        status = "Completed" if percent == 100 or task.completed else "InProgress" if percent else "NotStarted"
    if status == "NotStarted" and percent:
        status = "InProgress"
    if status == "Completed":
        percent = 100
    item.status = status
    item.percent_complete = Decimal(percent or 0)
    if task.completed is not None:
        lossy.append("completion time (Exchange sets it when the task is completed)")
    if task.alarms:
        alarm = task.alarms[0]
        anchor = task.due if alarm.related == "END" else task.start or task.due
        when: datetime | None = None
        if isinstance(alarm.trigger, datetime):
            when = alarm.trigger
        elif anchor is not None:
            base = anchor if isinstance(anchor, datetime) else datetime.combine(anchor, time(9, 0))
            when = base + alarm.trigger
        if when is not None:
            item.reminder_is_set = True
            item.reminder_due_by = _to_ews_dt(when, EWSTimeZone("UTC"), lossy, "reminder")
        else:
            lossy.append("alarm without anchor")
    if task.rrule is not None:
        anchor_date = task.start or task.due
        if anchor_date is None:
            lossy.append("task RRULE without start or due")
        else:
            recurrence, rec_lossy = recurrence_to_ews(task.rrule, anchor_date, task=True)
            lossy.extend(rec_lossy)
            item.recurrence = recurrence
    if task.uid is not None:
        lossy.append("UID (Exchange tasks have none)")
    if task.organizer is not None or task.attendees:
        lossy.append("task organizer/attendees (assignment is not migrated)")
    if task.location:
        lossy.append(f"location {task.location!r}")
    extra = _extra_names([x for x in _with_files(item, task.extra, lossy)
                          if not x.upper().startswith(("DTSTAMP", "SEQUENCE", _STATUS_WORD))
                          and not html_body.is_alt_desc(x)])
    if extra:
        lossy.append("properties without Exchange field: " + ", ".join(extra))
    return Mapped(item, lossy)


_STATUS_WORD = "X-MS-TASK-STATUS:"  # Exchange's own status word, for the states iCalendar has none for


def _task_status_word(extra: Sequence[str]) -> str | None:
    """WaitingOnOthers or Deferred when the task says so (written by task_from_ews and the PST reader)."""
    for line in extra:
        if line.upper().startswith(_STATUS_WORD):
            word = line[len(_STATUS_WORD):].strip().lower()
            return {"waitingonothers": "WaitingOnOthers", "deferred": "Deferred"}.get(word)
    return None


_REGENERATION_UNITS = {"DailyRegeneration": "day", "WeeklyRegeneration": "week", "MonthlyRegeneration": "month",
                       "YearlyRegeneration": "year"}


def task_from_ews(item: Any) -> Mapped[TaskRecord]:
    lossy: list[str] = []
    rec = TaskRecord(summary=item.subject)
    _set_body(rec, item.body)
    rec.categories = list(item.categories or [])
    rec.priority = _priority(item.importance)
    rec.classification = _classification(item.sensitivity)
    for attr, target in (("start_date", "start"), ("due_date", "due")):
        value = getattr(item, attr)
        if value is not None:
            setattr(rec, target, date(value.year, value.month, value.day))
    rec.status = _EWS_TASK_STATUS.get(item.status or "")
    if item.status in ("WaitingOnOthers", "Deferred"):
        rec.status = "IN-PROCESS" if item.status == "WaitingOnOthers" else "CANCELLED"
        rec.extra.append(f"X-MS-TASK-STATUS:{item.status}")
    if item.percent_complete is not None:
        rec.percent_complete = int(item.percent_complete)
    if item.complete_date is not None and item.status == "Completed":
        rec.completed = _from_ews_dt(item.complete_date, UTC)
    if item.reminder_is_set and item.reminder_due_by is not None:
        trigger = _from_ews_dt(item.reminder_due_by, UTC)
        assert trigger is not None
        rec.alarms.append(Alarm("DISPLAY", trigger))
    if item.recurrence is not None:
        pattern: Any = getattr(item.recurrence, "pattern", None)
        unit = _REGENERATION_UNITS.get(type(pattern).__name__)
        if unit is not None:  # Outlook's "regenerate new task"
            lossy.append(f"task recurrence: a new task {pattern.interval} {unit}(s) after each one is completed "
                         "(Outlook's 'regenerate') has no iCalendar form")
        else:
            try:
                rec.rrule = recurrence_from_ews(item.recurrence, None, True)
            except ValueError as exc:
                lossy.append(f"task recurrence: {exc}")
    lossy.extend(attachment_notes(item))
    for attr in ("billing_information", "companies", "mileage", "actual_work", "total_work"):
        value = getattr(item, attr, None)
        if value:
            lossy.append(f"{attr.replace('_', ' ')} {value!r}")
    return Mapped(rec, lossy)
