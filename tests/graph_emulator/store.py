"""Stateful mailboxes: folders, items and settings of one user, held as Graph JSON plus what Graph keeps hidden."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from .ids import new_change_key, new_guid, new_id

# well-known mail folder name -> display name (English mailbox), parent well-known name
WELL_KNOWN_MAIL = {
    "msgfolderroot": ("Top of Information Store", None),
    "inbox": ("Inbox", "msgfolderroot"),
    "sentitems": ("Sent Items", "msgfolderroot"),
    "drafts": ("Drafts", "msgfolderroot"),
    "deleteditems": ("Deleted Items", "msgfolderroot"),
    "junkemail": ("Junk Email", "msgfolderroot"),
    "archive": ("Archive", "msgfolderroot"),
    "outbox": ("Outbox", "msgfolderroot"),
}


@dataclass
class Attachment:
    id: str
    odata_type: str  # fileAttachment | itemAttachment | referenceAttachment
    props: dict[str, Any]  # name, contentType, size, isInline, contentId, lastModifiedDateTime, ...
    content: bytes = b""


@dataclass
class Entry:
    """One stored object: a folder, message, contact, event, task list, task or rule."""

    kind: str  # the Graph entity type: message, mailFolder, contact, contactFolder, event, calendar, ...
    id: str
    immutable_id: str
    parent: str | None  # containing folder / calendar / list id
    props: dict[str, Any]  # Graph JSON properties (without id and changeKey)
    change_key: str = field(default_factory=new_change_key)
    extended: dict[str, Any] = field(default_factory=dict)  # normalized single-value property id -> value
    multi_extended: dict[str, list[Any]] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    mime: bytes | None = None  # the MIME a message was created from
    photo: tuple[str, bytes] | None = None  # a contact's photo: (content type, bytes)
    well_known: str | None = None

    def touch(self, now_iso: str) -> None:
        self.change_key = new_change_key()
        if "lastModifiedDateTime" in self.props:
            self.props["lastModifiedDateTime"] = now_iso


class Mailbox:
    """The mailbox of one user (its folders, items, settings); the emulator's lock guards it."""

    def __init__(self, upn: str, display_name: str, now_iso: str) -> None:
        self.user_id = new_guid()
        self.upn = upn.lower()
        self.display_name = display_name
        self.key = hashlib.sha256(self.user_id.encode()).digest()
        self.entries: dict[str, Entry] = {}
        self.immutable: dict[str, str] = {}  # immutable id -> current id
        self.well_known: dict[str, str] = {}  # well-known name -> id
        self.occurrences: dict[str, tuple[str, str]] = {}  # occurrence id -> (series master id, date)
        self.settings: dict[str, Any] = {
            "timeZone": "UTC",
            "automaticRepliesSetting": {
                "status": "disabled",
                "externalAudience": "all",
                "internalReplyMessage": "",
                "externalReplyMessage": "",
                "scheduledStartDateTime": {"dateTime": "2000-01-01T00:00:00.0000000", "timeZone": "UTC"},
                "scheduledEndDateTime": {"dateTime": "2000-01-02T00:00:00.0000000", "timeZone": "UTC"},
            },
            "language": {"locale": "en-US", "displayName": "English (United States)"},
            "dateFormat": "M/d/yyyy",
            "timeFormat": "h:mm tt",
        }
        self._seed(now_iso)

    # -- creation ----------------------------------------------------------------------------
    def new_entry(self, kind: str, parent: str | None, props: dict[str, Any], well_known: str | None = None) -> Entry:
        entry = Entry(kind, new_id(self.key), new_id(self.key, "immutable"), parent, props, well_known=well_known)
        self.entries[entry.id] = entry
        self.immutable[entry.immutable_id] = entry.id
        if well_known:
            self.well_known[well_known] = entry.id
        return entry

    def adopt(self, kind: str, entry_id: str, parent: str | None, props: dict[str, Any]) -> Entry:
        """An entry under an id made elsewhere (an event exception keeps its occurrence's id)."""
        entry = Entry(kind, entry_id, new_id(self.key, "immutable"), parent, props)
        self.entries[entry_id] = entry
        self.immutable[entry.immutable_id] = entry_id
        return entry

    def rekey(self, entry: Entry) -> str:
        """Give an entry a new id (what a move does to an Exchange item); the immutable id stays."""
        old = entry.id
        del self.entries[old]
        entry.id = new_id(self.key)
        self.entries[entry.id] = entry
        self.immutable[entry.immutable_id] = entry.id
        return old

    def remove(self, entry: Entry) -> None:
        self.entries.pop(entry.id, None)
        self.immutable.pop(entry.immutable_id, None)

    def _seed(self, now_iso: str) -> None:
        for name, (display, parent) in WELL_KNOWN_MAIL.items():
            parent_id = self.well_known.get(parent) if parent else None
            self.new_entry("mailFolder", parent_id, {"displayName": display, "isHidden": False}, well_known=name)
        self.new_entry("contactFolder", None, {"displayName": "Contacts"}, well_known="contacts")
        self.new_entry("calendar", None, {
            "name": "Calendar", "color": "auto", "hexColor": "", "isDefaultCalendar": True, "canEdit": True,
            "canShare": True, "canViewPrivateItems": True, "isRemovable": False, "isTallyingResponses": True,
            "owner": {"name": self.display_name, "address": self.upn},
        }, well_known="calendar")
        self.new_entry("todoTaskList", None, {
            "displayName": "Tasks", "isOwner": True, "isShared": False, "wellknownListName": "defaultList",
        }, well_known="defaultList")

    # -- lookups -----------------------------------------------------------------------------
    def get(self, entry_id: str, kind: str | None = None) -> Entry | None:
        entry = self.entries.get(entry_id) or self.entries.get(self.immutable.get(entry_id, ""))
        if entry is None or (kind is not None and entry.kind != kind):
            return None
        return entry

    def children(self, parent: str, kind: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.parent == parent and e.kind == kind]

    def all_of(self, kind: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == kind]
