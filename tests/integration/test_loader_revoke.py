"""A loader that loses a partition forgets its half-built large messages there (a real broker's rebalance):
otherwise the first chunk's offset would hold that partition's commits back when it came back after another
loader had gone on with it."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from services.loader.chunks import ChunkAssembler
from shared import kafka_edge, topics
from shared.events import FolderRef, MailChunk, MailMeta
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
