"""Progress events the tracker folds into the status. Applying one twice changes nothing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.envelope import Event, register

ItemType = Literal["email", "folder", "contact", "contact_group", "calendar", "task", "rule", "auto_reply"]
Result = Literal["done", "skipped", "failed"]


class ItemResult(BaseModel):
    """What happened to one item; ``item_key`` makes a repeated report harmless."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_key: str
    item_type: ItemType = "email"
    result: Result
    bytes: int = 0
    folder: str = ""
    subject: str = ""
    reason: str = ""


@register
class OperationStarted(Event):
    EVENT_TYPE = "progress.operation_started"
    VERSION = 1

    operation: str


@register
class OperationPlanned(Event):
    """How many items and folders the operation will report results for."""

    EVENT_TYPE = "progress.operation_planned"
    VERSION = 1

    operation: str
    total: int
    folders: int
    tasks: int


@register
class ItemResults(Event):
    EVENT_TYPE = "progress.item_results"
    VERSION = 1

    operation: str
    results: list[ItemResult]


@register
class MigrationFailed(Event):
    """The migration cannot go on (e.g. the source password was changed meanwhile)."""

    EVENT_TYPE = "progress.migration_failed"
    VERSION = 1

    code: str
    reason: str


@register
class MigrationValidating(Event):
    """The extractor is checking the source login again before it plans."""

    EVENT_TYPE = "progress.validating"
    VERSION = 1


@register
class UndoProgress(Event):
    """How far an undo has come: things removed or restored, out of the recorded total."""

    EVENT_TYPE = "progress.undo"
    VERSION = 1

    done: int
    total: int
    kept: int = 0


@register
class UndoFinished(Event):
    EVENT_TYPE = "progress.undo_finished"
    VERSION = 1

    ok: bool
    removed_messages: int
    removed_folders: int
    restored_settings: int
    kept: list[str]
    reason: str = ""


@register
class OperationSkipped(Event):
    """An operation was not started because the migration is being cancelled."""

    EVENT_TYPE = "progress.operation_skipped"
    VERSION = 1

    operation: str


@register
class ProjectEnded(Event):
    """Every row of an operator's project has ended (intake's project loop says so once).

    ``migration_id`` holds the project's id (the envelope's one id). The tracker sends ``lines`` to
    ``notify_email`` through its notification queue; nothing here is a secret.
    """

    EVENT_TYPE = "progress.project_ended"
    VERSION = 1

    name: str
    state: str
    notify_email: str
    lines: list[str]
