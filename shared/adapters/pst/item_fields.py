"""Outlook item properties that contacts, appointments and tasks share, as the neutral records' fields.

Pure, like :mod:`shared.adapters.pst.mapi`: categories (the ``Keywords`` named property), sensitivity,
reminders, a task's Exchange status word, and a contact's fields beyond name, e-mail and the first
phones. Property names and ids are MS-OXPROPS / MS-OXOCNTC / MS-OXORMDR / MS-OXOTASK.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from shared.formats import ical
from shared.formats.vcard import Address as PostalAddress
from shared.formats.vcard import ContactCard, TypedValue

PropKey = int | tuple[str, int | str]
Props = Mapping[PropKey, object]

PS_PUBLIC_STRINGS = "00020329-0000-0000-c000-000000000046"
PSETID_ADDRESS = "00062004-0000-0000-c000-000000000046"
PSETID_COMMON = "00062008-0000-0000-c000-000000000046"

KEYWORDS: PropKey = (PS_PUBLIC_STRINGS, "Keywords")  # the item's categories (PidNameKeywords)
PR_SENSITIVITY = 0x0036
REMINDER_SET: PropKey = (PSETID_COMMON, 0x8503)  # PidLidReminderSet
REMINDER_DELTA: PropKey = (PSETID_COMMON, 0x8501)  # PidLidReminderDelta, minutes before the start
REMINDER_TIME: PropKey = (PSETID_COMMON, 0x8502)  # PidLidReminderTime (a task's reminder, UTC)

# PR_SENSITIVITY -> CLASS; Exchange's "personal" travels as X-PERSONAL (see shared.adapters.ews.mapping).
_CLASS = {1: "X-PERSONAL", 2: "PRIVATE", 3: "CONFIDENTIAL"}
# PidLidTaskStatus values iCalendar has no word for travel as Exchange's word, as an Exchange source writes them.
TASK_STATUS_WORD = {3: "WaitingOnOthers", 4: "Deferred"}


def _text(props: Props, key: PropKey) -> str | None:
    value = props.get(key)
    return value.rstrip("\x00") if isinstance(value, str) and value.strip("\x00 ") else None


def categories(props: Props) -> list[str]:
    """The item's categories, in Outlook's order."""
    value = props.get(KEYWORDS)
    values = value if isinstance(value, list) else [value]
    return [v.strip("\x00") for v in values if isinstance(v, str) and v.strip("\x00 ")]


def classification(props: Props) -> str | None:
    """CLASS for PR_SENSITIVITY (None for normal)."""
    value = props.get(PR_SENSITIVITY)
    return _CLASS.get(value) if isinstance(value, int) and not isinstance(value, bool) else None


def reminder_minutes(props: Props, is_set: bool | None = None, delta: int | None = None) -> int | None:
    """Minutes before the start when the item's reminder is set, else None. ``is_set`` and ``delta``
    are a changed occurrence's own values, when its exception record has them."""
    if not (props.get(REMINDER_SET) if is_set is None else is_set):
        return None
    if delta is None:
        value = props.get(REMINDER_DELTA)
        delta = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return max(0, delta)


def relative_alarm(minutes: int | None) -> list[ical.Alarm]:
    return [] if minutes is None else [ical.Alarm("DISPLAY", -timedelta(minutes=minutes))]


def task_alarm(props: Props) -> list[ical.Alarm]:
    """A task's reminder: at its absolute reminder time (tasks have no start time to count from)."""
    when = props.get(REMINDER_TIME)
    if not props.get(REMINDER_SET) or not isinstance(when, datetime) or when.year >= 4500:
        return []
    return [ical.Alarm("DISPLAY", when)]


def day_of(value: datetime) -> date:
    """The day a birthday or anniversary stands for. Outlook stores local midnight in UTC, so a contact
    saved east of UTC has the evening before (22:00Z for 00:00 CEST): the nearest midnight is the day."""
    return (value + timedelta(hours=12)).date()


# PR_* phone tags beyond the ones every contact reader keeps, with their vCard types (as the Exchange mapping
# names its slots).
EXTRA_PHONES = ((0x3A1B, "work"), (0x3A2F, "home"), (0x3A57, "work,x-main"), (0x3A2E, "x-assistant"),
                (0x3A02, "x-callback"), (0x3A2D, "isdn"), (0x3A1D, "x-radio"), (0x3A2C, "x-telex"),
                (0x3A4B, "textphone"), (0x3A23, "fax"))
_OTHER_ADDR = (0x3A63, 0x3A5F, 0x3A62, 0x3A61, 0x3A60)  # street, city, state, postal code, country
_PO_BOXES = {"work": 0x3A2B, "home": 0x3A5E, "": 0x3A64}
_POSTAL_ID = (PSETID_ADDRESS, 0x8022)  # PidLidPostalAddressId: 1 home, 2 work, 3 other
# vCard lines for contact fields without a ContactCard field, named as shared.adapters.ews.mapping reads them.
_EXTRA_LINES = ((0x3A30, "X-ASSISTANT"), (0x3A4E, "X-MANAGER"), (0x3A48, "X-SPOUSE"),
                (0x3A19, "X-MS-OFFICE-LOCATION"), (0x3A46, "ROLE"))
_IM_ADDRESS = (PSETID_ADDRESS, 0x8062)  # PidLidInstantMessagingAddress


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def add_contact_fields(props: Props, card: ContactCard) -> None:
    """Everything past the first phones and the work and home address: more phones, the other address and
    PO boxes, which address is the postal one, anniversary, categories, assistant, manager, spouse, office,
    profession, IM address."""
    for tag, kind in EXTRA_PHONES:
        number = _text(props, tag)
        if number:
            card.phones.append(TypedValue(number, kind.split(",")))
    street, city, state, code, country = (_text(props, k) or "" for k in _OTHER_ADDR)
    if any((street, city, state, code, country)):
        card.addresses.append(PostalAddress(street, city, state, code, country, types=[]))
    postal_id = props.get(_POSTAL_ID)
    postal = {1: "home", 2: "work", 3: ""}.get(postal_id) if isinstance(postal_id, int) else None
    for adr in card.addresses:
        kind = adr.types[0] if adr.types else ""
        adr.po_box = _text(props, _PO_BOXES[kind]) or adr.po_box
        if postal is not None and kind == postal:
            adr.pref = 1
    anniversary = props.get(0x3A41)
    if isinstance(anniversary, datetime):
        card.anniversary = day_of(anniversary)
    card.categories = categories(props)
    for tag, name in _EXTRA_LINES:
        value = _text(props, tag)
        if value:
            card.extra.append(f"{name}:{_escaped(value)}")
    im = _text(props, _IM_ADDRESS)
    if im:
        card.extra.append(f"IMPP:{_escaped(im)}")
