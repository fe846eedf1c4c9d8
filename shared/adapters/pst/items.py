"""A PST file's contacts, distribution lists, appointments and tasks as neutral items.

The reader (:mod:`shared.adapters.pst.reader`) already built vCard and iCalendar text from
the MAPI properties, attachments included as far as one record holds them (the rest are in its
notes); each record becomes a :class:`PimItem` keyed by its PST node id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shared.adapters.pim_items import ITEM_TYPE, pim_item, pim_key
from shared.adapters.pst.reader import (
    AppointmentRecord,
    ContactRecord,
    DistListRecord,
    ItemProblem,
    PstFolder,
    TaskRecord,
)
from shared.events import ItemResult, PimItem

# A folder's class -> the operation that reports what of it could not be read.
_FOLDER_OPERATION = (("IPF.CONTACT", "contacts"), ("IPF.APPOINTMENT", "calendars"), ("IPF.TASK", "tasks"))


def read_pst(reader: Any, operation: str, mid: str) -> Iterator[PimItem | ItemResult]:
    """The same items from a PST file (contacts as vCard, appointments and tasks as iCalendar, lists).

    What could not be read in this operation's own folders (a damaged item, a folder whose list of items
    is damaged) comes as a failed result with the reader's reason, so the report says what is missing.
    """
    wanted: type | None = {"contacts": ContactRecord, "contact_groups": DistListRecord,
                           "calendars": AppointmentRecord, "tasks": TaskRecord}.get(operation)
    if wanted is None:
        raise ValueError(f"a PST file has no {operation}")
    for folder in reader.folders():
        own = _operation_of(folder) == operation
        if folder.problem and own:
            yield _failed(operation, f"pst-folder:{folder.source_id}", folder, f"PST folder {_display(folder)}",
                          f"part of this folder could not be read from the PST file: {folder.problem}")
        for index, rec in enumerate(reader.items(folder)):
            if isinstance(rec, ItemProblem) and own:
                ident = rec.source_id if rec.source_id is not None else f"{folder.source_id}@{index}"
                yield _failed(operation, f"pst:{ident}", folder, f"PST item {ident}",
                              f"this item could not be read from the PST file ({rec.reason})")
            elif isinstance(rec, wanted):
                yield _item(mid, operation, rec)


def _item(mid: str, operation: str, rec: Any) -> PimItem:
    """One record as the operation's neutral item."""
    sid = f"pst:{rec.source_id}"
    if isinstance(rec, DistListRecord):
        group = {"display_name": rec.name, "members": [list(m) for m in rec.members]}
        return pim_item(mid, operation, sid, "json", rec.name, json.dumps(group))
    damaged = [f"{note}: not migrated" for note in rec.unreadable]
    if isinstance(rec, ContactRecord):
        return pim_item(mid, operation, sid, "vcard", rec.display_name, rec.vcard, list(rec.notes) + damaged)
    assert isinstance(rec, AppointmentRecord | TaskRecord)
    return pim_item(mid, operation, sid, "ical", rec.subject, rec.ical, list(rec.notes) + damaged)


def _operation_of(folder: PstFolder) -> str | None:
    """The operation whose items a folder holds by its class (a contacts folder's problems are reported once)."""
    cls = (folder.container_class or "").upper()
    return next((op for prefix, op in _FOLDER_OPERATION if cls.startswith(prefix)), None)


def _display(folder: PstFolder) -> str:
    return "/".join(folder.path) or folder.name


def _failed(operation: str, source_id: str, folder: PstFolder, subject: str, reason: str) -> ItemResult:
    return ItemResult(item_key=pim_key(operation, source_id), item_type=ITEM_TYPE[operation],  # type: ignore[arg-type]
                      result="failed", folder=_display(folder), subject=subject[:200], reason=reason[:1000])

