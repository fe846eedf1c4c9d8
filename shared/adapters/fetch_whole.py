"""Sources that fetch a message in one piece (EWS, POP3, PST): their listing and fetch in the port's shape.

They name items by reference (an EWS ItemId, a POP3 UIDL, a PST node id), not by UID. IMAP reads a
large message in ranges (:mod:`shared.adapters.imap.fetch_task`); these sources get it whole, so it
is cut here into the same ordered chunk records, and what a task named but the source no longer
has is reported as deleted meanwhile.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence

from shared.adapters.ports import Fetched, FetchLimits, ItemListing
from shared.events import ExtractTask, FolderRef, ItemResult, ItemResults, MailChunk, MailItem
from shared.migration_state import EMAILS


def as_chunks(item: MailItem, limit: int) -> Iterator[MailItem | MailChunk]:
    """A message already in memory (sources without partial fetch), cut to the inline limit if needed."""
    if len(item.data) <= limit:
        yield item
        return
    pieces = [item.data[i:i + limit] for i in range(0, len(item.data), limit)]
    for seq, piece in enumerate(pieces):
        yield MailChunk(migration_id=item.migration_id, item_key=item.meta.item_key, seq=seq,
                        last=seq == len(pieces) - 1, meta=item.meta if seq == 0 else None, data=piece)


class WholeItemSource(ABC):
    """The ``list_items`` and ``fetch`` of the Source port for a source that names its items by reference
    and fetches each whole; the source says how (:meth:`item_refs`, :meth:`key`, :meth:`whole`)."""

    @abstractmethod
    def item_refs(self, name: str) -> list[str]:
        """The folder's items, by reference, oldest first."""

    @abstractmethod
    def key(self, folder_id: str, ref: str) -> str:
        """The ledger identity of an item."""

    @abstractmethod
    def whole(self, task: ExtractTask) -> Iterator[MailItem | ItemResults]:
        """The task's messages, each in one piece (an unreadable one as a failed result)."""

    def list_items(self, folders: Sequence[FolderRef], larger_than: int) -> dict[str, ItemListing]:
        return listings(folders, self.item_refs, self.key)

    def fetch(self, task: ExtractTask, limits: FetchLimits) -> Iterator[Fetched]:
        keys = [self.key(task.folder.folder_id, r) for r in task.refs]
        return whole_items(task, self.whole(task), keys, limits.inline_limit)


def listings(folders: Sequence[FolderRef], refs_of: Callable[[str], list[str]],
             key: Callable[[str, str], str]) -> dict[str, ItemListing]:
    """Each folder's item references (``refs_of(source_name)``) with their ledger keys (``key(folder_id, ref)``)."""
    out = {}
    for f in folders:
        refs = refs_of(f.source_name)
        out[f.source_name] = ItemListing(uidvalidity=0, uids=(), refs=refs, keys=[key(f.folder_id, r) for r in refs])
    return out


def whole_items(task: ExtractTask, fetched: Iterable[MailItem | ItemResults], keys: Sequence[str],
                inline_limit: int) -> Iterator[Fetched]:
    """The fetched messages cut to the inline limit; results as they come; then every key of ``keys``
    (the task's items) that was neither fetched nor reported, as deleted from the source meanwhile."""
    seen: set[str] = set()
    for item in fetched:
        if isinstance(item, ItemResults):  # an item that could not be read: reported, not sent
            seen.update(r.item_key for r in item.results)
            yield item
            continue
        seen.add(item.meta.item_key)
        yield from as_chunks(item, inline_limit)
    gone = [k for k in keys if k not in seen]
    if gone:
        yield ItemResults(migration_id=task.migration_id, operation=EMAILS, results=[
            ItemResult(item_key=k, result="skipped", folder=task.folder.display,
                       reason="deleted from the source while the migration ran") for k in gone])
