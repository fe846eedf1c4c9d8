"""A folder the loader created stays undoable when the batch that created it fails and is retried.

Real Dovecot, Redis and broker. The first attempt loses its connection after the folders are
created and before any message is written (as a dropped IMAP connection does); the retry finds the
folder already there. Undo must still remove it: the target, read back with imapclient, has exactly
the folders it had before.
"""

from __future__ import annotations

import imaplib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry

from services.loader.undo_plan import build_plan
from services.loader.undo_run import UndoRunner
from shared import net_guard
from shared.adapters.imap.connection import login_imap
from shared.adapters.imap.target import ImapTarget
from shared.adapters.imap.undo import ImapUndo
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import MailRecord, Outgoing, Placed
from shared.durable_write import DurableWrite
from shared.errors import ItemRejected
from shared.events import FolderRef, MailMeta, UndoProgress
from shared.kafka_edge import EventProducer, ensure_topics, make_producer
from shared.ledger import RedisLedger
from shared.metrics import ServiceMetrics
from tests.conftest import Accounts
from tests.servers import Process

pytestmark = pytest.mark.integration


class ConnectionLost(ImapTarget):
    """The real target, whose connection drops the first time messages are to be written."""

    dropped = False

    def append_pipelined(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        if not ConnectionLost.dropped:
            ConnectionLost.dropped = True
            raise imaplib.IMAP4.abort("socket error: EOF")
        return super().append_pipelined(jobs)


def folders(accounts: Accounts, login: str) -> set[str]:
    with accounts.client(login) as c:
        return {name for _flags, _delim, name in c.list_folders()}


def test_folders_created_by_a_failed_attempt_are_removed_by_undo(
        accounts: Accounts, redis_client: redis_lib.Redis, broker: Process) -> None:
    dst = accounts.new("dst")
    before = folders(accounts, dst)
    prefix = f"retry{secrets.token_hex(3)}."
    ensure_topics(broker.address, prefix, 1)
    producer = EventProducer(make_producer(broker.address), prefix)
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    ledger = RedisLedger(redis_client, pair)
    metrics = ServiceMetrics(CollectorRegistry(), "loader")
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)

    def target(cls: type[ImapTarget] = ImapTarget) -> ImapTarget:
        server = accounts.server
        return cls(login_imap("127.0.0.1", server.imap_port, "none", False, dst, accounts.passwords[dst], opts))

    projects = FolderRef(folder_id="f-projects", path=["Projekte", "2026"])
    meta = MailMeta(item_key="k1", folder=projects, flags=["\\Seen"], internaldate=datetime(2026, 2, 3, tzinfo=UTC),
                    size=40, message_id="<k1@old.test>", subject="one")
    mails = [MailRecord(meta, b"Message-ID: <k1@old.test>\r\nSubject: one\r\n\r\nbody\r\n")]
    writes = DurableWrite(ledger, producer, metrics, mid, pair)

    with pytest.raises(imaplib.IMAP4.abort):
        writes.write_mail(mails, [projects], lambda: target(ConnectionLost))
    assert folders(accounts, dst) == before | {"Projekte", "Projekte/2026"}
    writes.write_mail(mails, [projects], target)  # the batch redelivered

    plan = build_plan(ledger.undo_index(mid))
    progress: list[UndoProgress] = []
    finished = UndoRunner(mid, ImapUndo(target()), progress.append).run(plan)
    assert finished.removed_messages == 1 and finished.kept == []
    assert folders(accounts, dst) == before
    assert progress[-1].done == progress[-1].total == 3


class Died(BaseException):
    """The process killed (nothing after this point runs: no handler, no record)."""


class DiesAfterCreate(ImapTarget):
    """The real target; the process dies as soon as the server has created the folders."""

    def ensure_folders(self, names: Sequence[str], announce: Any = None) -> list[str]:
        super().ensure_folders(names, announce)
        raise Died


def test_folders_created_just_before_the_process_died_are_removed_by_undo(
        accounts: Accounts, redis_client: redis_lib.Redis, broker: Process) -> None:
    """Killed between the server's answer to CREATE and anything recorded after it: the folders were on the
    record before the CREATE, so undo removes them (recorded after it, the retry found them there, could not
    tell them from the user's, and undo left them)."""
    dst = accounts.new("dst")
    before = folders(accounts, dst)
    prefix = f"died{secrets.token_hex(3)}."
    ensure_topics(broker.address, prefix, 1)
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    ledger = RedisLedger(redis_client, pair)
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)

    def target(cls: type[ImapTarget] = ImapTarget) -> ImapTarget:
        return cls(login_imap("127.0.0.1", accounts.server.imap_port, "none", False, dst, accounts.passwords[dst],
                              opts))

    def writes() -> DurableWrite:  # each "process" its own producer and metrics
        return DurableWrite(ledger, EventProducer(make_producer(broker.address), prefix),
                            ServiceMetrics(CollectorRegistry(), "loader"), mid, pair)

    archive = FolderRef(folder_id="f-archive", path=["Ablage", "Alt"])
    meta = MailMeta(item_key="k1", folder=archive, flags=[], internaldate=datetime(2026, 2, 3, tzinfo=UTC),
                    size=40, message_id="<k1@old.test>", subject="one")
    mails = [MailRecord(meta, b"Message-ID: <k1@old.test>\r\nSubject: one\r\n\r\nbody\r\n")]
    with pytest.raises(Died):
        writes().write_mail(mails, [archive], lambda: target(DiesAfterCreate))
    assert folders(accounts, dst) == before | {"Ablage", "Ablage/Alt"}
    writes().write_mail(mails, [archive], target)  # the batch redelivered to a new loader

    finished = UndoRunner(mid, ImapUndo(target()), lambda _p: None).run(build_plan(ledger.undo_index(mid)))
    assert finished.removed_messages == 1 and finished.removed_folders == 2 and finished.kept == []
    assert folders(accounts, dst) == before
