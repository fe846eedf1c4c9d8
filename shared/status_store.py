"""The status view in Redis: created by intake, folded forward by the tracker, read by intake.

Every write here is idempotent: item results are counted once per item key (a
Lua script does the check and the count atomically), and a state change only
happens along :data:`shared.migration_state.ALLOWED`. The tracker loads a
:class:`~shared.migration_status.Status`, folds events into it (pure code) and
saves what changed through those same scripts (:meth:`StatusStore.load`, :meth:`StatusStore.save`).

Redis is the view; the record is the ``migrations.record`` topic (:class:`shared.migration_records.RecordLog`):
a new migration's spec, data key and first status are flushed there before Redis is written; the
tracker flushes each batch's new results there before counting them in Redis, then a snapshot of the
status and its history (with a ``rev`` that only grows). Every script refuses to write into a view
that is not whole (the mark ``shared.redis_keys.VIEW``): the caller retries once it was rebuilt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from shared import migration_state as ms
from shared import redis_keys as k
from shared.events import ItemResult
from shared.kafka_edge import DeliveryFailed
from shared.migration_records import RecordLog, result_line
from shared.migration_status import Status, is_count
from shared.redis_view import ViewRebuilding, require_view

log = logging.getLogger(__name__)
NO_VIEW = "noview"
_APPLY_RESULTS = """
if redis.call('EXISTS', KEYS[5]) == 0 then return -1 end
local added = 0
for i = 1, #ARGV, 5 do
  local key, result, nbytes, itype, line = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2]), ARGV[i+3], ARGV[i+4]
  if redis.call('HSETNX', KEYS[1], key, result) == 1 then
    added = added + 1
    redis.call('HINCRBY', KEYS[2], result .. ':' .. itype, 1)
    if nbytes > 0 then redis.call('HINCRBY', KEYS[2], 'bytes:' .. itype, nbytes) end
    if line ~= '' then
      redis.call('RPUSH', KEYS[3], line)
      if result == 'failed' and redis.call('LLEN', KEYS[4]) < 100 then redis.call('RPUSH', KEYS[4], line) end
    end
  end
