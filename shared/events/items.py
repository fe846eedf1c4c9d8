"""Items in neutral formats. E-mail is the exact RFC 5322 bytes the source gave.

A message above the inline limit travels as ordered ``MailChunk`` records with
the same key; the first carries the metadata, the last has ``last=True``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import Event, register
from shared.events.tasks import FolderRef


class MailMeta(BaseModel):
    """Everything about a message except its bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_key: str
    folder: FolderRef
    flags: list[str]
    internaldate: datetime
    size: int
    message_id: str = ""
    subject: str = ""
    # Its folder's UIDVALIDITY changed since an earlier pass of the pair (the folder was re-created or its index
    # rebuilt): the copy made under the old UID may be on the target, so the loader looks for it first.
    look_first: bool = False


@register
class FolderItem(Event):
    """Make sure this folder exists on the target (empty folders are migrated too)."""

    EVENT_TYPE = "item.folder"
    VERSION = 1

    folder: FolderRef


@register
class MailItem(Event):
    """A whole message below the inline limit."""

    EVENT_TYPE = "item.mail"
    VERSION = 1

    meta: MailMeta
    data: bytes


@register
class MailChunk(Event):
    """One piece of a large message; ``meta`` only on ``seq == 0``."""

    EVENT_TYPE = "item.mail_chunk"
    VERSION = 1

    item_key: str
    seq: int
    last: bool
    meta: MailMeta | None = None
    data: bytes


@register
class SieveScriptItem(Event):
    """One Sieve script (the IMAP world's inbox rules and vacation auto-reply), read via ManageSieve."""

    EVENT_TYPE = "item.sieve_script"
    VERSION = 1

    item_key: str
    name: str
    script: str
    active: bool


@register
class PimItem(Event):
    """A contact, contact group, calendar event, task, inbox rule or the auto-reply, in a neutral format.

    ``format`` says how ``payload`` is written: ``vcard`` (contacts), ``ical`` (events with their
    exceptions, tasks), ``json`` (contact groups, rules, auto-reply: small typed models). ``lossy``:
    what reading the source could not put into the payload, reported with the item's result.
    """

    EVENT_TYPE = "item.pim"
    VERSION = 1

    item_key: str
    item_type: str
    format: str
    name: str = ""
    payload: str
    lossy: list[str] = Field(default_factory=list)
