"""An uploaded PST/OST file as an e-mail source: the folder tree and messages, named by PST item ids.

Folders are presented like an IMAP LIST, so the one folder mapping serves every source:
the folders below the store's top folder ("Top of Personal Folders") are top-level (items kept in
the top folder itself, as Outlook allows, come in a top-level folder of its name), Outlook's
Inbox in the languages we know is ``INBOX``, and Sent Items, Drafts, Deleted Items, Junk E-mail
(and their translations, e.g. "Gesendete Elemente") carry the IMAP special-use flag
``folder_map``'s name hints give them. Path components are joined with a control character,
as for Exchange, because Outlook folder names may contain "/" or ".".

Items have no UIDs: a task names them by their PST node id (``refs``), stable for the
lifetime of the spool file. Only folders of mail classes are listed (calendars, contacts,
tasks and notes are other operations), and in them only items of mail message classes.
An item the reader cannot read becomes a failed result with the reader's reason; the
import goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import folder_map
from shared.adapters.fetch_whole import WholeItemSource
from shared.adapters.ports import WholeItem
from shared.adapters.pst.items import read_pst
from shared.adapters.pst.reader import (
    ItemProblem,
    MailRecord,
    PstError,
    PstFolder,
    PstItem,
    PstReader,
    open_pst,
)
from shared.events import ExtractTask, ItemResult, ItemResults, MailItem, MailMeta
from shared.mail_dates import date_field
from shared.mail_headers import header_fields
from shared.migration_state import EMAILS
from shared.spool import PstUnavailable

DELIMITER = "\x1f"
PR_MESSAGE_CLASS = 0x001A
# Outlook's Inbox in the languages Outlook ships most (lower-cased); it becomes IMAP's INBOX.
INBOX_NAMES = frozenset({
    "inbox", "posteingang", "boîte de réception", "bandeja de entrada", "posta in arrivo", "postvak in",
    "caixa de entrada", "skrzynka odbiorcza", "inkorgen", "indbakke", "innboks", "saapuneet", "doručená pošta",
    "beérkezett üzenetek", "входящие", "gelen kutusu",
})
# The top folder's name when the file gives none ("Top of Outlook data file" in newer Outlooks).
TOP_NAME = "Top of Personal Folders"
OUTBOX_NAMES = frozenset({"outbox", "postausgang", "boîte d'envoi", "bandeja de salida", "posta in uscita"})
# The ref of a folder's own problem (a damaged list of items or sub-folders): reported as a failed item.
FOLDER_PROBLEM = "@folder"
# Message classes that are not e-mail (mirrors PstReader's classification).
_NOT_MAIL = ("IPM.CONTACT", "IPM.DISTLIST", "IPM.APPOINTMENT")


def pst_item_key(folder_id: str, ref: str) -> str:
    """Stable identity of a PST item: the dedupe key everywhere."""
    return f"{folder_id}:pst:{ref}"


def is_mail_folder(container_class: str | None) -> bool:
    """Folders Outlook shows as mail folders (no class at all is the Inbox, Deleted Items... in many files)."""
    cls = (container_class or "").upper()
    return not cls or cls.startswith("IPF.NOTE") or cls.startswith("IPF.IMAP")


def is_mail_class(message_class: str) -> bool:
    kind = (message_class or "IPM.Note").upper()
    if kind.startswith(_NOT_MAIL):
        return False
    return not (kind.startswith("IPM.TASK") and not kind.startswith("IPM.TASKREQUEST"))


@dataclass(frozen=True)
class PstListed:
    listed: folder_map.ListedFolder
    folder: PstFolder | None  # None: a non-mail parent listed only so its mail sub-folders keep their place


def _unique_name(path: list[str]) -> str:
    """What must differ between two folders: the name, with IMAP's INBOX case-insensitive."""
    head = folder_map.INBOX if path[0].upper() == folder_map.INBOX else path[0]
    return DELIMITER.join([head, *path[1:]])


