"""Running one IMAP extract task: fetch a slice of a folder in batches and turn it into item events.

Small messages are fetched many per round trip (bounded by bytes); a message
above the inline limit is fetched and sent in pieces, so neither the extractor
nor a Kafka record ever holds more than one piece of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from shared.adapters.imap.fetch_parse import MessageMeta
from shared.adapters.ports import Fetched, FetchLimits
from shared.events import ExtractTask, ItemResult, ItemResults, MailChunk, MailItem, MailMeta
from shared.item_keys import item_key
from shared.mail_headers import header_fields
from shared.migration_state import EMAILS

MAX_MESSAGES_PER_FETCH = 200


class FolderReader(Protocol):
    """What a task needs of the IMAP source session (:class:`shared.adapters.imap.source.ImapSource`)."""

    def open_folder(self, name: str) -> int: ...

    def open_with_meta(self, name: str, uids: Sequence[int]) -> tuple[int, dict[int, MessageMeta]]: ...

    def fetch_meta(self, uids: Sequence[int]) -> dict[int, MessageMeta]: ...

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]: ...

    def fetch_ranges(self, uid: int, piece: int, per_fetch: int = 1) -> Iterator[bytes]: ...


def batches(metas: Sequence[MessageMeta], limits: FetchLimits) -> Iterator[list[MessageMeta]]:
    """Consecutive small messages grouped up to a byte budget; large ones alone."""
    batch: list[MessageMeta] = []
    total = 0
    for m in metas:
        if m.size > limits.inline_limit:
            if batch:
                yield batch
                batch, total = [], 0
            yield [m]
            continue
        if batch and (total + m.size > limits.fetch_batch_bytes or len(batch) >= MAX_MESSAGES_PER_FETCH):
            yield batch
            batch, total = [], 0
        batch.append(m)
        total += m.size
    if batch:
        yield batch


def results_event(task: ExtractTask, results: list[ItemResult]) -> ItemResults:
    return ItemResults(migration_id=task.migration_id, operation=EMAILS, results=results)


def run_task(task: ExtractTask, source: FolderReader, limits: FetchLimits) -> Iterator[Fetched]:
    """Yields item events (for ``items``) and ItemResults (for ``progress``), in order."""
    folder = task.folder
    uidvalidity, metas = source.open_with_meta(folder.source_name, task.uids)
    if uidvalidity != task.uidvalidity:
        yield results_event(task, [
            ItemResult(item_key=item_key(folder.folder_id, task.uidvalidity, u), result="failed",
                       folder=folder.display, subject=f"UID {u}",
                       reason="the source folder was reset (UIDVALIDITY changed); run the migration again")
            for u in task.uids])
        return
    vanished = [u for u in task.uids if u not in metas]
    if vanished:
        yield results_event(task, [
            ItemResult(item_key=item_key(folder.folder_id, uidvalidity, u), result="skipped",
                       folder=folder.display, subject=f"UID {u}",
                       reason="deleted from the source while the migration ran") for u in vanished])
    ordered = [metas[u] for u in task.uids if u in metas]
    for batch in batches(ordered, limits):
        if len(batch) == 1 and batch[0].size > limits.inline_limit:
            yield from _chunked(task, source, batch[0], limits)
            continue
        bodies = source.fetch_bodies([m.uid for m in batch])
        for m in batch:
            data = bodies.get(m.uid)
            key = item_key(folder.folder_id, uidvalidity, m.uid)
            if data is None:
                yield results_event(task, [ItemResult(item_key=key, result="skipped", folder=folder.display,
                                                      subject=f"UID {m.uid}",
                                                      reason="deleted from the source while the migration ran")])
                continue
            message_id, subject = header_fields(data)
            meta = MailMeta(item_key=key, folder=folder, flags=list(m.flags), internaldate=m.internaldate,
                            size=len(data), message_id=message_id, subject=subject)
            yield MailItem(migration_id=task.migration_id, meta=meta, data=data)


def _chunked(task: ExtractTask, source: FolderReader, m: MessageMeta, limits: FetchLimits) -> Iterator[Fetched]:
    key = item_key(task.folder.folder_id, task.uidvalidity, m.uid)
    pieces = source.fetch_ranges(m.uid, limits.inline_limit, limits.pieces_per_fetch)
    first = next(pieces, b"")
    if not first:
        yield results_event(task, [ItemResult(item_key=key, result="skipped", folder=task.folder.display,
                                              subject=f"UID {m.uid}",
                                              reason="deleted from the source while the migration ran")])
        return
    message_id, subject = header_fields(first)
    meta = MailMeta(item_key=key, folder=task.folder, flags=list(m.flags), internaldate=m.internaldate,
                    size=m.size, message_id=message_id, subject=subject)
    seq = 0
    current: bytes | None = first
    for nxt in pieces:
        yield MailChunk(migration_id=task.migration_id, item_key=key, seq=seq, last=False,
                        meta=meta if seq == 0 else None, data=current or b"")
        current, seq = nxt, seq + 1
    yield MailChunk(migration_id=task.migration_id, item_key=key, seq=seq, last=True,
                    meta=meta if seq == 0 else None, data=current or b"")
