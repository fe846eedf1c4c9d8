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


class GroupReader(FolderReader, Protocol):
    """What :func:`run_group` needs besides: several folders' commands in one pipeline."""

    def open_many_with_meta(self, reads: Sequence[tuple[str, Sequence[int]]]
                            ) -> list[tuple[int, dict[int, MessageMeta]]]: ...

    def open_many_with_heads(self, reads: Sequence[tuple[str, Sequence[int]]], head: int
                             ) -> list[tuple[int, dict[int, MessageMeta], dict[int, bytes]]]: ...

    def fetch_bodies_many(self, reads: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, bytes]]: ...


MIN_HEAD = 4096  # a smaller head reads few messages whole: not worth its bytes


def head_bytes(messages: int, limits: FetchLimits) -> int:
    """How much of each message :func:`run_group` reads with its metadata: a fetch batch's bytes shared by the
    group's messages, at most the inline limit (a message read whole there is an inline one); 0 for none."""
    head = min(limits.inline_limit, limits.fetch_batch_bytes // max(1, messages))
    return head if head >= MIN_HEAD else 0


#: A batch of one task to emit: its UIDVALIDITY, its messages, and the bodies already read (by UID).
_Read = tuple[ExtractTask, int, list[MessageMeta], dict[int, bytes]]


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
    uidvalidity, metas = source.open_with_meta(task.folder.source_name, task.uids)
    results, ordered = _opened(task, uidvalidity, metas)
    yield from results
    for batch in batches(ordered, limits):
        if len(batch) == 1 and batch[0].size > limits.inline_limit:
            yield from _chunked(task, source, batch[0], limits)
            continue
        yield from _items(task, uidvalidity, batch, source.fetch_bodies([m.uid for m in batch]))


def run_group(tasks: Sequence[ExtractTask], source: GroupReader,
              limits: FetchLimits) -> Iterator[tuple[ExtractTask, Fetched]]:
    """Several small tasks of one migration (a small mailbox's folders) on one session in few round trips:
    every folder opened and its metadata read in one pipeline, with each message's first bytes
    (:func:`head_bytes`): a message shorter than that is read then. The others' bodies follow, as many
    folders' batches as fit in a fetch batch's bytes per pipeline (each FETCH after its folder's EXAMINE). A
    small mailbox of short messages costs one round trip. Each event comes with the task it belongs to, in
    task order; messages above the inline limit are read in pieces as :func:`run_task` does."""
    head = head_bytes(sum(len(t.uids) for t in tasks), limits)
    wanted = [(t.folder.source_name, t.uids) for t in tasks]
    opened = source.open_many_with_heads(wanted, head) if head else \
        [(validity, metas, {}) for validity, metas in source.open_many_with_meta(wanted)]
    reads: list[_Read] = []
    large: list[tuple[ExtractTask, MessageMeta]] = []
    for task, (uidvalidity, metas, heads) in zip(tasks, opened, strict=True):
        results, ordered = _opened(task, uidvalidity, metas)
        for event in results:
            yield task, event
        whole = {uid: data for uid, data in heads.items() if len(data) < head}  # less than asked: all of it
        for batch in batches(ordered, limits):
            if len(batch) == 1 and batch[0].size > limits.inline_limit and batch[0].uid not in whole:
                large.append((task, batch[0]))
            else:
                reads.append((task, uidvalidity, batch, {m.uid: whole[m.uid] for m in batch if m.uid in whole}))
    for round_ in _rounds(reads, limits):
        missing = [[m.uid for m in batch if m.uid not in known] for _t, _v, batch, known in round_]
        asked = [(t.folder.source_name, uids) for (t, _v, _b, _k), uids in zip(round_, missing, strict=True) if uids]
        fetched = iter(source.fetch_bodies_many(asked) if asked else [])
        for (task, uidvalidity, batch, known), uids in zip(round_, missing, strict=True):
            found = {**known, **next(fetched)} if uids else known
            for event in _items(task, uidvalidity, batch, found):
                yield task, event
    for task, m in large:
        source.open_folder(task.folder.source_name)
        for event in _chunked(task, source, m, limits):
            yield task, event


def _rounds(reads: list[_Read], limits: FetchLimits) -> Iterator[list[_Read]]:
    """Batches grouped so that one pipeline fetches at most a fetch batch's bytes (one batch may hold it
    alone); bodies already read count nothing, so batches read whole with their metadata need no round trip."""
    round_: list[_Read] = []
    total = 0
    for read in reads:
        size = sum(m.size for m in read[2] if m.uid not in read[3])
        if round_ and total + size > limits.fetch_batch_bytes:
            yield round_
            round_, total = [], 0
        round_.append(read)
        total += size
    if round_:
        yield round_


def _opened(task: ExtractTask, uidvalidity: int,
            metas: dict[int, MessageMeta]) -> tuple[list[Fetched], list[MessageMeta]]:
    """The results of opening the task's folder (all failed if it was reset, the vanished ones skipped), and
    the messages to read, in task order."""
    folder = task.folder
    if uidvalidity != task.uidvalidity:
        return [results_event(task, [
            ItemResult(item_key=item_key(folder.folder_id, task.uidvalidity, u), result="failed",
                       folder=folder.display, subject=f"UID {u}",
                       reason="the source folder was reset (UIDVALIDITY changed); run the migration again")
            for u in task.uids])], []
    vanished = [u for u in task.uids if u not in metas]
    results: list[Fetched] = []
    if vanished:
        results.append(results_event(task, [
            ItemResult(item_key=item_key(folder.folder_id, uidvalidity, u), result="skipped",
                       folder=folder.display, subject=f"UID {u}",
                       reason="deleted from the source while the migration ran") for u in vanished]))
    return results, [metas[u] for u in task.uids if u in metas]


def _items(task: ExtractTask, uidvalidity: int, batch: Sequence[MessageMeta],
           bodies: dict[int, bytes]) -> Iterator[Fetched]:
    folder = task.folder
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
