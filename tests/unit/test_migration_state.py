"""States of a migration, the order of operations and when one is finished."""

from __future__ import annotations

import pytest

from shared import migration_state as ms


def test_every_state_has_rules_and_final_states_only_lead_to_undo() -> None:
    assert set(ms.ALLOWED) == set(ms.STATES)
    for state in ms.STATES:
        assert ms.ALLOWED[state] <= set(ms.STATES)
        assert not ms.can_move(state, state)  # a repeated event changes nothing
    for state in ms.FINAL:
        assert ms.ALLOWED[state] <= {ms.UNDOING}
    assert ms.ALLOWED[ms.UNDONE] == frozenset()
    assert {s for s in ms.STATES if ms.can_move(s, ms.UNDOING)} == ms.UNDOABLE


@pytest.mark.parametrize("current, new, ok", [
    (ms.QUEUED, ms.VALIDATING, True),
    (ms.VALIDATING, ms.RUNNING, True),
    (ms.RUNNING, ms.COMPLETED, True),
    (ms.RUNNING, ms.QUEUED, False),
    (ms.COMPLETED, ms.RUNNING, False),
    (ms.CANCELLED, ms.RUNNING, False),
    (ms.UNDONE, ms.UNDOING, False),
    (ms.UNDO_FAILED, ms.UNDOING, True),
    ("nonsense", ms.RUNNING, False),
])
def test_can_move(current: str, new: str, ok: bool) -> None:
    assert ms.can_move(current, new) is ok


def test_next_operation_follows_the_fixed_order() -> None:
    options = ["rules", "emails", "contacts"]
    assert ms.next_operation(options, "") == "emails"
    assert ms.next_operation(options, "emails") == "contacts"
    assert ms.next_operation(options, "contacts") == "rules"
    assert ms.next_operation(options, "rules") is None
    assert ms.next_operation([], "") is None


def test_count_tolerates_missing_and_bad_values() -> None:
    assert ms.count({"a": "3"}, "a") == 3
    assert ms.count({}, "a") == 0
    assert ms.count({"a": ""}, "a") == 0
    assert ms.count({"a": "x"}, "a") == 0


def emails(**extra: str) -> dict[str, str]:
    return {"planned:emails": "1", "total:email": "3", "total:folder": "2", "done:email": "2",
            "failed:email": "1", "done:folder": "2", **extra}


def test_operation_finished_needs_the_plan_and_every_result() -> None:
    assert ms.operation_finished(emails(), "emails")
    assert not ms.operation_finished({**emails(), "planned:emails": "0"}, "emails")
    assert not ms.operation_finished({k: v for k, v in emails().items() if k != "planned:emails"}, "emails")
    assert not ms.operation_finished(emails(**{"done:folder": "1"}), "emails")
    assert not ms.operation_finished(emails(**{"total:email": "4"}), "emails")
    # Skipped items count as reported.
    assert ms.operation_finished(emails(**{"total:email": "4", "skipped:email": "1"}), "emails")


def test_final_state() -> None:
    assert ms.final_state(emails(), ["emails"]) == ms.COMPLETED_WITH_ERRORS
    assert ms.final_state(emails(**{"failed:email": "0", "done:email": "3"}), ["emails"]) == ms.COMPLETED
    assert ms.final_state(emails(), ["emails", "rules"]) is None  # rules not planned yet


def test_after_operation() -> None:
    running = emails(current_operation="emails", state=ms.RUNNING)
    assert ms.after_operation(running, ["emails", "rules"]) == (None, "rules")
    assert ms.after_operation(running, ["emails"]) == (ms.COMPLETED_WITH_ERRORS, None)
    assert ms.after_operation({**running, "state": ms.CANCELLING}, ["emails", "rules"]) == (ms.CANCELLED, None)
    assert ms.after_operation({**running, "done:folder": "0"}, ["emails"]) == (None, None)
    assert ms.after_operation({k: v for k, v in running.items() if k != "current_operation"}, ["emails"]) == (None, None)
