"""Filling a test mailbox with what the PIM tests copy: groups, calendars with changed occurrences, a rule.

Written through exchangelib and the same mappings the loader uses, so a source mailbox in the
emulator holds items the way Exchange would after a real user made them.
"""

from __future__ import annotations

from collections.abc import Sequence

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
