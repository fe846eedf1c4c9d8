"""Exchange (EWS) source adapter for e-mail: the mail folder tree and messages as MIME.

Folders are presented like an IMAP LIST (so one folder mapping serves every
source): the well-known Inbox is ``INBOX`` and Sent Items, Drafts, Deleted Items
and Junk E-mail carry the IMAP special-use flag of their role, whatever their
localized name. Exchange has no well-known id for an archive folder (Outlook creates a
plain one, named in the user's language), so a top-level folder with a well-known archive
name carries ``\\Archive``: the same rule the Exchange target uses to find its own.
Path components are joined with a control character, because Exchange folder names may
contain "/" or ".". Read, follow-up (flagged or complete), draft and replied/forwarded state and the
categories become IMAP flags and keywords as :mod:`shared.formats.keywords` says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account
from exchangelib.folders import Folder
from exchangelib.properties import ItemId

from shared import folder_map
from shared.adapters.ews import fields as _fields  # noqa: F401 - reads the follow-up flag property
from shared.adapters.ews import item_source
from shared.adapters.ews.paths import KEY_SEP
from shared.adapters.fetch_whole import WholeItemSource
from shared.adapters.ports import WholeItem
from shared.events import ExtractTask, MailItem, MailMeta
from shared.folder_refs import folder_refs
from shared.formats.keywords import imap_flags
from shared.mail_headers import header_fields

DELIMITER = KEY_SEP
FETCH_BATCH = 50
# Folder classes that hold mail; calendars, contacts, tasks and notes are other operations.
MAIL_CLASSES = (None, "", "IPF.Note", "IPF.Note.OutlookHomepage")

def ews_item_key(folder_id: str, item_id: str) -> str:
    return f"{folder_id}:ews:{hashlib.sha256(item_id.encode()).hexdigest()[:24]}"


@dataclass(frozen=True)
class EwsFolder:
    listed: folder_map.ListedFolder
    folder: Folder


class EwsSource(WholeItemSource):
    """The e-mail :class:`~shared.adapters.ports.Source` port of a mailbox, and its item reader."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.prefix = ""
        self.marks_special_use = True  # every special folder Exchange knows is flagged in list_folders
        self._folders: dict[str, Folder] = {}

    def _roles(self) -> dict[str, str]:
        acc = self.account
        roles = {acc.inbox.id: "INBOX", acc.sent.id: "\\Sent", acc.drafts.id: "\\Drafts",
                 acc.trash.id: "\\Trash", acc.junk.id: "\\Junk"}
        return roles

    def list_folders(self) -> list[folder_map.ListedFolder]:
        root = self.account.msg_folder_root
        roles = self._roles()
        outbox = self.account.outbox.id
        out: list[folder_map.ListedFolder] = []
        names: dict[str, list[str]] = {root.id: []}
        for f in root.walk():
            parent_path = names.get(f.parent_folder_id.id if f.parent_folder_id else root.id)
            if parent_path is None or f.id == outbox or f.folder_class not in MAIL_CLASSES:
                continue
            role = roles.get(f.id)
            own = "INBOX" if role == "INBOX" else f.name
            path = [*parent_path, own]
            names[f.id] = path
            name = DELIMITER.join(path)
            if role is None and not parent_path and "\\Archive" not in roles.values() \
                    and folder_map.well_known_use(f.name or "") == "\\Archive":
                role = roles[f.id] = "\\Archive"
            flags = (role,) if role and role.startswith("\\") else ()
            self._folders[name] = f
            out.append(folder_map.ListedFolder(name=name, delimiter=DELIMITER, flags=flags))
        return out

    def folder_ids(self) -> dict[str, str]:
        """Exchange's folder id of each folder :meth:`list_folders` listed, by its listed name."""
        return {name: f.id for name, f in self._folders.items()}

    @staticmethod
    def key(folder_id: str, ref: str) -> str:
        return ews_item_key(folder_id, ref)

    def item_refs(self, name: str) -> list[str]:
        """Every message id in the folder, oldest first (FindItem pages of up to 1,000)."""
        qs = self._folders[name].all().only("id").order_by("datetime_received")
        qs.page_size = 1000
        return [i.id for i in qs]

    def read(self, operation: str, mid: str) -> Iterator[WholeItem]:
        """The :class:`~shared.adapters.ports.ItemReader` port: contacts ... auto-reply of the mailbox."""
        return item_source.read(self.account, operation, mid, self.folder_paths)

    def folder_paths(self) -> dict[str, list[str]]:
        """Folder id → neutral path: the path the folder's mail travels under
        (:func:`~shared.folder_refs.folder_refs`), so the Inbox is "INBOX" and Sent Items, Drafts, Deleted
        Items, Junk E-mail and the archive are root tokens the target resolves to its own folder of that use,
        whatever its name; other folders keep their names. Rules name their folders this way."""
        refs = folder_refs(self.list_folders(), self.prefix, self.marks_special_use)
        ids = self.folder_ids()
        return {ids[ref.source_name]: ref.path for ref, _selectable in refs}

    def whole(self, task: ExtractTask) -> Iterator[MailItem]:
        for i in range(0, len(task.refs), FETCH_BATCH):
            ids = [ItemId(id=r) for r in task.refs[i:i + FETCH_BATCH]]
            fields = ["mime_content", "is_read", "flag", "is_draft", "categories", "datetime_received", "last_verb"]
            for item in self.account.fetch(ids=ids, only_fields=fields):
                if isinstance(item, Exception) or not getattr(item, "mime_content", None):
                    continue
                yield self._mail(task, item)

    @staticmethod
    def _mail(task: ExtractTask, item: Any) -> MailItem:
        data = bytes(item.mime_content)
        message_id, subject = header_fields(data)
        # exchangelib's EWSDateTime refuses plain tzinfo; keep a plain UTC datetime.
        received = datetime.fromtimestamp(item.datetime_received.timestamp(), UTC) if item.datetime_received \
            else datetime.now(UTC)
        meta = MailMeta(item_key=ews_item_key(task.folder.folder_id, item.id), folder=task.folder,
                        flags=imap_flags(item.is_read, item.flag, item.is_draft, item.categories,
                                         getattr(item, "last_verb", None)),
                        internaldate=received, size=len(data), message_id=message_id,
                        subject=subject)
        return MailItem(migration_id=task.migration_id, meta=meta, data=data)

    def close(self) -> None:
        self.account.protocol.close()
