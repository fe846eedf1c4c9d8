"""Every LedgerStore (Redis, memory; a topic-backed one next) answers the same way."""

from __future__ import annotations

import secrets

import pytest

from shared.ledger import LedgerEntry, LedgerStore, RedisLedger
from shared.memory.ledger import MemoryLedgers

pytestmark = pytest.mark.contract

STORES = ["redis", "memory"]


@pytest.fixture(params=STORES, ids=STORES)
def store(request: pytest.FixtureRequest) -> LedgerStore:
    pair = "pair-" + secrets.token_hex(4)
    if request.param == "redis":
        return RedisLedger(request.getfixturevalue("redis_client"), pair)
    return MemoryLedgers().ledger(pair)


def test_entries_and_in_flight_marks_in_one_lookup(store: LedgerStore) -> None:
    entry = LedgerEntry("m1", "INBOX", 7, 42, 100)
    store.mark_inflight(["a", "b", "c"])
    store.record({"a": entry}, "m1", [], cleared=["c"])
    assert store.lookup_with_inflight(["a", "b", "c", "d"]) == ({"a": entry}, {"b"})
    assert store.lookup(["a", "d"]) == {"a": entry}
    assert store.lookup_with_inflight([]) == ({}, set())


def test_an_entry_keeps_where_the_copy_went(store: LedgerStore) -> None:
    by_uid, by_ref = LedgerEntry("m1", "INBOX", 7, 42, 100), LedgerEntry("m1", "pim", 0, 0, 5, "AAMk1 AAMk2")
    store.record({"u": by_uid, "r": by_ref}, "m1")
    found = store.lookup(["u", "r"])
    assert found == {"u": by_uid, "r": by_ref}
    assert (found["u"].key, found["r"].key) == ("42", "AAMk1 AAMk2")


def test_the_undo_index_keeps_creation_order_per_migration(store: LedgerStore) -> None:
    store.record({}, "m1", ['{"n": 1}', '{"n": 2}'])
    store.record({}, "m2", ['{"other": 1}'])
    store.record({}, "m1", ['{"n": 3}'])
    assert store.undo_index("m1") == ['{"n": 1}', '{"n": 2}', '{"n": 3}']


def test_forgotten_entries_may_be_copied_again(store: LedgerStore) -> None:
    store.record({"a": LedgerEntry("m1", "INBOX", 7, 1, 1), "b": LedgerEntry("m1", "INBOX", 7, 2, 1)}, "m1")
    store.forget(["a"])
    assert set(store.lookup(["a", "b"])) == {"b"}


def test_a_rule_snapshot_is_kept_from_the_first_attempt_until_forgotten(store: LedgerStore) -> None:
    assert store.rules_before("r1") is None
    store.keep_rules_before(["r1"], ["x", "y"])
    store.keep_rules_before(["r1", "r2"], ["x", "y", "z"])  # a retry: r1 keeps what it had
    assert (store.rules_before("r1"), store.rules_before("r2")) == ({"x", "y"}, {"x", "y", "z"})
    store.forget_rules_before(["r1"])
    assert store.rules_before("r1") is None and store.rules_before("r2") == {"x", "y", "z"}
