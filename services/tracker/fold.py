"""The tracker's fold: a migration's status and one progress event → its next status. Pure code.

Every event is idempotent here: a result is counted once per item key, a state moves only along
:data:`shared.migration_state.ALLOWED`, the current operation only forward in the fixed order, and
fields take the event's values, so folding an event twice — or a batch again — gives the status of
folding it once. Times come from the event's ``occurred_at``, never a
clock, so the same events give the same status wherever they are folded (the tracker today, a
stream processor's table later). After each event the status is *settled*: a finished operation
moves the migration on (the next operation requested, or its final state).

What the edge must do about a change — delete the credentials at the end, notify, ask for the next
operation — is :func:`next_steps` of the status before and after.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC

from shared import migration_state as ms
from shared.events import (
    Event,
    ItemResult,
    ItemResults,
    MigrationFailed,
    MigrationValidating,
    OperationPlanned,
    OperationSkipped,
    OperationStarted,
    UndoFinished,
    UndoProgress,
)
from shared.migration_status import Status

REQUESTED = "requested:"


def when(ev: Event) -> str:
    """The event's time as the status keeps times (UTC, seconds)."""
    return ev.occurred_at.astimezone(UTC).isoformat(timespec="seconds")


def _updated(s: Status, at: str) -> str:
    """The time of the last change: never earlier than it was (a redelivered event is older than what
    followed it). Every time here is UTC in one format, so the text orders as the time does."""
    return max(s.fields.get("updated_at", ""), at)


def _set(s: Status, at: str, **fields: str) -> Status:
    if all(s.fields.get(k) == v for k, v in fields.items()):
        return s
    return replace(s, fields={**s.fields, **fields, "updated_at": _updated(s, at)})


def _move(s: Status, state: str, at: str) -> Status | None:
    """The status in ``state``, or None when it may not move there from where it is."""
    if not ms.can_move(s.state, state):
        return None
    return replace(s, fields={**s.fields, "state": state, "updated_at": _updated(s, at)},
                   moves=(*s.moves, (state, at)))


def _count(s: Status, results: Iterable[ItemResult], at: str) -> Status:
    fields = dict(s.fields)
    seen = dict(s.results)
    added = list(s.added)
    for r in results:
        if r.item_key in seen:
            continue
        seen[r.item_key] = r.result
        added.append(r)
        name = f"{r.result}:{r.item_type}"
        fields[name] = str(ms.count(fields, name) + 1)
        if r.bytes > 0:
            fields[f"bytes:{r.item_type}"] = str(ms.count(fields, f"bytes:{r.item_type}") + r.bytes)
    if len(added) == len(s.added):
        return s
    fields["updated_at"] = _updated(s, at)
    return replace(s, fields=fields, results=seen, added=tuple(added))


def _order(operation: str) -> int:
    return ms.OPERATIONS.index(operation) if operation in ms.OPERATIONS else -1


def apply(s: Status, ev: Event) -> Status:
    """One event, without settling."""
    at = when(ev)
    if isinstance(ev, MigrationValidating):
        return _move(s, ms.VALIDATING, at) or s
    if isinstance(ev, OperationStarted):
        running = _move(s, ms.RUNNING, at) or s
        if _order(ev.operation) < _order(s.fields.get("current_operation", "")):
            return running  # a redelivered start of an operation already done never takes the migration back
        return _set(running, at, current_operation=ev.operation)
    if isinstance(ev, OperationPlanned):
        types = ms.OPERATION_ITEM_TYPES.get(ev.operation)
        if types is None:
            return s
        fields = {f"planned:{ev.operation}": "1", f"total:{types[0]}": str(ev.total)}
        if "folder" in types:
            fields["total:folder"] = str(ev.folders)
        return _set(s, at, **fields)
    if isinstance(ev, ItemResults):
        return _count(s, ev.results, at)
    if isinstance(ev, OperationSkipped):
        moved = _move(s, ms.CANCELLED, at)
        return s if moved is None else _set(moved, at, finished_at=at)
    if isinstance(ev, MigrationFailed):
        moved = _move(s, ms.FAILED, at)
        return s if moved is None else _set(moved, at, error=ev.reason, error_code=ev.code, finished_at=at)
    if isinstance(ev, UndoProgress):
        return _set(s, at, undo_done=str(ev.done), undo_total=str(ev.total), undo_kept=str(ev.kept))
    if isinstance(ev, UndoFinished):
        moved = _move(s, ms.UNDONE if ev.ok else ms.UNDO_FAILED, at)
        if moved is None:
            return s
        return _set(moved, at, undo_finished_at=at, undo_removed_messages=str(ev.removed_messages),
                    undo_removed_folders=str(ev.removed_folders), undo_restored_settings=str(ev.restored_settings),
                    undo_kept_reasons=json.dumps(ev.kept[:50]), undo_error=ev.reason)
    return s


def settle(s: Status, at: str) -> Status:
    """When the current operation is done: the migration ends, or its next operation is requested (once)."""
    if s.state not in (ms.RUNNING, ms.CANCELLING):
        return s
    options = json.loads(s.fields.get("options", "[]"))
    if s.fields.get("current_operation") not in options:
        return s  # an operation that was not chosen cannot move the migration on
    final, nxt = ms.after_operation(s.fields, options)
    if final:
        moved = _move(s, final, at)
        return s if moved is None else _set(moved, at, finished_at=at)
    if nxt and s.fields.get(REQUESTED + nxt) != "1":
        return _set(s, at, **{REQUESTED + nxt: "1"})
    return s


def fold(s: Status, ev: Event) -> Status:
    """The status after ``ev``, settled."""
    return settle(apply(s, ev), when(ev))


def fold_all(s: Status, events: Iterable[Event]) -> Status:
    for ev in events:
        s = fold(s, ev)
    return s


@dataclass(frozen=True)
class Finished:
    """The migration reached a final state: its credentials go, the user is told."""

    state: str


@dataclass(frozen=True)
class UndoEnded:
    ok: bool


@dataclass(frozen=True)
class RequestOperation:
    operation: str


Step = Finished | UndoEnded | RequestOperation


def next_steps(before: Status, after: Status) -> list[Step]:
    """What the edge does about the change from ``before`` to ``after`` (each once: a step follows from a
    move or a field that only a change makes)."""
    steps: list[Step] = []
    for state, _at in after.moves[len(before.moves):]:
        if state in (ms.UNDONE, ms.UNDO_FAILED):
            steps.append(UndoEnded(state == ms.UNDONE))
        elif state in ms.FINAL:
            steps.append(Finished(state))
    for name, value in after.fields.items():
        if name.startswith(REQUESTED) and value == "1" and before.fields.get(name) != "1":
            steps.append(RequestOperation(name[len(REQUESTED):]))
    return steps
