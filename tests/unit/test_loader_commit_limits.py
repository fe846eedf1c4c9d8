"""Where the loader's commits stop. A batch given up as poison is committed up to, not past, a large message
whose last chunk it has not seen: that message is reported with its last chunk, and committed past its start a
restart would read the rest as chunks without a start, never to be reported. A batch grown from parts commits as
the batch decoded whole would."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.loader.service import Loader
from shared import topics
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.credentials import CredentialStore
from shared.events import FolderRef, MailChunk, MailItem, MailMeta
from shared.memory.broker import MemoryBroker, MemoryMessage
from shared.memory.records import MemoryRecords
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList
from shared.prefetch import PreparedBatch


def meta(key: str) -> MailMeta:
    return MailMeta(item_key=key, folder=FolderRef(folder_id="f", path=["INBOX"]), flags=[],
                    internaldate=datetime(2026, 1, 1, tzinfo=UTC), size=6)


def loader(tmp_path: Path, broker: MemoryBroker) -> Loader:
    records = MemoryRecords()
    return Loader(Settings(spool_dir=tmp_path), records, broker.producer(),
                  CredentialStore(records, MasterKeys.parse(generate_master_key())),
                  AdapterEnv(connect=ConnectOptions(allow=AllowList.parse(""))),
                  ServiceMetrics(CollectorRegistry(), "loader"))


def delivered(broker: MemoryBroker, events: list[MailItem | MailChunk]) -> list[MemoryMessage]:
    """The events on one key (so one partition, offsets from 0), as the loader's consumer gets them."""
    producer = broker.producer()
    for ev in events:
        producer.send(topics.ITEMS, "m", ev)
    producer.flush()
    return broker.consumer("loader", [topics.ITEMS]).poll_batch(50)


def first_chunk() -> MailChunk:
    return MailChunk(migration_id="m", item_key="big", seq=0, last=False, meta=meta("big"), data=b"123")


def last_chunk(last: bool = True) -> MailChunk:
    return MailChunk(migration_id="m", item_key="big", seq=1, last=last, data=b"456")


def test_a_poisoned_batch_stops_at_the_first_chunk_of_an_unfinished_message(tmp_path: Path) -> None:
    broker = MemoryBroker()
    # Offsets 0-3: a message, a large one's first two chunks, another message.
    batch = delivered(broker, [MailItem(migration_id="m", meta=meta("a"), data=b"aaaaaa"), first_chunk(), last_chunk(last=False),
                               MailItem(migration_id="m", meta=meta("b"), data=b"bbbbbb")])
    assert [m.offset() for m in batch] == [0, 1, 2, 3]
    worker = loader(tmp_path, broker)
    worker.prepare(batch)  # decoded ahead, as the prefetcher does: the chunks are on disk
    assert worker.poison(batch, ValueError("a bug")) == [(batch[0].topic(), batch[0].partition(), 1)]


def test_a_poisoned_batch_with_every_message_whole_is_committed_to_its_end(tmp_path: Path) -> None:
    broker = MemoryBroker()
    batch = delivered(broker, [first_chunk(), last_chunk()])
    worker = loader(tmp_path, broker)
    worker.prepare(batch)
    assert worker.poison(batch, ValueError("a bug")) == [(batch[0].topic(), batch[0].partition(), 2)]
    assert worker.chunks.items == {}  # reported failed with its last chunk: its file is gone


def test_parts_decoded_one_after_the_other_make_the_batch_decoded_whole(tmp_path: Path) -> None:
    """What the prefetcher does: the waiting batch's first part decoded, then the records that came meanwhile,
    absorbed. The merged batch holds the large message once whole and commits to its end; with its last chunk
    still to come, it would commit up to the first chunk only."""
    broker = MemoryBroker()
    records = delivered(broker, [MailItem(migration_id="m", meta=meta("a"), data=b"aaaaaa"), first_chunk(), last_chunk(),
                                 MailItem(migration_id="m", meta=meta("b"), data=b"bbbbbb")])
    worker = loader(tmp_path, broker)
    first = worker.prepare(records[:2])
    assert first.safe_offsets == [(records[0].topic(), records[0].partition(), 1)]  # the big one unfinished
    first.absorb(worker.prepare(records[2:]))
    assert first.safe_offsets == [(records[0].topic(), records[0].partition(), 4)]
    mail = first.migrations["m"].mail
    assert [(m.meta.item_key, m.data) for m in mail] == [("a", b"aaaaaa"), ("big", b"123456"), ("b", b"bbbbbb")]
    assert first.finished_chunks == [("m", "big")]


def test_a_batch_whose_later_part_failed_ahead_decodes_that_part_alone(tmp_path: Path) -> None:
    """The prefetcher keeps what the first part made; the loader decodes only the part whose decoding
    ahead failed, so an undecodable record of the first part is dead-lettered once, not twice."""
    broker = MemoryBroker()
    producer = broker.producer()
    producer.send_raw(topics.ITEMS, "m", b"not an event")
    producer.send(topics.ITEMS, "m", MailItem(migration_id="m", meta=meta("a"), data=b"aaaaaa"))
    producer.send_raw(topics.ITEMS, "m", b"\x00 nor this")
    producer.flush()
    records = broker.consumer("loader", [topics.ITEMS]).poll_batch(50)
    worker = loader(tmp_path, broker)
    batch = PreparedBatch(records, worker.prepare(records[:2]), decoded=2)  # the third record's part failed
    assert [d.offset for d in broker.events(topics.ITEMS_FAILED)] == [0]  # type: ignore[attr-defined]
    worker.handle(batch)
    assert [d.offset for d in broker.events(topics.ITEMS_FAILED)] == [0, 2]  # type: ignore[attr-defined]
    assert batch.undecoded() == []
    worker.handle(batch)  # handled again (a retry): decoded no more
    assert [d.offset for d in broker.events(topics.ITEMS_FAILED)] == [0, 2]  # type: ignore[attr-defined]
