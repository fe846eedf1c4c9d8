"""The ledger: which source items already are on the target, per source/target pair.

It makes re-runs copy only what is new (delta passes) and redeliveries harmless.
Each entry says where the item went and which migration put it there. The
*in-flight* set marks items whose write may have reached the target without an
entry yet (a crash between the two): only those need a search on the target.

:class:`LedgerStore` is what the durable write path, the planner and undo need of
it; :class:`RedisLedger` keeps it in Redis (the memory one, for the service cores'
unit tests, is :class:`shared.memory.ledger.MemoryLedger`). Every call is one
round trip at most.

Redis is its view: the record is the compacted ``ledger`` topic (:func:`ledger_record`, written by the
durable write path in the same flush as the undo records and the progress; an in-flight mark is
flushed there before the write it announces, a tombstone when undo removed the copy), from which
:mod:`shared.view_rebuild` rebuilds it. A lookup refuses to answer from a view that is not whole
(:class:`shared.redis_view.ViewRebuilding`): "not in the ledger" would copy the item twice.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis

from shared import redis_keys as k
from shared.redis_view import require_view

T = TypeVar("T")

#: Why an item is not copied again (the same words wherever the ledger answers: planner and writer).
ALREADY_COPIED = "already copied to the target by an earlier migration"


@dataclass(frozen=True)
class LedgerEntry:
    migration_id: str
    target_folder: str
    uidvalidity: int
    uid: int
    bytes: int
    ref: str = ""

    @property
    def key(self) -> str:
        """What identifies the copy on the target: the UID, or the target's own id."""
        return self.ref or str(self.uid)

    def to_json(self) -> str:
        fields: list[object] = [self.migration_id, self.target_folder, self.uidvalidity, self.uid, self.bytes]
        return json.dumps([*fields, self.ref] if self.ref else fields)

    @classmethod
    def from_json(cls, raw: str | builtins.bytes) -> LedgerEntry:
        m, f, v, u, b, *rest = json.loads(raw)
        return cls(m, f, int(v), int(u), int(b), str(rest[0]) if rest else "")


#: The value of an in-flight mark on the ``ledger`` topic (an entry is a JSON list, a tombstone None).
INFLIGHT = b'"inflight"'


#: On the ``ledger`` topic, ``<pair>|~rules-before~<item_key>``: a rule item's snapshot of the target's rule ids,
#: taken before it was first written (item keys never begin with "~"); a tombstone once the rule is recorded.
RULES_BEFORE = "~rules-before~"


def ledger_record(pair_id: str, item_key: str) -> str:
    """The ``ledger`` topic's key: the pair, then the item's identity (a pair id never holds ``|``)."""
    return f"{pair_id}|{item_key}"


def split_record(key: str) -> tuple[str, str]:
    pair, _, item_key = key.partition("|")
    return pair, item_key


