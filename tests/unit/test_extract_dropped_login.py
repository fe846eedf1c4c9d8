"""A source that drops the connection while a task logs in again is retried, not the migration's end."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from services.extractor.service import Extractor
from shared.config import Settings
from shared.errors import AuthenticationFailed, ConnectionCheckFailed, ServerUnreachable
from shared.events import EndpointSpec, ExtractTask, FolderRef, MigrationFailed
from shared.metrics import ServiceMetrics

SPEC = EndpointSpec(type="imap", host="imap.example.test", port=143, security="none", login="a@example.test",
                    password_sealed="x")


class Producer:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, _spec: Any, _key: str, event: Any) -> None:
        self.sent.append(event)

    def flush(self, *_a: Any) -> None:
        pass


class Gate:
    def wait(self, _host: str) -> None:
        pass


class Pool:
    """Every login fails with ``error``."""

    def __init__(self, error: ConnectionCheckFailed) -> None:
        self.error = error
        self.gate = Gate()
        self.dropped: list[tuple[str, int | None]] = []

    @contextlib.contextmanager
    def lease(self, _mid: str, _spec: EndpointSpec, _slot: int) -> Iterator[Any]:
        raise self.error
        yield  # pragma: no cover

    def drop(self, mid: str, slot: int | None = None) -> None:
        self.dropped.append((mid, slot))


def run_with(error: ConnectionCheckFailed) -> tuple[Producer, Pool, BaseException | None]:
    producer, pool = Producer(), Pool(error)
    ex = Extractor(Settings(), None, producer, pool, ServiceMetrics(CollectorRegistry(), "extractor"))  # type: ignore[arg-type]
    task = ExtractTask(migration_id="m1", task_id="t1", source=SPEC, folder=FolderRef(folder_id="f", path=["INBOX"]),
                       uidvalidity=1, uids=[1, 2])
    raised: BaseException | None = None
    try:
        ex.run(task, 0)
    except Exception as exc:
        raised = exc
    return producer, pool, raised


def test_a_connection_dropped_at_login_is_raised_for_the_retry_and_fails_nothing() -> None:
    producer, pool, raised = run_with(ServerUnreachable("127.0.0.1:143 closed the connection"))
    assert isinstance(raised, ServerUnreachable)
    assert producer.sent == []  # no item failed, no MigrationFailed
    assert pool.dropped == [("m1", 0)]


def test_a_login_refused_for_good_still_ends_the_migration() -> None:
    producer, _pool, raised = run_with(AuthenticationFailed("the password was changed"))
    assert raised is None
    assert any(isinstance(e, MigrationFailed) for e in producer.sent)

