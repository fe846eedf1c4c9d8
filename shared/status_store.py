"""The status view in Redis: created by intake, folded forward by the tracker, read by intake.

Every write here is idempotent: item results are counted once per item key (a
Lua script does the check and the count atomically), and a state change only
happens along :data:`shared.migration_state.ALLOWED`. The tracker loads a
:class:`~shared.migration_status.Status`, folds events into it (pure code) and
saves what changed through those same scripts (:meth:`StatusStore.load`, :meth:`StatusStore.save`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from shared import migration_state as ms
from shared import redis_keys as k
from shared.events import ItemResult
from shared.migration_status import Status, is_count

_APPLY_RESULTS = """
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

_ALLOWED_JSON = json.dumps({s: sorted(v) for s, v in ms.ALLOWED.items()})


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def login_hash(secret: bytes, login: str) -> str:
    """Status needs the ID *and* the source login; we keep only a keyed hash of the login."""
    return hmac.new(secret, login.strip().lower().encode(), hashlib.sha256).hexdigest()


class StatusStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._apply = client.register_script(_APPLY_RESULTS)
        self._transition = client.register_script(_TRANSITION)

    def create(self, mid: str, fields: dict[str, str], spec_json: str, wrapped_key: str) -> None:
        at = now_iso()
        pipe = self.r.pipeline(transaction=True)
        mapping: dict[str, str] = {**fields, "state": ms.QUEUED, "created_at": at, "updated_at": at}
        pipe.hset(k.migration(mid), mapping=mapping)  # type: ignore[arg-type]
        pipe.set(k.spec(mid), spec_json)
        pipe.set(k.data_key(mid), wrapped_key)
        pipe.rpush(k.history(mid), json.dumps({"state": ms.QUEUED, "at": at}))
        pipe.sadd(k.by_state(ms.QUEUED), mid)
        pipe.execute()

    def exists(self, mid: str) -> bool:
        return bool(self.r.exists(k.migration(mid)))

    def fields(self, mid: str) -> dict[str, str]:
        raw = self.r.hgetall(k.migration(mid))
        return {_s(a): _s(b) for a, b in raw.items()}

    def set_fields(self, mid: str, **fields: str) -> None:
        mapping: dict[str, str] = {**fields, "updated_at": now_iso()}
        self.r.hset(k.migration(mid), mapping=mapping)  # type: ignore[arg-type]

    def transition(self, mid: str, new_state: str, at: str = "") -> str | None:
        """Move to ``new_state`` if allowed; returns the previous state, or None if refused."""
        prev = self._transition(
            keys=[k.migration(mid), k.history(mid), f"{k.PREFIX}:state:"],
            args=[new_state, at or now_iso(), _ALLOWED_JSON, mid],
        )
        return _s(prev) if prev else None

    def load(self, mid: str, item_keys: Sequence[str]) -> Status | None:
        """The status with the results of ``item_keys`` already counted (None: no such migration)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(k.migration(mid))
        if item_keys:
            pipe.hmget(k.results(mid), list(item_keys))
        raw, *found = pipe.execute()
        if not raw:
            return None
        values = found[0] if found else []
        results = {key: _s(v) for key, v in zip(item_keys, values, strict=True) if v is not None}
        return Status({_s(a): _s(b) for a, b in raw.items()}, results)

    def save(self, mid: str, before: Status, after: Status) -> set[str]:
        """What was folded since ``before``: the new results counted (once each, by the script), the other
        changed fields, then each state move (refused if the state changed meanwhile). The states moved into."""
        at = after.fields.get("updated_at", "")
        self.apply_results(mid, after.added[len(before.added):], at)
        changed = {name: value for name, value in after.fields.items()
                   if before.fields.get(name) != value and name != "state" and not is_count(name)}
        if changed:
            self.r.hset(k.migration(mid), mapping=changed)  # type: ignore[arg-type]
        return {state for state, when in after.moves[len(before.moves):]
                if self.transition(mid, state, when) is not None}

    def apply_results(self, mid: str, results: Sequence[ItemResult], at: str = "") -> int:
        """Count each item once; returns how many were new."""
        args: list[Any] = []
        for res in results:
            line = ""
            if res.result != "done" or res.reason:  # a copy that could not keep everything is reported too
                line = json.dumps(res.model_dump(), ensure_ascii=False)
            args += [res.item_key, res.result, res.bytes, res.item_type, line]
        if not args:
            return 0
        added = int(self._apply(keys=[k.results(mid), k.migration(mid), k.report(mid), k.errors(mid)], args=args))
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
