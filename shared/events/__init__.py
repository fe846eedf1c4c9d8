"""Every event mailferry puts on a topic. Importing this package registers them all."""

from shared.events.codec import decode, decode_as, encode
from shared.events.dead_letter import DeadLetter
from shared.events.envelope import REGISTRY, Event
from shared.events.items import FolderItem, MailChunk, MailItem, MailMeta, PimItem, SieveScriptItem
from shared.events.migration import ControlCommand, EndpointSpec, MigrationRequested, OperationRequested
from shared.events.progress import (
    ItemResult,
    ItemResults,
    MigrationFailed,
    MigrationValidating,
    OperationPlanned,
    OperationSkipped,
    OperationStarted,
    UndoFinished,
    UndoProgress,
)
from shared.events.tasks import ExtractTask, FolderRef, TaskLink
from shared.events.undo import CreatedThing, UndoRecords

__all__ = [
    "REGISTRY",
    "ControlCommand",
    "CreatedThing",
    "DeadLetter",
    "EndpointSpec",
    "Event",
    "ExtractTask",
    "FolderItem",
    "FolderRef",
    "ItemResult",
    "ItemResults",
    "MailChunk",
    "MailItem",
    "MailMeta",
    "MigrationFailed",
    "MigrationRequested",
    "MigrationValidating",
    "OperationPlanned",
    "OperationRequested",
    "OperationSkipped",
    "OperationStarted",
    "PimItem",
    "SieveScriptItem",
    "TaskLink",
    "UndoFinished",
    "UndoProgress",
    "UndoRecords",
    "decode",
    "decode_as",
    "encode",
]
