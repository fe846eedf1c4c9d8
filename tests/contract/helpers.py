"""What the contract tests share: sample messages, and the durable write path over memory edges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from shared import topics
from shared.adapters.ports import MailRecord, PlacementSink, Target, WriteContext
from shared.durable_write import DurableWrite
from shared.events import CreatedThing, FolderRef, MailMeta, UndoRecords
from shared.folder_map import folder_id
from shared.item_keys import item_key
from shared.memory.broker import MemoryBroker
from shared.memory.ledger import MemoryLedgers
from shared.metrics import ServiceMetrics
from tests.contract.rigs import Seed

T0 = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)


def message(n: int, size: int = 0, message_id: str = "") -> bytes:
    head = (f"From: a@old.test\r\nTo: b@new.test\r\nMessage-ID: {message_id or f'<c{n}@old.test>'}\r\n"
            f"Subject: message {n}\r\nDate: Sat, 1 Jun 2024 08:30:00 +0000\r\n\r\n").encode()
    body = b"".join(f"line {i} of message {n}\r\n".encode() for i in range(max(1, (size - len(head)) // 22)))
    return head + body


def seed(n: int, flags: tuple[str, ...] = (), size: int = 0) -> Seed:
    return Seed(message(n, size), flags, T0 + timedelta(days=n))


def ref(path: str) -> FolderRef:
    parts = path.split("/")
    return FolderRef(folder_id=folder_id(path), path=parts, source_name=path)


def record(folder: str, n: int, flags: tuple[str, ...] = (), data: bytes = b"", when: datetime | None = None
           ) -> MailRecord:
    body = data or message(n)
    meta = MailMeta(item_key=item_key(folder_id(folder), 1, n), folder=ref(folder), flags=list(flags),
                    internaldate=when or T0 + timedelta(days=n), size=len(body), message_id=f"<c{n}@old.test>",
                    subject=f"message {n}")
    return MailRecord(meta, body)


class Edges:
    """A ledger and a broker in memory: the durable path's stores, read back by the tests."""

    def __init__(self, mid: str = "m-contract", pair: str = "p-contract") -> None:
        self.ledgers = MemoryLedgers()
        self.broker = MemoryBroker()
        self.mid, self.pair = mid, pair

    def writes(self) -> DurableWrite:
        return DurableWrite(self.ledgers.ledger(self.pair), self.broker.producer(),
                            ServiceMetrics(CollectorRegistry(), "loader"), self.mid, self.pair)

    def undo_records(self) -> list[str]:
        return self.ledgers.ledger(self.pair).undo_index(self.mid)

    def undone(self) -> list[CreatedThing]:
        return [r for e in self.broker.events(topics.UNDO) if isinstance(e, UndoRecords) for r in e.records]


class Lost:
    """Any target whose answer is lost: it writes, then the connection drops before it reports."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def write(self, records: Sequence[Any], ctx: WriteContext, sink: PlacementSink) -> None:
        self.target.write(records, ctx, _Deaf())
        from shared.errors import Transient

        raise Transient("the answer was lost")


class _Deaf:
    def placed(self, *args: Any, **kw: Any) -> None:
        return None

    def rejected(self, *args: Any, **kw: Any) -> None:
        return None

    def undoable(self, *args: Any, **kw: Any) -> None:
        return None


def opener(target: Target[Any]) -> Callable[[], Target[Any]]:
    return lambda: target