def listed_folders(folders: Iterable[PstFolder]) -> list[PstListed]:
    """The PST's folders as LIST lines: neutral top-level names, special-use flags, unique names. Pure.

    ``folders`` come depth-first, parents before children, the top folder first with path ().
    """
    chosen: dict[tuple[str, ...], list[str]] = {}  # reader path -> our (renamed) path, latest wins
    taken: set[str] = set()
    inbox_taken = False
    candidates: list[tuple[list[str], PstFolder]] = []
    for f in folders:
        if not f.path and not f.item_count and not f.problem:
            continue  # the top folder itself: Outlook shows its children as the top level
        if not f.path:  # ... and items kept in it (Outlook shows them too) in a folder of its name, or its problem
            parent, own = [], (f.name or TOP_NAME).replace(DELIMITER, "_")
        else:
            parent = chosen.get(f.path[:-1], list(f.path[:-1]))
            own = f.path[-1].replace(DELIMITER, "_") or f"Folder {f.source_id}"
        if f.path and not parent and not inbox_taken and own.lower() in INBOX_NAMES:
            own, inbox_taken = folder_map.INBOX, True
        path = [*parent, own]
        n = 2
        while _unique_name(path) in taken:  # same name twice under one parent (Outlook allows it)
            path = [*parent, f"{own} ({n})"]
            n += 1
        taken.add(_unique_name(path))
        if f.path:
            chosen[f.path] = path
        candidates.append((path, f))
    keep = {id(f) for path, f in candidates if is_mail_folder(f.container_class)
            and not (len(path) == 1 and path[0].lower() in OUTBOX_NAMES and f.item_count == 0)}
    # A non-mail folder with a mail folder below it is listed \Noselect, so the tree keeps its shape.
    needed_parents = {DELIMITER.join(path[:i]) for path, f in candidates if id(f) in keep for i in range(1, len(path))}
    tops = [folder_map.ListedFolder(name=path[0], delimiter=DELIMITER, flags=())
            for path, f in candidates if len(path) == 1 and id(f) in keep]
    # What the message store names (Deleted Items, Sent Items in any language) wins over names we know.
    stated = {path[0]: f.special_use for path, f in candidates if len(path) == 1 and id(f) in keep and f.special_use}
    specials = {n: use for n, use in folder_map.special_roots(tops).items() if use not in stated.values()} | stated
    out: list[PstListed] = []
    for path, f in candidates:
        name = DELIMITER.join(path)
        if id(f) in keep:
            use = specials.get(path[0]) if len(path) == 1 else None
            out.append(PstListed(folder_map.ListedFolder(name=name, delimiter=DELIMITER,
                                                         flags=(use,) if use else ()), f))
        elif name in needed_parents:
            out.append(PstListed(folder_map.ListedFolder(name=name, delimiter=DELIMITER, flags=("\\Noselect",)),
                                 None))
    return out


def _message_class(message: Any) -> str:
    """PR_MESSAGE_CLASS read straight from the item's first record set (cheap: no body, no attachments)."""
    if message.get_number_of_record_sets() == 0:
        return "IPM.Note"
    for entry in message.get_record_set(0).entries:
        if int(entry.entry_type) == PR_MESSAGE_CLASS and entry.data:
            raw = bytes(entry.data)
            text = raw.decode("utf-16-le", "replace") if int(entry.value_type) == 0x001F else \
                raw.decode("latin-1")
            return text.rstrip("\x00") or "IPM.Note"
    return "IPM.Note"


