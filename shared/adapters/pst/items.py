"""A PST file's contacts, distribution lists, appointments and tasks as neutral items.

The reader (:mod:`shared.adapters.pst.reader`) already built vCard and iCalendar text from
the MAPI properties, attachments included as far as one record holds them (the rest are in its
notes); each record becomes a :class:`PimItem` keyed by its PST node id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shared.adapters.pim_items import pim_item
from shared.adapters.pst.reader import AppointmentRecord, ContactRecord, DistListRecord, TaskRecord
from shared.events import PimItem


def read_pst(reader: Any, operation: str, mid: str) -> Iterator[PimItem]:
    """The same items from a PST file (contacts as vCard, appointments and tasks as iCalendar, lists)."""
    wanted: type | None = {"contacts": ContactRecord, "contact_groups": DistListRecord,
                           "calendars": AppointmentRecord, "tasks": TaskRecord}.get(operation)
    if wanted is None:
        raise ValueError(f"a PST file has no {operation}")
    for _folder, rec in reader.walk():
        if not isinstance(rec, wanted):
            continue
        sid = f"pst:{getattr(rec, 'source_id', '')}"
        if isinstance(rec, ContactRecord):
            yield pim_item(mid, operation, sid, "vcard", rec.display_name, rec.vcard, list(rec.notes))
        elif isinstance(rec, DistListRecord):
            group = {"display_name": rec.name, "members": [list(m) for m in rec.members]}
            yield pim_item(mid, operation, sid, "json", rec.name, json.dumps(group))
        elif isinstance(rec, AppointmentRecord | TaskRecord):
            yield pim_item(mid, operation, sid, "ical", rec.subject, rec.ical, list(rec.notes))
