"""Undo records: what the loader created on the target, logged before it acknowledges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import Event, register


class CreatedThing(BaseModel):
    """One thing the migration created: a folder, or a message at (folder, UIDVALIDITY, UID)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["folder", "message"]
    target_folder: str
    uidvalidity: int = 0
    uid: int = 0
    item_key: str = ""


@register
class UndoRecords(Event):
    """A batch of created things, in the order they were created."""

    EVENT_TYPE = "undo.records"
    VERSION = 1

    pair_id: str
    records: list[CreatedThing]
