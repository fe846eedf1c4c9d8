"""What ends a migration that makes no progress, by the state it is stuck in."""

from __future__ import annotations

import pytest

from services.tracker.stall import stalled_event
from shared.events import MigrationFailed, UndoFinished


@pytest.mark.parametrize("state", ["queued", "validating", "running", "cancelling"])
def test_a_stuck_migration_or_cancel_fails_with_the_reason(state: str) -> None:
    ev = stalled_event("m1", state, 60)
    assert isinstance(ev, MigrationFailed)
    assert (ev.migration_id, ev.code) == ("m1", "stalled")
    assert "no progress for 60 minutes" in ev.reason and "MAILFERRY_STALL_TIMEOUT_MINUTES" in ev.reason


def test_a_stuck_undo_fails_as_an_undo_that_can_be_asked_for_again() -> None:
    ev = stalled_event("m1", "undoing", 1.5)
    assert isinstance(ev, UndoFinished)
    assert ev.ok is False and "no progress for 1.5 minutes" in ev.reason and "asked for again" in ev.reason


@pytest.mark.parametrize("state", ["completed", "completed_with_errors", "failed", "cancelled", "undone",
                                   "undo_failed"])
def test_an_ended_migration_is_left_alone(state: str) -> None:
    assert stalled_event("m1", state, 60) is None
