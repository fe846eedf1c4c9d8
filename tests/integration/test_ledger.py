"""The ledger against a real redis-server: what is known, what is in flight, and the split of a batch."""

from __future__ import annotations

import secrets

import pytest
import redis

from shared.ledger import LedgerEntry, RedisLedger

pytestmark = pytest.mark.integration


def test_split_keeps_order_and_returns_the_entries(redis_client: redis.Redis) -> None:
    ledger = RedisLedger(redis_client, "pair-" + secrets.token_hex(4))
    ledger.record({"k2": LedgerEntry("m1", "INBOX", 7, 42, 100), "k4": LedgerEntry("m0", "pim", 0, 0, 5)}, "m1", [])
    items = [("k1", "a"), ("k2", "b"), ("k3", "c"), ("k4", "d")]
    todo, known = ledger.split(items, lambda i: i[0])
    assert todo == [("k1", "a"), ("k3", "c")]
    assert [(i, e.migration_id, e.uid, e.bytes) for i, e in known] == [(("k2", "b"), "m1", 42, 100),
                                                                       (("k4", "d"), "m0", 0, 5)]
    assert ledger.split([], lambda i: i) == ([], [])


def test_inflight_marks_are_cleared_by_the_record(redis_client: redis.Redis) -> None:
    ledger = RedisLedger(redis_client, "pair-" + secrets.token_hex(4))
    ledger.mark_inflight(["a", "b"])
    assert ledger.inflight(["a", "b", "c"]) == {"a", "b"}
    ledger.record({"a": LedgerEntry("m", "INBOX", 1, 1, 10)}, "m", [])
    assert ledger.inflight(["a", "b"]) == {"b"}
    assert ledger.known_keys(["a", "b"]) == {"a"}
