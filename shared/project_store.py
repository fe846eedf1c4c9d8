"""Projects in Redis: the project's fields, its rows (credentials sealed), the refused CSV lines.

A row is one JSON value in one hash (``mf:proj:<id>:rows``), so 50,000 rows are one key the retention
deletes at once. Passwords are in a row only sealed under the project's data key, which is wrapped under
the operator's master key; deleting that key (:meth:`ProjectStore.forget_credentials`) makes every sealed
copy unreadable, as for a migration.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import redis

from shared import redis_keys as k
from shared.events import ProjectRecord


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class ProjectLog(Protocol):
    """Where every change is recorded first-class (the ``projects`` topic); Redis is rebuilt from it."""

    def put(self, key: str, record: ProjectRecord) -> None: ...

    def tombstone(self, key: str) -> None: ...

    def data_key(self, pid: str, wrapped: str | None) -> None:
        """The project's wrapped data key (None: gone for good), kept like a migration's ``dek:<mid>``."""

    def flush(self) -> None: ...


class NoLog:
    """For code that keeps projects in Redis alone (tests of the logic without a broker)."""

    def put(self, key: str, record: ProjectRecord) -> None:
        pass

    def tombstone(self, key: str) -> None:
        pass

    def data_key(self, pid: str, wrapped: str | None) -> None:
        pass

    def flush(self) -> None:
        pass


def row_key(pid: str, number: int | str) -> str:
    return f"{pid}/row/{number}"


def errors_key(pid: str, seq: int | str) -> str:
    return f"{pid}/errors/{seq}"


class ProjectStore:
    def __init__(self, client: redis.Redis, log: ProjectLog | None = None) -> None:
        self.r = client
        self.log = log or NoLog()

    def _record_fields(self, pid: str) -> None:
        self.log.put(pid, ProjectRecord(migration_id=pid, part="project", fields=self.fields(pid)))
        self.log.flush()

    def _record_rows(self, pid: str, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.log.put(row_key(pid, row["row"]), ProjectRecord(migration_id=pid, part="row", row=row))
        self.log.flush()

    def create(self, pid: str, fields: dict[str, str], wrapped_key: str) -> None:
        at = now_iso()
        pipe = self.r.pipeline(transaction=True)
        mapping: dict[str, str] = {**fields, "created_at": at, "updated_at": at}
        pipe.hset(k.project(pid), mapping=mapping)  # type: ignore[arg-type]
        pipe.set(k.project_key(pid), wrapped_key)
        pipe.zadd(k.projects(), {pid: datetime.now(UTC).timestamp()})
        pipe.execute()
        self.log.data_key(pid, wrapped_key)  # flushed with the fields: the project and its key are on the topic
        self._record_fields(pid)

    def exists(self, pid: str) -> bool:
        return len(pid) <= 64 and bool(self.r.exists(k.project(pid)))

    def fields(self, pid: str) -> dict[str, str]:
        return {_s(a): _s(b) for a, b in self.r.hgetall(k.project(pid)).items()}

    def set_fields(self, pid: str, **fields: str) -> None:
        mapping: dict[str, str] = {**fields, "updated_at": now_iso()}
        self.r.hset(k.project(pid), mapping=mapping)  # type: ignore[arg-type]
        self._record_fields(pid)

    def wrapped_key(self, pid: str) -> str | None:
        raw = self.r.get(k.project_key(pid))
        return _s(raw) if raw is not None else None

    def ids(self) -> list[str]:
        return [_s(x) for x in self.r.zrevrange(k.projects(), 0, -1)]

    # -- rows -----------------------------------------------------------------------------
    def next_row_numbers(self, pid: str, count: int) -> range:
        last = int(self.r.hincrby(k.project(pid), "row_counter", count))
        return range(last - count + 1, last + 1)

    def add_rows(self, pid: str, rows: Sequence[dict[str, Any]], accounts: dict[str, int]) -> None:
        if not rows:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(k.project_rows(pid), mapping={str(r["row"]): json.dumps(r) for r in rows})
        if accounts:
            pipe.hset(k.project_accounts(pid), mapping=accounts)  # type: ignore[arg-type]
        pipe.execute()
        self._record_rows(pid, rows)

    def accounts(self, pid: str) -> dict[str, int]:
        return {_s(a): int(b) for a, b in self.r.hgetall(k.project_accounts(pid)).items()}

    def add_errors(self, pid: str, errors: Iterable[dict[str, Any]]) -> int:
        found = list(errors)
        if found:
            seq = int(self.r.rpush(k.project_errors(pid), *(json.dumps(e, ensure_ascii=False) for e in found)))
            self.r.sadd(k.project_error_records(pid), seq)
            self.log.put(errors_key(pid, seq), ProjectRecord(migration_id=pid, part="errors", errors=found))
            self.log.flush()
        return len(found)

    def errors(self, pid: str, upload: int | None = None) -> list[dict[str, Any]]:
        found = [json.loads(x) for x in self.r.lrange(k.project_errors(pid), 0, -1)]
        return [e for e in found if upload is None or e.get("upload") == upload]

    def rows(self, pid: str) -> list[dict[str, Any]]:
        found = [json.loads(v) for v in self.r.hvals(k.project_rows(pid))]
        return sorted(found, key=lambda row: int(row["row"]))

    def row_count(self, pid: str) -> int:
        return int(self.r.hlen(k.project_rows(pid)))

    def row(self, pid: str, number: int) -> dict[str, Any] | None:
        raw = self.r.hget(k.project_rows(pid), str(number))
        return json.loads(raw) if raw is not None else None

    def put_rows(self, pid: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.r.hset(k.project_rows(pid), mapping={str(r["row"]): json.dumps(r) for r in rows})
            self._record_rows(pid, rows)

    # -- one replica at a time --------------------------------------------------------------
    def lock(self, pid: str, holder: str, seconds: int = 300) -> bool:
        return bool(self.r.set(k.project_lock(pid), holder, nx=True, ex=seconds))

    def unlock(self, pid: str, holder: str) -> None:
        if _s(self.r.get(k.project_lock(pid)) or b"") == holder:
            self.r.delete(k.project_lock(pid))

    # -- the end ----------------------------------------------------------------------------
    def forget_credentials(self, pid: str) -> None:
        self.log.data_key(pid, None)  # a tombstone first: a rebuild must not bring the key back
        self.log.flush()
        self.r.delete(k.project_key(pid))

    def delete(self, pid: str) -> None:
        """Everything the project holds, in Redis and on its topic (tombstones); its migrations' own data is
        the caller's to delete."""
        for number in self.r.hkeys(k.project_rows(pid)):
            self.log.tombstone(row_key(pid, _s(number)))
        for seq in self.r.smembers(k.project_error_records(pid)):
            self.log.tombstone(errors_key(pid, _s(seq)))
        self.log.tombstone(pid)
        self.log.data_key(pid, None)
        self.log.flush()
        self.r.delete(k.project(pid), k.project_rows(pid), k.project_errors(pid), k.project_accounts(pid),
                      k.project_key(pid), k.project_lock(pid), k.project_error_records(pid))
        self.r.zrem(k.projects(), pid)

    # -- rebuilding from the topic ------------------------------------------------------------
    def restore(self, pid: str, fields: dict[str, str], rows: Sequence[dict[str, Any]],
                errors: Sequence[tuple[int, list[dict[str, Any]]]], wrapped_key: str | None = None) -> None:
        """A project as its topic holds it, put back into Redis (nothing is recorded again)."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(k.project(pid), mapping=fields)  # type: ignore[arg-type]
        if wrapped_key is not None:
            pipe.set(k.project_key(pid), wrapped_key)
        created = fields.get("created_at", "")
        pipe.zadd(k.projects(), {pid: datetime.fromisoformat(created).timestamp() if created else 0.0})
        if rows:
            pipe.hset(k.project_rows(pid), mapping={str(r["row"]): json.dumps(r) for r in rows})
            accounts = {r["account"]: int(r.get("line") or 0) for r in rows if r.get("account")}
            if accounts:
                pipe.hset(k.project_accounts(pid), mapping=accounts)  # type: ignore[arg-type]
        for seq, found in sorted(errors, key=lambda e: e[0]):
            pipe.rpush(k.project_errors(pid), *(json.dumps(e, ensure_ascii=False) for e in found))
            pipe.sadd(k.project_error_records(pid), seq)
        pipe.execute()
