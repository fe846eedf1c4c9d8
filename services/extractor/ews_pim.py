"""Reading an Exchange mailbox's contacts, contact groups, calendar, tasks, rules and auto-reply.

Each item becomes a :class:`PimItem` in a neutral format (vCard, iCalendar, or a
small JSON model). Meeting requests and proposals live in the Inbox as messages
and are not calendar items: they are not read here (the reference service does
not migrate invitations either). A recurring event travels with its modified
occurrences and its deleted dates in one iCalendar text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from exchangelib import Account, CalendarItem, Contact, DistributionList, Task

from shared.events import PimItem
from shared.formats.ews_mapping import contact_from_ews, event_from_ews, group_from_ews, task_from_ews
from shared.formats.ical import Calendar, serialize_calendar
from shared.formats.settings import auto_reply_from_ews, rule_from_ews
from shared.formats.vcard import serialize_vcard

# Operation → the item type its results are counted as.
ITEM_TYPE = {"contacts": "contact", "contact_groups": "contact_group", "calendars": "calendar", "tasks": "task",
             "rules": "rule", "auto_reply": "auto_reply"}


def pim_key(operation: str, source_id: str) -> str:
    return f"{operation}:{hashlib.sha256(source_id.encode()).hexdigest()[:24]}"


def _item(mid: str, operation: str, source_id: str, fmt: str, name: str, payload: str,
          lossy: list[str] | None = None) -> PimItem:
    return PimItem(migration_id=mid, item_key=pim_key(operation, source_id), item_type=ITEM_TYPE[operation],
                   format=fmt, name=(name or "")[:200], payload=payload, lossy=lossy or [])


def folder_paths(account: Account) -> dict[str, list[str]]:
    """Folder id → neutral path (the Inbox as "INBOX"), for rules that move mail into folders."""
    root = account.msg_folder_root
    paths: dict[str, list[str]] = {root.id: []}
    for f in root.walk():
        parent = paths.get(f.parent_folder_id.id if f.parent_folder_id else root.id)
        if parent is not None:
            paths[f.id] = [*parent, "INBOX" if f.id == account.inbox.id else f.name]
    return paths


def read(account: Account, operation: str, mid: str) -> Iterator[PimItem]:
    """Every item of one operation, in the source's order."""
    if operation == "contacts":
        for c in account.contacts.all():
            if isinstance(c, Contact) and not isinstance(c, DistributionList):
                card = contact_from_ews(c)
                yield _item(mid, operation, c.id, "vcard", c.display_name or "", serialize_vcard(card.value),
                            card.lossy)
    elif operation == "contact_groups":
        for dl in account.contacts.all():
            if isinstance(dl, DistributionList):
                mapped = group_from_ews(dl)
                group = mapped.value
                yield _item(mid, operation, dl.id, "json", group.display_name, json.dumps(asdict(group)),
                            mapped.lossy)
    elif operation == "calendars":
        for ev in account.calendar.all():
            if not isinstance(ev, CalendarItem):
                continue
            exceptions: list[Any] = []
            if ev.modified_occurrences:
                exceptions = [x for x in account.fetch(ids=[o.to_id() for o in ev.modified_occurrences])
                              if not isinstance(x, Exception)]
            event = event_from_ews(ev, exceptions)
            yield _item(mid, operation, ev.id, "ical", ev.subject or "",
                        serialize_calendar(Calendar(events=[event.value])), event.lossy)
    elif operation == "tasks":
        for t in account.tasks.all():
            if isinstance(t, Task):
                task = task_from_ews(t)
                yield _item(mid, operation, t.id, "ical", t.subject or "",
                            serialize_calendar(Calendar(tasks=[task.value])), task.lossy)
    elif operation == "rules":
        paths = folder_paths(account)
        for rule in account.rules:
            model = rule_from_ews(rule, lambda fid: paths.get(fid) if fid else None)
            yield _item(mid, operation, rule.id or rule.display_name, "json", model.name, model.to_json())
    elif operation == "auto_reply":
        yield _item(mid, operation, "oof", "json", "auto-reply", auto_reply_from_ews(account.oof_settings).to_json())
    else:
        raise ValueError(f"unknown operation {operation!r}")


def read_pst(reader: Any, operation: str, mid: str) -> Iterator[PimItem]:
    """The same items from a PST file (contacts as vCard, appointments and tasks as iCalendar, lists)."""
    from shared.adapters.pst.reader import AppointmentRecord, ContactRecord, DistListRecord, TaskRecord

    wanted: type | None = {"contacts": ContactRecord, "contact_groups": DistListRecord,
                           "calendars": AppointmentRecord, "tasks": TaskRecord}.get(operation)
    if wanted is None:
        raise ValueError(f"a PST file has no {operation}")
    for _folder, rec in reader.walk():
        if not isinstance(rec, wanted):
            continue
        sid = f"pst:{getattr(rec, 'source_id', '')}"
        if isinstance(rec, ContactRecord):
            yield _item(mid, operation, sid, "vcard", rec.display_name, rec.vcard)
        elif isinstance(rec, DistListRecord):
            group = {"display_name": rec.name, "members": [list(m) for m in rec.members]}
            yield _item(mid, operation, sid, "json", rec.name, json.dumps(group))
        elif isinstance(rec, (AppointmentRecord, TaskRecord)):
            yield _item(mid, operation, sid, "ical", rec.subject, rec.ical)
