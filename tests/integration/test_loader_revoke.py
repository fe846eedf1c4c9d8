"""A loader that loses a partition forgets its half-built large messages there (a real broker's rebalance):
otherwise the first chunk's offset would hold that partition's commits back when it came back after another
loader had gone on with it."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Message, Producer

from services.loader.chunks import ChunkAssembler
from shared import kafka_edge, topics
from shared.events import FolderRef, MailChunk, MailMeta
from shared.prefetch import Prefetcher, PreparedBatch
from tests.servers import Process


def test_a_partition_taken_away_drops_its_unfinished_chunks(broker: Process, tmp_path: Path) -> None:
    prefix = f"revoke{secrets.token_hex(4)}."
    kafka_edge.ensure_topics(broker.address, prefix, 2, specs=[topics.ITEMS])
    items = topics.ITEMS.full_name(prefix)
    group = f"{prefix}loader"
    assembler = ChunkAssembler(tmp_path / "spool")
    meta = MailMeta(item_key="k1", folder=FolderRef(folder_id="f", path=["INBOX"]), flags=[],
                    internaldate=datetime(2026, 1, 1, tzinfo=UTC), size=10)
    first = kafka_edge.BatchConsumer(broker.address, group, [items])
    first.on_revoke(assembler.forget_partitions)  # as the loader's service wires it (services/loader/service.py)
    second = None
    try:
        deadline = time.monotonic() + 30
        while not first.assigned and time.monotonic() < deadline:
            first.poll_batch(10, 0.2)
        assert first.assigned
        # A large message begun at offset 7 of partition 0, its last chunk not come yet.
        assembler.add(MailChunk(migration_id="m", item_key="k1", seq=0, last=False, meta=meta, data=b"12345"),
                      (items, 0), 7)
        assert assembler.barrier((items, 0)) == 7
        second = kafka_edge.BatchConsumer(broker.address, group, [items])  # a second loader joins: a rebalance
        deadline = time.monotonic() + 30
        while assembler.barrier((items, 0)) is not None and time.monotonic() < deadline:
            first.poll_batch(10, 0.1)
            second.poll_batch(10, 0.1)
        assert assembler.barrier((items, 0)) is None
        assert assembler.items == {}
    finally:
        first.close()
        if second is not None:
            second.close()


class Parts:
    """What a prepared part holds (the records' places), growing as the loader's decoded batch does."""

    def __init__(self, batch: list[Message]) -> None:
        self.places = [(m.partition(), m.offset()) for m in batch]

    def absorb(self, later: Parts) -> None:
        self.places += later.places


def test_records_of_a_partition_taken_away_leave_the_waiting_batch(broker: Process) -> None:
    """A real broker's rebalance while the prefetcher holds a waiting batch: the batch the loop then takes holds
    the records of the partitions this consumer still has, each once, and none of those it lost (their new
    owner reads them; written by both at once they could arrive twice)."""
    prefix = f"revoke{secrets.token_hex(4)}."
    kafka_edge.ensure_topics(broker.address, prefix, 2, specs=[topics.ITEMS])
    items = topics.ITEMS.full_name(prefix)
    producer = Producer({"bootstrap.servers": broker.address})
    for partition in (0, 1):
        for n in range(3):
            producer.produce(items, value=f"{partition}-{n}".encode(), partition=partition)
    assert producer.flush(30) == 0
    prepared: list[int] = []
    first = kafka_edge.BatchConsumer(broker.address, f"{prefix}loader", [items])
    fetcher = Prefetcher(first, lambda batch: (prepared.append(len(batch)), Parts(batch))[1], batch_size=100,
                         linger=0.0, batch_bytes=0)
    second = None
    try:
        deadline = time.monotonic() + 30
        while sum(prepared) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(prepared) == 6  # both partitions' records wait; the loop has taken none
        second = kafka_edge.BatchConsumer(broker.address, f"{prefix}loader", [items])
        got_by_second: list[Message] = []
        deadline = time.monotonic() + 30
        while not got_by_second and time.monotonic() < deadline:
            got_by_second += second.poll_batch(10, 0.2)
        assert got_by_second, "the second consumer was given no partition with records"
        lost = {m.partition() for m in got_by_second}
        assert len(lost) == 1
        kept = {0, 1} - lost
        places: list[tuple[int | None, int | None]] = []
        deadline = time.monotonic() + 20
        while len(places) < 3 and time.monotonic() < deadline:  # read again after the rebalance, if dropped
            batch = fetcher.poll_batch(100, 0.5)
            places += [(m.partition(), m.offset()) for m in batch]
            assert isinstance(batch, PreparedBatch) or not batch
            if batch and batch.made is not None:  # type: ignore[attr-defined]
                assert sorted(batch.made.places) == sorted(  # type: ignore[attr-defined]
                    (m.partition(), m.offset()) for m in batch)
        places += [(m.partition(), m.offset()) for m in fetcher.poll_batch(100, 1.0)]  # nothing more comes
        assert sorted(places) == [(p, n) for p in sorted(kept) for n in range(3)]  # each once, none of the lost
    finally:
        fetcher.close()
        if second is not None:
            second.close()
