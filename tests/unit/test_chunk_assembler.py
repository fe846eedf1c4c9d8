"""Reassembling large messages from chunks: order, retries, restarts, commit barriers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.loader.chunks import ChunkAssembler, Completed
from shared.events import FolderRef, MailChunk, MailMeta

P0 = ("items", 0)
P1 = ("items", 1)
FOLDER = FolderRef(folder_id="f", path=["INBOX"])


def meta(key: str) -> MailMeta:
    return MailMeta(item_key=key, folder=FOLDER, flags=[], internaldate=datetime(2024, 1, 1, tzinfo=UTC), size=9)


def chunks(key: str, pieces: list[bytes], mid: str = "m") -> list[MailChunk]:
    return [MailChunk(migration_id=mid, item_key=key, seq=i, last=i == len(pieces) - 1,
                      meta=meta(key) if i == 0 else None, data=p) for i, p in enumerate(pieces)]


@pytest.fixture
def asm(tmp_path: Path) -> ChunkAssembler:
    return ChunkAssembler(tmp_path / "spool")


def feed(asm: ChunkAssembler, items: list[MailChunk], partition: tuple[str, int] = P0,
         first_offset: int = 0) -> list[Completed | None]:
    return [asm.add(c, partition, first_offset + i) for i, c in enumerate(items)]


def test_in_order_chunks_complete_once_with_the_whole_message(asm: ChunkAssembler) -> None:
    out = feed(asm, chunks("k", [b"abc", b"\xff\x00", b"xyz"]))
    assert out[:2] == [None, None]
    done = out[2]
    assert done is not None
    assert done.migration_id == "m" and done.meta == meta("k")
    assert done.path.read_bytes() == b"abc\xff\x00xyz"
    assert done.path.parent == asm.spool


def test_interleaved_items_and_migrations_stay_apart(asm: ChunkAssembler) -> None:
    a = chunks("a", [b"A1", b"A2"])
    b = chunks("b", [b"B1", b"B2", b"B3"])
    a_other = chunks("a", [b"X1", b"X2"], mid="other")
    order = [a[0], b[0], a_other[0], a[1], b[1], a_other[1], b[2]]
    done = [d for d in (asm.add(c, P0, i) for i, c in enumerate(order)) if d]
    assert [(d.migration_id, d.meta.item_key, d.path.read_bytes()) for d in done] == [
        ("m", "a", b"A1A2"), ("other", "a", b"X1X2"), ("m", "b", b"B1B2B3")]


def test_retried_batch_gives_the_same_completion_and_writes_nothing(asm: ChunkAssembler) -> None:
    items = chunks("k", [b"one", b"two", b"three"])
    first = feed(asm, items)
    assert first[-1] is not None
    content = first[-1].path.read_bytes()
    # The batch from seq 1 is delivered again (no commit happened): applied twice equals applied once.
    again = [asm.add(c, P0, i + 1) for i, c in enumerate(items[1:])]
    assert again == [None, first[-1]]
    assert first[-1].path.read_bytes() == content == b"onetwothree"


def test_seq_zero_restarts_the_item(asm: ChunkAssembler) -> None:
    items = chunks("k", [b"one", b"two", b"three"])
    feed(asm, items[:2])
    # A rebalance re-reads from the first chunk: the whole batch again gives the same message.
    out = feed(asm, items, first_offset=10)
    assert out[-1] is not None
    assert out[-1].path.read_bytes() == b"onetwothree"
    # And the whole sequence once more after completion (also a restart): still the same.
    out2 = feed(asm, items, first_offset=10)
    assert out2[-1] is not None and out2[-1].path.read_bytes() == b"onetwothree"


def test_chunk_without_its_start_is_ignored(asm: ChunkAssembler) -> None:
    items = chunks("k", [b"a", b"b"])
    assert asm.add(items[1], P0, 5) is None
    assert asm.items == {}
    assert asm.barrier(P0) is None


def test_gap_is_an_error(asm: ChunkAssembler) -> None:
    items = chunks("k", [b"a", b"b", b"c"])
    asm.add(items[0], P0, 0)
    with pytest.raises(ValueError, match="arrived before chunk 1"):
        asm.add(items[2], P0, 2)


def test_barrier_is_the_first_offset_of_the_oldest_unfinished_item(asm: ChunkAssembler) -> None:
    a = chunks("a", [b"1", b"2"])
    b = chunks("b", [b"1", b"2"])
    c = chunks("c", [b"1", b"2"])
    assert asm.barrier(P0) is None
    asm.add(a[0], P0, 100)
    asm.add(b[0], P0, 101)
    asm.add(c[0], P1, 50)
    assert asm.barrier(P0) == 100
    assert asm.barrier(P1) == 50
    asm.add(a[1], P0, 102)
    assert asm.barrier(P0) == 101  # a is complete: no longer holds the commit back
    asm.add(b[1], P0, 103)
    assert asm.barrier(P0) is None
    assert asm.barrier(("other-topic", 0)) is None


def test_restart_moves_the_barrier_to_the_new_first_offset(asm: ChunkAssembler) -> None:
    items = chunks("k", [b"1", b"2"])
    asm.add(items[0], P0, 7)
    asm.add(items[0], P0, 20)
    assert asm.barrier(P0) == 20


def test_release_removes_the_file(asm: ChunkAssembler) -> None:
    done = feed(asm, chunks("k", [b"a", b"b"]))[-1]
    assert done is not None and done.path.exists()
    asm.release("m", "k")
    assert not done.path.exists()
    assert asm.items == {}
    asm.release("m", "k")  # twice is harmless


def test_forget_partitions(asm: ChunkAssembler) -> None:
    a, b = chunks("a", [b"1", b"2"]), chunks("b", [b"1", b"2"])
    asm.add(a[0], P0, 3)
    asm.add(b[0], P1, 4)
    path_a = asm.items["m/a"].path
    asm.forget_partitions([P0])
    assert not path_a.exists()
    assert asm.barrier(P0) is None
    assert asm.barrier(P1) == 4
    # The new owner's later chunks without a start are ignored; from seq 0 it works again.
    assert asm.add(a[1], P0, 5) is None
    assert feed(asm, a, first_offset=3)[-1] is not None


def test_a_new_assembler_starts_with_an_empty_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "stale").write_bytes(b"old")
    ChunkAssembler(spool)
    assert list(spool.iterdir()) == []
