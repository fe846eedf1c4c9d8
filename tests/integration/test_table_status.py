"""The tracker's tables as its status, projected into a real Redis: an event applied twice changes nothing.

The tables are plain dicts here (faust's Table is a mutable mapping whose changelog brings it back); the
Redis view is the real :class:`shared.status_store.StatusStore`. Expected figures are counted by hand.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

import redis as redis_lib

from services.tracker.fold import fold_all
from services.tracker.table_status import TableStatus
from shared import migration_state as ms
from shared.events import Event, ItemResult, ItemResults, OperationPlanned, OperationStarted
from shared.status_store import StatusStore

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def results(mid: str, *keys: str) -> ItemResults:
    return ItemResults(migration_id=mid, operation="emails", occurred_at=AT, results=[
        ItemResult(item_key=key, item_type="email", result="done", bytes=100) for key in keys])


def created(r: redis_lib.Redis) -> str:
    mid = secrets.token_urlsafe(16)
    StatusStore(r).create(mid, {"options": json.dumps(["emails"])}, "{}", "wrapped")
    return mid


def apply(keeper: TableStatus, mid: str, events: list[Event]) -> None:
    keys = [r.item_key for ev in events if isinstance(ev, ItemResults) for r in ev.results]
    before = keeper.load(mid, keys)
    assert before is not None
    keeper.save(mid, before, fold_all(before, events))


def test_an_event_applied_twice_or_after_a_restart_counts_once(redis_client: redis_lib.Redis) -> None:
    mid = created(redis_client)
    statuses: dict[str, Any] = {}
    table_results: dict[str, Any] = {}
    keeper = TableStatus(statuses, table_results, StatusStore(redis_client))
    start = [OperationStarted(migration_id=mid, operation="emails", occurred_at=AT),
             OperationPlanned(migration_id=mid, operation="emails", total=3, folders=0, tasks=1, occurred_at=AT)]
    apply(keeper, mid, start)
    apply(keeper, mid, [results(mid, "a", "b")])
    apply(keeper, mid, [results(mid, "a", "b")])  # redelivered
    assert statuses[mid]["done:email"] == "2" and statuses[mid]["bytes:email"] == "200"
    assert set(table_results) == {f"{mid}|a", f"{mid}|b"}
    view = StatusStore(redis_client).fields(mid)
    assert view["done:email"] == "2" and view["state"] == ms.RUNNING

    # The tables written, Redis not (a crash between them cannot happen in this order, the reverse can):
    # a restarted tracker whose tables are behind Redis folds again and counts nothing twice.
    behind = TableStatus(dict(statuses), dict(table_results), StatusStore(redis_client))
    fresh = StatusStore(redis_client)
    loaded = fresh.load(mid, ["c"])
    assert loaded is not None
    fresh.save(mid, loaded, fold_all(loaded, [results(mid, "c")]))  # Redis counted c; the table did not
    apply(behind, mid, [results(mid, "c")])
    assert behind.statuses[mid]["done:email"] == "3"
    view = StatusStore(redis_client).fields(mid)
    assert view["done:email"] == "3" and view["state"] == ms.COMPLETED  # 3 of 3: the migration ended once
    assert [h["state"] for h in StatusStore(redis_client).history(mid)] == [ms.QUEUED, ms.RUNNING, ms.COMPLETED]


def test_intake_s_cancel_in_redis_reaches_the_table(redis_client: redis_lib.Redis) -> None:
    mid = created(redis_client)
    statuses: dict[str, Any] = {}
    keeper = TableStatus(statuses, {}, StatusStore(redis_client))
    apply(keeper, mid, [OperationStarted(migration_id=mid, operation="emails", occurred_at=AT)])
    assert StatusStore(redis_client).transition(mid, ms.CANCELLING) == ms.RUNNING  # what intake does
    loaded = keeper.load(mid, ())
    assert loaded is not None and loaded.state == ms.CANCELLING