end
return added
"""

_TRANSITION = """
if redis.call('EXISTS', KEYS[4]) == 0 then return 'noview' end
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return false end
local allowed = cjson.decode(ARGV[3])
local ok = false
for _, s in ipairs(allowed[cur] or {}) do if s == ARGV[1] then ok = true end end
if not ok then return false end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[2])
redis.call('RPUSH', KEYS[2], cjson.encode({state=ARGV[1], at=ARGV[2]}))
redis.call('SREM', KEYS[3] .. cur, ARGV[4])
redis.call('SADD', KEYS[3] .. ARGV[1], ARGV[4])
return cur
"""

_SET_FIELDS = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

_SNAPSHOT = """
if redis.call('EXISTS', KEYS[3]) == 0 or redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}
"""

_ALLOWED_JSON = json.dumps({s: sorted(v) for s, v in ms.ALLOWED.items()})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def login_hash(secret: bytes, login: str) -> str:
    """Status needs the ID *and* the source login; we keep only a keyed hash of the login."""
    return hmac.new(secret, login.strip().lower().encode(), hashlib.sha256).hexdigest()


class StatusStore:
    """``record`` (when given) is where the record goes first; ``ensure_view`` (when given) rebuilds the view
    from the topics before a read if it is not whole (intake's reads; the workers do it per batch)."""

    def __init__(self, client: redis.Redis, record: RecordLog | None = None,
                 ensure_view: Callable[[], None] | None = None) -> None:
        self.r = client
        self.record = record
        self.ensure_view = ensure_view or (lambda: None)
        self._apply = client.register_script(_APPLY_RESULTS)
        self._transition = client.register_script(_TRANSITION)
        self._set_fields = client.register_script(_SET_FIELDS)
        self._snapshot = client.register_script(_SNAPSHOT)

    def create(self, mid: str, fields: dict[str, str], spec_json: str, wrapped_key: str) -> None:
        """On the topic first (spec, data key, first status), then in Redis."""
        self.ensure_view()
        at = now_iso()
        mapping: dict[str, str] = {**fields, "state": ms.QUEUED, "created_at": at, "updated_at": at, "rev": "1"}
        history = [{"state": ms.QUEUED, "at": at}]
        if self.record is not None:
            self.record.spec(mid, spec_json)
            self.record.data_key(mid, wrapped_key)
            self.record.status(mid, mapping, history)
            self.record.flush()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(k.migration(mid), mapping=mapping)  # type: ignore[arg-type]
        pipe.set(k.spec(mid), spec_json)
        pipe.set(k.data_key(mid), wrapped_key)
        pipe.rpush(k.history(mid), json.dumps(history[0]))
        pipe.sadd(k.by_state(ms.QUEUED), mid)
        pipe.execute()

    def set_data_key(self, mid: str, wrapped_key: str) -> None:
        """A new data key (undo's password is sealed under it): on the topic first, then in Redis."""
        if self.record is not None:
            self.record.data_key(mid, wrapped_key)
            self.record.flush()
        self.r.set(k.data_key(mid), wrapped_key)

    def abandon(self, mid: str, reason: str) -> None:
        """A migration whose request never reached the workers (the broker stopped answering between the record
        and the request): ``failed`` with ``reason`` at once, in Redis and on the record, its data key
        tombstoned, so it never waits in ``queued`` for a worker that will not come. The record's flush is
        short and may fail while the broker is away: the producer keeps the records and sends them when it is
        back (and the stall watch ends a ``queued`` migration a rebuilt view still shows)."""
        at = now_iso()
        self._hset(mid, {"error": reason, "error_code": "not_queued", "finished_at": at, "updated_at": at,
                         "notified_at": at})  # the caller's 503 told: no notification owed
        self._move(mid, ms.FAILED, at)
        self.r.delete(k.data_key(mid))
        self.publish(mid)
        if self.record is None:
            return
        self.record.data_key(mid, None)
        try:
            self.record.flush(timeout=5)
        except DeliveryFailed as exc:
            log.warning("failed status not yet on the record; it is sent when the broker is back",
                        extra={"migration_id": mid, "error": str(exc)[:200]})

    def exists(self, mid: str) -> bool:
        return bool(self.fields(mid))

    def fields(self, mid: str) -> dict[str, str]:
        self.ensure_view()
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(k.migration(mid))
        pipe.get(k.VIEW)
        raw, view = pipe.execute()
        require_view(view)
        return {_s(a): _s(b) for a, b in raw.items()}

    def set_fields(self, mid: str, **fields: str) -> None:
        mapping: dict[str, str] = {**fields, "updated_at": now_iso()}
        self._hset(mid, mapping)
        self.publish(mid)

    def _hset(self, mid: str, mapping: dict[str, str]) -> None:
        args = [x for pair in mapping.items() for x in pair]
        if args and int(self._set_fields(keys=[k.migration(mid), k.VIEW], args=args)) < 0:
            raise ViewRebuilding("the Redis view is being rebuilt from the topics")

    def transition(self, mid: str, new_state: str, at: str = "") -> str | None:
        """Move to ``new_state`` if allowed; returns the previous state, or None if refused. The new status
        goes to the record (the caller flushes)."""
        prev = self._move(mid, new_state, at)
        if prev is not None:
            self.publish(mid)
        return prev

    def _move(self, mid: str, new_state: str, at: str = "") -> str | None:
        prev = self._transition(
            keys=[k.migration(mid), k.history(mid), k.state_prefix(), k.VIEW],
            args=[new_state, at or now_iso(), _ALLOWED_JSON, mid],
        )
        if prev is not None and _s(prev) == NO_VIEW:
            raise ViewRebuilding("the Redis view is being rebuilt from the topics")
        return _s(prev) if prev else None

    def publish(self, mid: str) -> None:
        """A snapshot of the status and its history to the record, its ``rev`` one higher (the caller
        flushes). Nothing when the view is not whole: the caller's retry publishes it then."""
        if self.record is None:
            return
        snap = self._snapshot(keys=[k.migration(mid), k.history(mid), k.VIEW])
        if not snap:
            require_view(self.r.get(k.VIEW))
            return
        flat, history = snap
        fields = {_s(flat[i]): _s(flat[i + 1]) for i in range(0, len(flat), 2)}
        self.record.status(mid, fields, [json.loads(h) for h in history])

    def load(self, mid: str, item_keys: Sequence[str]) -> Status | None:
        """The status with the results of ``item_keys`` already counted (None: no such migration)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(k.migration(mid))
        pipe.get(k.VIEW)
        if item_keys:
            pipe.hmget(k.results(mid), list(item_keys))
        raw, view, *found = pipe.execute()
        require_view(view)
        if not raw:
            return None
        values = found[0] if found else []
        results = {key: _s(v) for key, v in zip(item_keys, values, strict=True) if v is not None}
        return Status({_s(a): _s(b) for a, b in raw.items()}, results)

    def save(self, mid: str, before: Status, after: Status) -> set[str]:
        """What was folded since ``before``: the new results on the record (flushed), then counted (once
        each, by the script), the other changed fields, each state move (refused if the state changed
        meanwhile), and the snapshot on the record (the caller flushes). The states moved into."""
        at = after.fields.get("updated_at", "")
        added = after.added[len(before.added):]
        if added and self.record is not None:
            self.record.results(mid, added)
            self.record.flush()
        self.apply_results(mid, added, at)
        changed = {name: value for name, value in after.fields.items()
                   if before.fields.get(name) != value and name not in ("state", "rev") and not is_count(name)}
        if changed:
            self._hset(mid, changed)
        moved = {state for state, when in after.moves[len(before.moves):]
                 if self._move(mid, state, when) is not None}
        if added or changed or moved:
            self.publish(mid)
        return moved

    def apply_results(self, mid: str, results: Sequence[ItemResult], at: str = "") -> int:
        """Count each item once; returns how many were new."""
        args: list[Any] = []
        for res in results:  # a copy that could not keep everything is reported too
            args += [res.item_key, res.result, res.bytes, res.item_type, result_line(res)]
        if not args:
            return 0
        added = int(self._apply(keys=[k.results(mid), k.migration(mid), k.report(mid), k.errors(mid), k.VIEW],
                                args=args))
        if added < 0:
            raise ViewRebuilding("the Redis view is being rebuilt from the topics")
        if added:
            self.r.hset(k.migration(mid), "updated_at", at or now_iso())
        return added

    def report(self, mid: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(k.report(mid), 0, -1)]

    def errors(self, mid: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(k.errors(mid), 0, 49)]

    def history(self, mid: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(k.history(mid), 0, -1)]

    def count_by_state(self) -> dict[str, int]:
        pipe = self.r.pipeline(transaction=False)
        for s in ms.STATES:
            pipe.scard(k.by_state(s))
        return dict(zip(ms.STATES, (int(n) for n in pipe.execute()), strict=True))


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
