"""Undo records: what the loader created on the target, logged before it acknowledges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import Event, register


class CreatedThing(BaseModel):
    """One thing the migration created or changed: a folder, a message at (folder, UIDVALIDITY, UID), a script."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["folder", "message", "sieve_script", "item", "rule", "setting"]
    target_folder: str = ""
    uidvalidity: int = 0
    uid: int = 0
    item_key: str = ""
    # EWS: the ItemId or FolderId of what was created (IMAP needs none).
    ref: str = ""
    # For a changed setting (a Sieve script): its value before, so undo can put it back.
    name: str = ""
    previous: str | None = None
    previous_active: str | None = None


@register
class UndoRecords(Event):
    """A batch of created things, in the order they were created."""

    EVENT_TYPE = "undo.records"
    VERSION = 1

    pair_id: str
    records: list[CreatedThing]