class PstSource(WholeItemSource):
    """A PST/OST file opened for one migration: folders, item refs, and messages by ref (the e-mail
    :class:`~shared.adapters.ports.Source` port), and its other items (the ItemReader port)."""

    prefix = ""
    # A PST has no flags: its listing flags the folders found by well-known name, and only those.
    marks_special_use = True

    def __init__(self, reader: PstReader) -> None:
        self.reader = reader
        self._folders: dict[str, PstFolder] = {}
        self._index: dict[str, dict[str, int]] = {}  # listed name -> ref -> position in the folder
        stat = os.stat(reader.path)
        # Last resort for INTERNALDATE when a message carries no date at all: stable across retries.
        self._fallback_date = datetime.fromtimestamp(stat.st_mtime, UTC)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> PstSource:
        try:
            return cls(open_pst(path))
        except FileNotFoundError:
            raise PstUnavailable("the uploaded PST file is no longer in the spool; please upload it again") \
                from None
        except PstError as exc:
            raise PstUnavailable(str(exc)) from None

    # -- planning --------------------------------------------------------------------------------

    def list_folders(self) -> list[folder_map.ListedFolder]:
        out = []
        self._folders.clear()
        for entry in listed_folders(self.reader.folders()):
            if entry.folder is not None:
                self._folders[entry.listed.name] = entry.folder
            out.append(entry.listed)
        return out

    @staticmethod
    def key(folder_id: str, ref: str) -> str:
        return pst_item_key(folder_id, ref)

    def item_refs(self, name: str) -> list[str]:
        """The e-mail items of a listed folder, by PST node id, in the file's order."""
        return list(self._refs(name))

    def _folder(self, name: str) -> PstFolder:
        if name not in self._folders:
            self.list_folders()
        try:
            return self._folders[name]
        except KeyError:
            raise PstUnavailable("a folder of the PST file could not be found again") from None

    def _handle(self, folder: PstFolder) -> Any:
        node = self.reader._nodes.get(folder.source_id)  # the reader keeps each walked folder's pypff handle
        if node is None:
            for _ in self.reader.folders():
                pass
            node = self.reader._nodes.get(folder.source_id)
        if node is None:
            raise PstUnavailable("a folder of the PST file could not be found again")
        return node.handle

    def _refs(self, name: str) -> dict[str, int]:
        """ref -> position, mail items only; an entry pypff cannot even open is named ``@<position>``, and
        what of the folder itself could not be read (:attr:`PstFolder.problem`) is the ref ``@folder``."""
        if name in self._index:
            return self._index[name]
        folder = self._folder(name)
        handle = self._handle(folder)
        refs: dict[str, int] = {}
        if folder.problem:
            refs[FOLDER_PROBLEM] = -1  # reported as a failed item of this folder when fetched
        for pos in range(folder.item_count):
            try:
                message = handle.get_sub_message(pos)
                ref = str(int(message.identifier))
            except Exception:
                refs[f"@{pos}"] = pos  # reported as a failed item when fetched
                continue
            try:
                mail = is_mail_class(_message_class(message))
            except Exception:
                mail = True  # unreadable properties: let the reader report it as a per-item problem
            if mail:
                refs[ref] = pos
        self._index[name] = refs
        return refs

    # -- running a task -----------------------------------------------------------------------------

    def read(self, operation: str, mid: str) -> Iterator[WholeItem]:
        """The :class:`~shared.adapters.ports.ItemReader` port: the file's contacts, lists, events, tasks."""
        return read_pst(self.reader, operation, mid)

    def whole(self, task: ExtractTask) -> Iterator[MailItem | ItemResults]:
        """The task's messages in order; unreadable ones as failed results. Refs no longer found are left out."""
        folder = self._folder(task.folder.source_name)
        handle = self._handle(folder)
        positions = self._refs(task.folder.source_name)
        for ref in task.refs:
            pos = positions.get(ref)
            if pos is None:
                continue
            if ref == FOLDER_PROBLEM:
                yield ItemResults(migration_id=task.migration_id, operation=EMAILS, results=[ItemResult(
                    item_key=pst_item_key(task.folder.folder_id, ref), result="failed", folder=task.folder.display,
                    subject=f"PST folder {task.folder.display}",
                    reason=f"part of this folder could not be read from the PST file: {folder.problem}")])
                continue
            item: PstItem = self.reader._read_item(handle, pos, folder.path)
            if isinstance(item, MailRecord):
                yield self._mail(task, ref, item)
                continue
            key = pst_item_key(task.folder.folder_id, ref)
            if isinstance(item, ItemProblem):
                result = ItemResult(item_key=key, result="failed", folder=task.folder.display,
                                    subject=f"PST item {ref}",
                                    reason=f"this item could not be read from the PST file ({item.reason})")
            else:
                result = ItemResult(item_key=key, result="skipped", folder=task.folder.display,
                                    subject=getattr(item, "subject", "") or f"PST item {ref}",
                                    reason="not an e-mail (it belongs to another operation)")
            yield ItemResults(migration_id=task.migration_id, operation=EMAILS, results=[result])

    def _mail(self, task: ExtractTask, ref: str, rec: MailRecord) -> MailItem:
        data = rec.rfc822
        message_id, subject = header_fields(data)
        internaldate = rec.received or rec.sent or date_field(data) or self._fallback_date
        meta = MailMeta(item_key=pst_item_key(task.folder.folder_id, ref), folder=task.folder,
                        flags=list(rec.imap_flags), internaldate=internaldate, size=len(data),
                        message_id=message_id, subject=subject or " ".join(rec.subject.split())[:200])
        return MailItem(migration_id=task.migration_id, meta=meta, data=data)

    def close(self) -> None:
        self.reader.close()
