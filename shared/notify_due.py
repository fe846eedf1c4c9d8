"""Which end notifications are still owed, read from the record (pure).

The notification queue lives in Redis, but a notification owed must outlive Redis: the status (on the
``migrations.record`` topic, like every status field) says which end was last notified — ``notified_at``
holds the ``finished_at`` of the migration's end it told about, ``undo_notified_at`` the ``undo_finished_at``
of an undo's. So a view rebuilt from the topics queues again every end not yet told (:func:`owed`), and a
sender drops a job whose end was told meanwhile (a job queued twice is sent once).

A project's end is told from its notice (the ``ProjectEnded`` event), which the tracker puts on the same
topic (``notice:<project_id>``) before it queues it and tombstones once it is told: a notice still on the
record is owed (:func:`notice_owed`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from datetime import datetime

#: An end older than this is not notified again by a rebuild (a notification an older mailferry sent left
#: no marker; the sender gives up after about an hour of retries anyway).
REDERIVE_HOURS = 48.0

#: kind → (the field with the end's time, the field with the end last notified)
ENDS = {"migration": ("finished_at", "notified_at"), "undo": ("undo_finished_at", "undo_notified_at")}
#: The notification kind of a project's end, and how long its notice is kept in Redis for the sender.
PROJECT = "project"
PROJECT_NOTICE_SECONDS = 30 * 24 * 3600


def notify_job(mid: str, kind: str) -> str:
    """A notification queue job (see ``services.tracker.notify_queue``)."""
    return json.dumps({"mid": mid, "kind": kind, "attempt": 0, "not_before": 0, "id": secrets.token_hex(8)})


def told(fields: Mapping[str, str], kind: str) -> bool:
    """Whether the end of ``kind`` the status holds was notified already."""
    end, marker = ENDS[kind]
    return bool(fields.get(end)) and fields.get(marker) == fields.get(end)


def marker(fields: Mapping[str, str], kind: str) -> dict[str, str]:
    """The status fields that say the end of ``kind`` was notified (nothing for other kinds)."""
    if kind not in ENDS or not fields.get(ENDS[kind][0]):
        return {}
    end, mark = ENDS[kind]
    return {mark: fields[end]}


def notice_owed(occurred_at: datetime, now: float) -> bool:
    """Whether a project's notice still on the record (not yet told) is recent enough to be queued again."""
    return now - occurred_at.timestamp() <= REDERIVE_HOURS * 3600


def owed(fields: Mapping[str, str], now: float) -> list[str]:
    """The kinds whose end this status holds, with an address to tell, not yet told, and recent enough."""
    if not fields.get("notify_email"):
        return []
    out = []
    for kind, (end, _mark) in ENDS.items():
        if not fields.get(end) or told(fields, kind):
            continue
        try:
            age = now - datetime.fromisoformat(fields[end]).timestamp()
        except ValueError:
            continue
        if age <= REDERIVE_HOURS * 3600:
            out.append(kind)
    return out