class LedgerStore(Protocol):
    """One pair's ledger, its in-flight marks, its migrations' undo index and the rule snapshots."""

    def lookup(self, item_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those keys the ledger has."""

    def lookup_with_inflight(self, item_keys: Sequence[str]) -> tuple[dict[str, LedgerEntry], set[str]]:
        """The entries, and the keys marked in flight, in one round trip."""

    def mark_inflight(self, item_keys: Iterable[str]) -> None: ...

    def record(self, entries: dict[str, LedgerEntry], migration_id: str = "", created: Sequence[str] = (),
               cleared: Collection[str] = ()) -> None:
        """Write ``entries`` and clear their in-flight marks, index ``created`` (JSON undo records) for the
        migration's undo, and clear the marks of ``cleared`` (settled without a copy) — atomically."""

    def undo_index(self, migration_id: str) -> list[str]: ...

    def forget(self, item_keys: Iterable[str]) -> None:
        """Undo removed these: a later run may copy them again."""

    def keep_rules_before(self, item_keys: Collection[str], rule_ids: Sequence[str]) -> None:
        """Write ahead the target's rule ids for each rule item about to be created; an item that has
        them from an earlier attempt keeps those (they tell the rules that were there before it)."""

    def rules_before(self, item_key: str) -> set[str] | None: ...

    def forget_rules_before(self, item_keys: Iterable[str]) -> None: ...


class RedisLedger:
    """The ledger in Redis: a hash of entries and a set of in-flight keys per pair (``shared.redis_keys``)."""

    def __init__(self, client: redis.Redis, pair_id: str) -> None:
        self.r = client
        self.pair_id = pair_id

    def lookup(self, item_keys: Sequence[str]) -> dict[str, LedgerEntry]:
        return self.lookup_with_inflight(item_keys)[0]

    def lookup_with_inflight(self, item_keys: Sequence[str]) -> tuple[dict[str, LedgerEntry], set[str]]:
        if not item_keys:
            return {}, set()
        keys = list(item_keys)
        pipe = self.r.pipeline(transaction=False)
        pipe.hmget(k.ledger(self.pair_id), keys)
        pipe.smismember(k.inflight(self.pair_id), keys)  # type: ignore[no-untyped-call]
        pipe.get(k.VIEW)
        values, flags, view = pipe.execute()
        require_view(view)
        known = {key: LedgerEntry.from_json(v) for key, v in zip(keys, values, strict=True) if v}
        return known, {key for key, f in zip(keys, flags, strict=True) if f}

    def split(self, items: Sequence[T], key: Callable[[T], str]) -> tuple[list[T], list[tuple[T, LedgerEntry]]]:
        """(items not on the target yet, items the ledger already has with their entry), in order."""
        known = self.lookup([key(i) for i in items])
        todo = [i for i in items if key(i) not in known]
        return todo, [(i, known[key(i)]) for i in items if key(i) in known]

    def known_keys(self, item_keys: Sequence[str]) -> set[str]:
        return set(self.lookup(item_keys))

    def inflight(self, item_keys: Sequence[str]) -> set[str]:
        return self.lookup_with_inflight(item_keys)[1]

    def mark_inflight(self, item_keys: Iterable[str]) -> None:
        keys = list(item_keys)
        if keys:
            self.r.sadd(k.inflight(self.pair_id), *keys)

    def record(self, entries: dict[str, LedgerEntry], migration_id: str = "", created: Sequence[str] = (),
               cleared: Collection[str] = ()) -> None:
        """One MULTI. ``created`` go to the migration's undo index (the durable copy is on the ``undo``
        topic), so an undo reads a list instead of scanning the topic."""
        if not entries and not created and not cleared:
            return
        pipe = self.r.pipeline(transaction=True)
        if entries:
            pipe.hset(k.ledger(self.pair_id), mapping={key: e.to_json() for key, e in entries.items()})
        if entries or cleared:
            pipe.srem(k.inflight(self.pair_id), *entries, *cleared)
        if created:
            pipe.rpush(k.undo_index(migration_id), *created)
        pipe.execute()

    def undo_index(self, migration_id: str) -> list[str]:
        pipe = self.r.pipeline(transaction=False)
        pipe.lrange(k.undo_index(migration_id), 0, -1)
        pipe.get(k.VIEW)
        values, view = pipe.execute()
        require_view(view)
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    def clear_inflight(self, item_keys: Iterable[str]) -> None:
        self.record({}, cleared=list(item_keys))

    def keep_rules_before(self, item_keys: Collection[str], rule_ids: Sequence[str]) -> None:
        keys = list(item_keys)
        if keys:
            value = json.dumps(sorted(rule_ids))
            pipe = self.r.pipeline(transaction=False)
            for key in keys:
                pipe.hsetnx(k.rules_before(self.pair_id), key, value)
            pipe.execute()

    def rules_before(self, item_key: str) -> set[str] | None:
        raw = self.r.hget(k.rules_before(self.pair_id), item_key)
        return None if raw is None else set(json.loads(raw))

    def forget_rules_before(self, item_keys: Iterable[str]) -> None:
        keys = list(item_keys)
        if keys:
            self.r.hdel(k.rules_before(self.pair_id), *keys)

    def forget(self, item_keys: Iterable[str]) -> None:
        keys = list(item_keys)
        if keys:
            self.r.hdel(k.ledger(self.pair_id), *keys)
