"""Reassembling large messages from their chunks, on disk, never whole in memory.

Chunks of one item arrive in order on one partition (same key), possibly
interleaved with other items. The loader must not commit past the first chunk
of an item it has not finished: :meth:`ChunkAssembler.barrier` gives that offset.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from shared.events import MailChunk, MailMeta

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    path: Path
    partition: tuple[str, int]
    first_offset: int
    meta: MailMeta
    next_seq: int = 0
    complete: bool = False
    size: int = 0


@dataclass(frozen=True)
class Completed:
    migration_id: str
    meta: MailMeta
    path: Path


@dataclass
class ChunkAssembler:
    """Used from the thread that decodes batches ahead and the one that writes them: one lock."""

    spool: Path
    items: dict[str, Assembly] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        shutil.rmtree(self.spool, ignore_errors=True)
        self.spool.mkdir(parents=True, exist_ok=True)

    def add(self, chunk: MailChunk, partition: tuple[str, int], offset: int) -> Completed | None:
        """Write the chunk; returns the whole message's file once the last chunk is in."""
        with self._lock:
            return self._add(chunk, partition, offset)

    def _add(self, chunk: MailChunk, partition: tuple[str, int], offset: int) -> Completed | None:
        key = f"{chunk.migration_id}/{chunk.item_key}"
        a = self.items.get(key)
        if chunk.seq == 0 and chunk.meta is not None:
            # A first chunk always (re)starts the item: a re-read after a crash or a rebalance.
            name = hashlib.sha256(key.encode()).hexdigest()[:32]
            a = Assembly(self.spool / name, partition, offset, chunk.meta)
            a.path.write_bytes(b"")
            self.items[key] = a
        elif a is None:
            log.warning("chunk without its start; ignored", extra={"migration_id": chunk.migration_id,
                                                                    "item_key": chunk.item_key})
            return None
        if chunk.seq < a.next_seq:
            # Seen already (a retried batch): repeat the completion, write nothing.
            return Completed(chunk.migration_id, a.meta, a.path) if chunk.last and a.complete else None
        if chunk.seq > a.next_seq:
            raise ValueError(f"chunk {chunk.seq} of {chunk.item_key} arrived before chunk {a.next_seq}")
        with a.path.open("ab") as fh:
            fh.write(chunk.data)
        a.size += len(chunk.data)
        a.next_seq += 1
        if chunk.last:
            a.complete = True
            return Completed(chunk.migration_id, a.meta, a.path)
        return None

    def release(self, migration_id: str, item_key: str) -> None:
        with self._lock:
            a = self.items.pop(f"{migration_id}/{item_key}", None)
        if a:
            a.path.unlink(missing_ok=True)

    def barrier(self, partition: tuple[str, int]) -> int | None:
        """The lowest first offset of an unfinished item on this partition, if any."""
        with self._lock:
            offsets = [a.first_offset for a in self.items.values() if a.partition == partition and not a.complete]
        return min(offsets) if offsets else None

    def forget_partitions(self, partitions: list[tuple[str, int]]) -> None:
        """After a rebalance the new owner re-reads those items from their first chunk."""
        with self._lock:
            for key, a in list(self.items.items()):
                if a.partition in partitions:
                    a.path.unlink(missing_ok=True)
                    del self.items[key]
