"""In-memory mailbox store: folders, items, attachments, ids and change keys.

Items are kept as the XML element exchangelib sent (plus server-computed
properties); responses copy the requested child elements back out.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .soap import EwsError, local
from .wellknown import DEFAULT_FOLDERS, folder_names

_COUNTER = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_id(kind: str, mailbox_no: int) -> str:
    """An opaque, Exchange-looking base64 id ('AAMk...' style) that encodes kind, mailbox and a serial."""
    raw = f"EMU:{kind}:{mailbox_no}:{next(_COUNTER)}:".encode() + b"\x00" * 8
    return base64.b64encode(raw).decode()


def parse_id(value: str | None, kinds: tuple[str, ...]) -> tuple[str, int]:
    """(kind, mailbox number) of an id this emulator issued; ErrorInvalidIdMalformed otherwise."""
    try:
        raw = base64.b64decode(value or "", validate=True)
        magic, kind, mbx, _serial, _rest = raw.split(b":", 4)
        if magic != b"EMU" or kind.decode() not in kinds:
            raise ValueError(kind)
        return kind.decode(), int(mbx)
    except (ValueError, TypeError) as e:
        raise EwsError("ErrorInvalidIdMalformed", f"Id is malformed: {value!r}") from e


def change_key(kind: str, version: int) -> str:
    return base64.b64encode(f"{kind}CK{version:010d}".encode()).decode()


def version_of(ck: str) -> int | None:
    try:
        return int(base64.b64decode(ck, validate=True).decode()[3:])
    except (ValueError, TypeError):
        return None


@dataclass
class Attachment:
    id: str
    elem: Any  # t:FileAttachment / t:ItemAttachment as created (Content included)


@dataclass
class Item:
    id: str
    folder_id: str
    elem: Any  # t:Message, t:CalendarItem, t:Contact, t:DistributionList, t:Task, ...
    version: int = 1
    field_versions: dict[str, int] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    # calendar: an occurrence/exception points at its master; a master tracks its instances
    master_id: str | None = None
    instance_index: int | None = None
    modified: bool = False
    occurrences: dict[int, str] = field(default_factory=dict)  # instance index -> occurrence item id
    deleted_occurrences: dict[int, str] = field(default_factory=dict)  # instance index -> original start

    @property
    def kind(self) -> str:
        return local(self.elem)

    @property
    def changekey(self) -> str:
        return change_key("I", self.version)

    def get(self, tag: str) -> Any:
        from .soap import tq

        return self.elem.find(tq(tag))

    def text(self, tag: str) -> str | None:
        el = self.get(tag)
        return None if el is None else (el.text or "")

    @property
    def subject(self) -> str | None:
        return self.text("Subject")

    @property
    def mime_bytes(self) -> bytes | None:
        el = self.get("MimeContent")
        return None if el is None else base64.b64decode(el.text or "")

    def touch(self, fields: list[str]) -> None:
        self.version += 1
        for f in fields:
            self.field_versions[f] = self.version


@dataclass
class Folder:
    id: str
    parent_id: str | None
    name: str
    folder_class: str | None
    tag: str = "Folder"  # Folder, CalendarFolder, ContactsFolder, TasksFolder, SearchFolder
    distinguished: str | None = None
    version: int = 1
    items: dict[str, Item] = field(default_factory=dict)

    @property
    def changekey(self) -> str:
        return change_key("F", self.version)


class Mailbox:
    """One mailbox. Public helpers here are for test assertions (`emu.mailbox(login)`)."""

    def __init__(self, number: int, smtp: str, password: str | None, locale: str) -> None:
        self.number = number
        self.smtp = smtp
        self.password = password
        self.locale = locale
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}  # every item by id, whichever folder holds it
        self.oof: Any = None  # t:OofSettings element as last set
        self.rules: list[Any] = []  # t:Rule elements, priority order
        self.rules_quota = 64 * 1024  # bytes of enabled rules (Set-Mailbox -RulesQuota: 32 KB to 256 KB)
        self.created_at = _now()
        names = folder_names(locale)
        for dist, parent, klass, tag in DEFAULT_FOLDERS:
            parent_id = self.distinguished(parent).id if parent else None
            self.add_folder(parent_id, names[dist], klass, tag, None if dist == "archive" else dist)

    # -- folders -----------------------------------------------------------
    def add_folder(
        self,
        parent_id: str | None,
        name: str,
        folder_class: str | None,
        tag: str = "Folder",
        dist: str | None = None,
    ) -> Folder:
        f = Folder(make_id("F", self.number), parent_id, name, folder_class, tag, dist)
        self.folders[f.id] = f
        return f

    def distinguished(self, dist: str) -> Folder:
        for f in self.folders.values():
            if f.distinguished == dist:
                return f
        raise EwsError(
            "ErrorFolderNotFound", f"The specified folder could not be found in the store ({dist})."
        )

    def children(self, folder_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == folder_id]

    def descendants(self, folder_id: str) -> list[Folder]:
        out: list[Folder] = []
        for c in self.children(folder_id):
            out.append(c)
            out.extend(self.descendants(c.id))
        return out

    def folder(self, path: str | tuple[str, ...]) -> Folder:
        """A folder by distinguished id ("inbox") or display-name path below msgfolderroot: "Inbox/Sub",
        or a tuple of names (for names that contain "/")."""
        if isinstance(path, str):
            try:
                return self.distinguished(path)
            except EwsError:
                pass
        parts = path.strip("/").split("/") if isinstance(path, str) else path
        cur = self.distinguished("msgfolderroot")
        for part in parts:
            matches = [c for c in self.children(cur.id) if c.name == part]
            if not matches:
                raise KeyError(path)
            cur = matches[0]
        return cur

    def folder_paths(self) -> list[str]:
        root = self.distinguished("msgfolderroot")
        out: list[str] = []

        def walk(fid: str, prefix: str) -> None:
            for c in self.children(fid):
                out.append(prefix + c.name)
                walk(c.id, prefix + c.name + "/")

        walk(root.id, "")
        return out

    def items_in(self, path: str | tuple[str, ...]) -> list[Item]:
        return list(self.folder(path).items.values())

    # -- items -------------------------------------------------------------
    def add_item(self, folder: Folder, elem: Any) -> Item:
        item = Item(make_id("I", self.number), folder.id, elem)
        folder.items[item.id] = item
        self.items[item.id] = item
        folder.version += 1
        return item

    def remove_item(self, item: Item) -> None:
        folder = self.folders.get(item.folder_id)
        if folder is not None:
            folder.items.pop(item.id, None)
        self.items.pop(item.id, None)
        for occ_id in item.occurrences.values():
            self.items.pop(occ_id, None)

    def move_item(self, item: Item, target: Folder) -> None:
        self.folders[item.folder_id].items.pop(item.id, None)
        item.folder_id = target.id
        target.items[item.id] = item
        item.touch(["ParentFolderId"])

    def find_attachment(self, att_id: str) -> tuple[Item, Attachment]:
        for item in self.items.values():
            for a in item.attachments:
                if a.id == att_id:
                    return item, a
        raise EwsError("ErrorItemNotFound", "The specified attachment could not be found.")
