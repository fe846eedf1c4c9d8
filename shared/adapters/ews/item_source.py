"""Reading an Exchange mailbox's contacts, contact groups, calendar, tasks, rules and auto-reply.

Each item becomes a :class:`PimItem` in a neutral format (vCard, iCalendar, or a
small JSON model). Meeting requests and proposals live in the Inbox as messages
and are not calendar items: they are not read here (the reference service does
not migrate invitations either). A recurring event travels with its modified
occurrences and its deleted dates in one iCalendar text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from functools import partial
from typing import Any

from exchangelib import Account, CalendarItem, Contact, DistributionList, Task
from exchangelib.attachments import FileAttachment

from shared.adapters.ews.containers import containers
from shared.adapters.ews.item_files import files_from_ews
from shared.adapters.ews.mapping import contact_from_ews, event_from_ews, group_from_ews, task_from_ews
from shared.adapters.pim_items import carry_attachments, payload_size, pim_item
from shared.events import PimItem
from shared.formats.calendar_name import with_name
from shared.formats.calendar_zone import with_zone
from shared.formats.ical import Calendar, serialize_calendar
from shared.formats.item_attachments import ICAL_NAME, VCARD_NAME
from shared.formats.settings import auto_reply_from_ews, rule_from_ews
from shared.formats.vcard import serialize_vcard


def read(account: Account, operation: str, mid: str,
         folder_paths: Callable[[], Mapping[str, list[str]]]) -> Iterator[PimItem]:
    """Every item of one operation, in the source's order. ``folder_paths`` gives folder id → the neutral
    path the folder's mail travels under, for rules that move or copy mail into a folder."""
    if operation == "contacts":
        for c, moved in _address_book(account):
            if isinstance(c, Contact) and not isinstance(c, DistributionList):
                card = contact_from_ews(c)
                text, notes = _with_files(c, card.value.extra, partial(serialize_vcard, card.value), VCARD_NAME)
                yield pim_item(mid, operation, c.id, "vcard", c.display_name or "", text, card.lossy + notes + moved)
    elif operation == "contact_groups":
        for dl, moved in _address_book(account):
            if isinstance(dl, DistributionList):
                mapped = group_from_ews(dl)
                group = mapped.value
                yield pim_item(mid, operation, dl.id, "json", group.display_name, json.dumps(asdict(group)),
                            mapped.lossy + moved)
    elif operation == "calendars":  # the default calendar and every calendar below it, which its items name
        for folder, name in containers(account, account.calendar):
            for ev in folder.all():
                if not isinstance(ev, CalendarItem):
                    continue
                exceptions: list[Any] = []
                if ev.modified_occurrences:
                    exceptions = [x for x in account.fetch(ids=[o.to_id() for o in ev.modified_occurrences])
                                  if not isinstance(x, Exception)]
                event = event_from_ews(ev, exceptions)
                cal = with_name(Calendar(events=[event.value]), name)
                if ev.is_all_day:  # its days belong to its zone (see shared.formats.calendar_zone)
                    with_zone(cal, getattr(ev, "_start_timezone", None))
                text, notes = _with_files(ev, event.value.extra, partial(serialize_calendar, cal))
                yield pim_item(mid, operation, ev.id, "ical", ev.subject or "", text, event.lossy + notes)
    elif operation == "tasks":  # likewise the default task folder and every task folder below it
        for folder, name in containers(account, account.tasks):
            for t in folder.all():
                if isinstance(t, Task):
                    task = task_from_ews(t)
                    cal = with_name(Calendar(tasks=[task.value]), name)
                    text, notes = _with_files(t, task.value.extra, partial(serialize_calendar, cal))
                    yield pim_item(mid, operation, t.id, "ical", t.subject or "", text, task.lossy + notes)
    elif operation == "rules":
        paths = folder_paths()
        for rule in account.rules:
            model = rule_from_ews(rule, lambda fid: paths.get(fid) if fid else None)
            yield pim_item(mid, operation, rule.id or rule.display_name, "json", model.name, model.to_json())
    elif operation == "auto_reply":
        yield pim_item(mid, operation, "oof", "json", "auto-reply", auto_reply_from_ews(account.oof_settings).to_json())
    else:
        raise ValueError(f"unknown operation {operation!r}")


def _with_files(item: Any, extra: list[str], text: Callable[[], str], line_name: str = ICAL_NAME
                ) -> tuple[str, list[str]]:
    """The item's text with its file attachments in ``extra`` (the record's kept lines) as far as one record holds
    them, and the report's notes for the others; an item without attachments is not fetched again."""
    if not any(isinstance(a, FileAttachment) and not a.is_contact_photo for a in item.attachments or []):
        return text(), []
    bare = text()
    notes = carry_attachments(extra, files_from_ews(item), payload_size(bare), line_name)
    return text(), notes


def _address_book(account: Account) -> Iterator[tuple[Any, list[str]]]:
    """Every item of the Contacts folder and of every contact folder below it ("Contacts/Clients" is common;
    Exchange's own hidden ones, the recipient cache and the like, are other folder classes and stay out), with
    the note that an item of a folder below goes into the target's one address book."""
    for folder, name in containers(account, account.contacts):
        moved = [] if name is None else [f"from the contact folder {name!r}: the target keeps it in its Contacts"]
        for item in folder.all():
            yield item, moved
