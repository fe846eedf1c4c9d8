"""Extract tasks: a slice of one source folder, so extractor replicas share a mailbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared import folder_map
from shared.events.envelope import Event, register
from shared.events.migration import EndpointSpec


class FolderRef(BaseModel):
    """A source folder in neutral form: its path as Unicode components and its special use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    folder_id: str
    path: list[str]
    special_use: str | None = None
    source_name: str = ""
    #: Set when the folder is given another name on the target than ``path`` would give it: its name meets
    #: another source folder's there (:mod:`shared.folder_names`); the target folder is made from this path.
    target_path: list[str] | None = None

    @property
    def placed_path(self) -> list[str]:
        """The neutral path the target folder is made from."""
        return self.target_path or self.path

    @property
    def display(self) -> str:
        """The folder as the user knows it: a special root shows its own name, not its use."""
        if not self.path:
            return ""
        return "/".join([folder_map.parse_root(self.path[0])[1], *self.path[1:]])


class TaskLink(BaseModel):
    """A later task of the same chain, written small: UIDs as an IMAP sequence set (``1:500``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    folder: FolderRef
    uidvalidity: int
    uids: str = ""
    refs: list[str] = Field(default_factory=list)
    large: bool = False
    look_first: bool = False


@register
class ExtractTask(Event):
    """Copy these UIDs of one folder. Self-contained: a replica needs nothing else to run it."""

    EVENT_TYPE = "extract.task"
    VERSION = 1

    task_id: str
    source: EndpointSpec
    folder: FolderRef
    uidvalidity: int
    uids: list[int]
    # Sources without IMAP UIDs name their items here instead (EWS ItemIds).
    refs: list[str] = Field(default_factory=list)
    # One message larger than a fetch batch: it takes many round trips, so it runs before the others
    # instead of holding up the end of the migration.
    large: bool = False
    # The tasks that follow this one in its chain: a migration has at most a few chains, so at most that many
    # of its tasks wait in the topic, and migrations started later are not queued behind all of a big one.
    chain: list[TaskLink] = Field(default_factory=list)
    # The migration's date window (shared/mail_filters.py): a message received outside it is reported skipped.
    received_before: datetime | None = None
    received_since: datetime | None = None
    # Its items are keyed by the migration alone (shared.item_keys.items_record_key): a small mailbox read whole at
    # planning. Published after all (that read failed), it keeps the key, so a message's chunks are on one partition.
    keyed_by_migration: bool = False
    # Its folder's UIDVALIDITY changed since an earlier pass: its messages are looked for on the target before
    # they are written (``MailMeta.look_first``).
    look_first: bool = False
