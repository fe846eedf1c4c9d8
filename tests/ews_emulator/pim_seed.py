"""Filling a test mailbox with what the PIM tests copy: groups, calendars with changed occurrences, a rule.

Written through exchangelib and the same mappings the loader uses, so a source mailbox in the
emulator holds items the way Exchange would after a real user made them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import httpx
from exchangelib import Account
from exchangelib.folders import Folder
from exchangelib.properties import Actions, Conditions, Rule

from shared.adapters.ews.mapping import (
    ContactGroup,
    apply_occurrence_changes,
    event_to_ews,
    group_to_ews,
    task_to_ews,
)
from shared.formats.ical import parse_calendar

from .itemtypes import READ_ONLY
from .soap import M_NS, T_NS

RECORDED = Path(__file__).resolve().parents[1] / "data" / "ews"

# A weekly series with one occurrence cancelled and one moved: what a copy most easily gets wrong.
WEEKLY_STANDUP = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:weekly-standup@test\r
DTSTART;TZID=Europe/Berlin:20260105T090000\r
DTEND;TZID=Europe/Berlin:20260105T091500\r
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r
EXDATE;TZID=Europe/Berlin:20260119T090000\r
SUMMARY:Standup\r
LOCATION:Room 1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-standup@test\r
RECURRENCE-ID;TZID=Europe/Berlin:20260112T090000\r
DTSTART;TZID=Europe/Berlin:20260112T100000\r
DTEND;TZID=Europe/Berlin:20260112T101500\r
SUMMARY:Standup (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""


def save_group(acc: Account, name: str, members: Sequence[tuple[str, str]]) -> None:
    group_to_ews(ContactGroup(name, list(members)), account=acc, folder=acc.contacts).value.save()


def save_calendar(acc: Account, text: str, default_tz: str = "Europe/Berlin") -> None:
    """Every event of an iCalendar text (with its moved and cancelled occurrences) and every task."""
    cal = parse_calendar(text)
    for ev in cal.events:
        mapping = event_to_ews(ev, default_tz=default_tz, account=acc, folder=acc.calendar)
        mapping.item.save()
        apply_occurrence_changes(mapping.item, mapping)
    for task in cal.tasks:
        task_to_ews(task, account=acc, folder=acc.tasks).value.save()


def add_news_rule(acc: Account, priority: int = 1) -> None:
    """A rule "news": subjects with "newsletter" move to a new folder "Newsletters"."""
    news = Folder(parent=acc.msg_folder_root, name="Newsletters")
    news.save()
    acc.create_rule(Rule(display_name="news", priority=priority, is_enabled=True,
                         conditions=Conditions(contains_subject_strings=["newsletter"]),
                         actions=Actions(move_to_folder=news)))


def as_created(name: str) -> str:
    """An item of tests/data/ews as a client writes it in CreateItem: what Exchange computes taken out."""
    from lxml import etree

    root = etree.fromstring((RECORDED / name).read_bytes())
    for el in list(root):
        if not isinstance(el.tag, str) or etree.QName(el).localname in READ_ONLY | {"MyResponseType", "IsMeeting"}:
            root.remove(el)
    return str(etree.tostring(root, encoding="unicode"))


def create_raw(url: str, login: str, password: str, folder: str, item: str) -> str:
    """CreateItem with ``item`` as written (what Outlook for Mac or another client sends): the answer's text.

    exchangelib cannot write every shape Exchange keeps (a zone given by its definition, an X.500 member)."""
    envelope = (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
                f' xmlns:m="{M_NS}" xmlns:t="{T_NS}"><s:Header><t:RequestServerVersion Version="Exchange2016"/>'
                '</s:Header><s:Body><m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>'
                f'<t:DistinguishedFolderId Id="{folder}"/></m:SavedItemFolderId><m:Items>{item}</m:Items>'
                "</m:CreateItem></s:Body></s:Envelope>")
    auth = base64.b64encode(f"{login}:{password}".encode()).decode()
    resp = httpx.post(url, content=envelope.encode(), timeout=30,
                      headers={"Authorization": f"Basic {auth}", "Content-Type": "text/xml; charset=utf-8"})
    return resp.text
