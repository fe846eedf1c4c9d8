"""The source side of a memory account: the Source port (e-mail) and the ItemReader (everything else)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.adapters.fetch_whole import as_chunks
from shared.adapters.memory.account import DELIMITER, MemoryAccount
from shared.adapters.pim_items import ITEM_TYPE, pim_item
from shared.adapters.ports import Fetched, FetchLimits, ItemListing, WholeItem
from shared.events import ExtractTask, FolderRef, ItemResult, ItemResults, MailItem, MailMeta
from shared.folder_map import ListedFolder
from shared.item_keys import item_key
from shared.mail_headers import header_fields
from shared.migration_state import EMAILS

#: The neutral format each operation's items are kept in (the same as Exchange's).
FORMATS = {"contacts": "vcard", "contact_groups": "contact-group", "calendars": "ical", "tasks": "ical",
           "rules": "rule-model", "auto_reply": "auto-reply"}


class MemorySource:
    def __init__(self, account: MemoryAccount) -> None:
        self.account = account

    @property
    def prefix(self) -> str:
        return ""

    @property
    def marks_special_use(self) -> bool:
        return True

    def list_folders(self) -> list[ListedFolder]:
        self.account.step("list")
        return [ListedFolder(name, DELIMITER, (f.use,) if f.use else ()) for name, f in self.account.folders.items()]

    def list_items(self, folders: Sequence[FolderRef], larger_than: int) -> dict[str, ItemListing]:
        self.account.step("list")
        out = {}
        for ref in folders:
            f = self.account.folders[ref.source_name]
            uids = sorted(f.messages)
            large = frozenset(u for u in uids if larger_than and len(f.messages[u].data) > larger_than)
            out[ref.source_name] = ItemListing(uidvalidity=f.uidvalidity, uids=uids, refs=(), large=large,
                                               keys=[item_key(ref.folder_id, f.uidvalidity, u) for u in uids])
        return out

    def folder_bytes(self, folders: Sequence[FolderRef]) -> dict[str, int]:
        return {ref.source_name: sum(len(m.data) for m in self.account.folders[ref.source_name].messages.values())
                for ref in folders}

    def fetch(self, task: ExtractTask, limits: FetchLimits) -> Iterator[Fetched]:
        self.account.step("fetch")
        f = self.account.folders.get(task.folder.source_name)
        keys = [item_key(task.folder.folder_id, task.uidvalidity, u) for u in task.uids]
        if f is None or f.uidvalidity != task.uidvalidity:
            yield ItemResults(migration_id=task.migration_id, operation=EMAILS, results=[
                ItemResult(item_key=k, result="failed", folder=task.folder.display,
                           reason="the source folder was re-created since it was listed (UIDVALIDITY changed)")
                for k in keys])
            return
        gone = []
        for uid, key in zip(task.uids, keys, strict=True):
            msg = f.messages.get(uid)
            if msg is None:
                gone.append(ItemResult(item_key=key, result="skipped", folder=task.folder.display,
                                       reason="deleted from the source while the migration ran"))
                continue
            message_id, subject = header_fields(msg.data)
            meta = MailMeta(item_key=key, folder=task.folder, flags=list(msg.flags), internaldate=msg.internaldate,
                            size=len(msg.data), message_id=message_id, subject=subject)
            yield from as_chunks(MailItem(migration_id=task.migration_id, meta=meta, data=msg.data),
                                 limits.inline_limit)
        if gone:
            yield ItemResults(migration_id=task.migration_id, operation=EMAILS, results=gone)

    def read(self, operation: str, mid: str) -> Iterator[WholeItem]:
        self.account.step("list")
        if operation == "auto_reply":
            if "auto_reply" in self.account.settings:
                yield pim_item(mid, operation, "auto_reply", FORMATS[operation], "auto-reply",
                               self.account.settings["auto_reply"])
            return
        for ref, item in sorted(self.account.items.items()):
            if item.item_type == ITEM_TYPE[operation]:
                yield pim_item(mid, operation, ref, FORMATS[operation], item.name, item.payload)

    def close(self) -> None:
        return None
