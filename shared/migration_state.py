"""The states of a migration and the rules between them. Pure code.

Operations run in a fixed order; a migration is complete when every planned
operation has a result for every item it planned.
"""

from __future__ import annotations

from collections.abc import Mapping

QUEUED = "queued"
VALIDATING = "validating"
RUNNING = "running"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
FAILED = "failed"
UNDOING = "undoing"
UNDONE = "undone"
UNDO_FAILED = "undo_failed"

STATES = (QUEUED, VALIDATING, RUNNING, CANCELLING, CANCELLED, COMPLETED, COMPLETED_WITH_ERRORS,
          FAILED, UNDOING, UNDONE, UNDO_FAILED)
FINAL = frozenset({CANCELLED, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, UNDONE, UNDO_FAILED})
# States an undo may start from (within the undo window after the migration ended).
UNDOABLE = frozenset({CANCELLED, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, UNDO_FAILED})

# Which state may follow which. Anything else is ignored (a late or repeated event).
ALLOWED: dict[str, frozenset[str]] = {
    QUEUED: frozenset({VALIDATING, RUNNING, CANCELLING, CANCELLED, FAILED}),
    VALIDATING: frozenset({RUNNING, CANCELLING, CANCELLED, FAILED}),
    RUNNING: frozenset({CANCELLING, COMPLETED, COMPLETED_WITH_ERRORS, FAILED}),
    CANCELLING: frozenset({CANCELLED, FAILED}),
    CANCELLED: frozenset({UNDOING}),
    COMPLETED: frozenset({UNDOING}),
    COMPLETED_WITH_ERRORS: frozenset({UNDOING}),
    FAILED: frozenset({UNDOING}),
    UNDOING: frozenset({UNDONE, UNDO_FAILED}),
    UNDO_FAILED: frozenset({UNDOING}),
    UNDONE: frozenset(),
}

# The fixed order of operations and the item types each reports.
EMAILS = "emails"  # the e-mail operation: messages and their folders
OPERATIONS = (EMAILS, "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply")
OPERATION_ITEM_TYPES: dict[str, tuple[str, ...]] = {
    "emails": ("email", "folder"),
    "contacts": ("contact",),
    "contact_groups": ("contact_group",),
    "calendars": ("calendar",),
    "tasks": ("task",),
    "rules": ("rule",),
    "auto_reply": ("auto_reply",),
}
# The operation an item type belongs to (the inverse of OPERATION_ITEM_TYPES).
OPERATION_OF: dict[str, str] = {t: op for op, types in OPERATION_ITEM_TYPES.items() for t in types}


# Item types as the API and the notification name them.
ITEM_TYPE_NAMES = {"email": "emails", "folder": "folders", "contact": "contacts", "contact_group": "contact_groups",
                   "calendar": "calendars", "task": "tasks", "rule": "rules", "auto_reply": "auto_reply"}


def next_operation(options: list[str], current: str) -> str | None:
    """The operation after ``current`` among the chosen ones, in the fixed order."""
    chosen = [op for op in OPERATIONS if op in options]
    if current not in chosen:
        return chosen[0] if chosen else None
    i = chosen.index(current)
    return chosen[i + 1] if i + 1 < len(chosen) else None


def can_move(current: str, new: str) -> bool:
    return new in ALLOWED.get(current, frozenset())


def count(fields: Mapping[str, str], name: str) -> int:
    try:
        return int(fields.get(name, 0) or 0)
    except ValueError:
        return 0


def reported(fields: Mapping[str, str], item_type: str) -> int:
    return sum(count(fields, f"{r}:{item_type}") for r in ("done", "skipped", "failed"))


def operation_finished(fields: Mapping[str, str], operation: str) -> bool:
    """Planned, and a result reported for every planned item of every type it covers."""
    if fields.get(f"planned:{operation}") != "1":
        return False
    return all(reported(fields, t) >= count(fields, f"total:{t}") for t in OPERATION_ITEM_TYPES[operation])


def final_state(fields: Mapping[str, str], options: list[str]) -> str | None:
    """The state a running migration ends in, or None while work is outstanding."""
    if not all(operation_finished(fields, op) for op in options):
        return None
    failed = sum(count(fields, f"failed:{t}") for op in options for t in OPERATION_ITEM_TYPES[op])
    return COMPLETED_WITH_ERRORS if failed else COMPLETED


def after_operation(fields: Mapping[str, str], options: list[str]) -> tuple[str | None, str | None]:
    """What to do once the current operation is finished: (final state, next operation).

    Cancelling: the running operation has finished, nothing after it starts.
    Otherwise the next chosen operation starts, or the migration ends.
    """
    current = fields.get("current_operation", "")
    state = fields.get("state", "")
    if not current or not operation_finished(fields, current):
        return None, None
    if state == CANCELLING:
        return CANCELLED, None
    nxt = next_operation(options, current)
    if nxt is not None:
        return None, nxt
    return final_state(fields, options), None
