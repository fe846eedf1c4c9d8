"""The tracker's fold (pure): expected statuses written out, and "applied twice = applied once"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracker.fold import Finished, RequestOperation, UndoEnded, fold, fold_all, next_steps
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

MID = "m1"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def queued(options: list[str], **more: str) -> Status:
    return Status({"state": "queued", "options": json.dumps(options), "created_at": "2026-05-04T09:59:00+00:00",
                   "updated_at": "2026-05-04T09:59:00+00:00", **more}, {})


def results(minute: int, operation: str, *rs: ItemResult) -> ItemResults:
    return ItemResults(migration_id=MID, operation=operation, results=list(rs), occurred_at=at(minute))


FOLDER = ItemResult(item_key="folder:f1", item_type="folder", result="done", folder="INBOX")
MAIL_1 = ItemResult(item_key="f1:7:1", result="done", bytes=100, folder="INBOX", subject="one")
MAIL_2 = ItemResult(item_key="f1:7:2", result="failed", folder="INBOX", subject="two", reason="too large")
CONTACT = ItemResult(item_key="contacts:1", item_type="contact", result="done", bytes=40, subject="Ann")

EMAILS_THEN_CONTACTS: list[Event] = [
    MigrationValidating(migration_id=MID, occurred_at=at(1)),
    OperationStarted(migration_id=MID, operation="emails", occurred_at=at(2)),
    OperationPlanned(migration_id=MID, operation="emails", total=2, folders=1, tasks=1, occurred_at=at(3)),
    results(4, "emails", FOLDER, MAIL_1),
    results(5, "emails", MAIL_2, MAIL_1),  # MAIL_1 again: a redelivered report
    OperationStarted(migration_id=MID, operation="contacts", occurred_at=at(6)),
    OperationPlanned(migration_id=MID, operation="contacts", total=1, folders=0, tasks=0, occurred_at=at(7)),
    results(8, "contacts", CONTACT),
]


def test_a_migration_of_two_operations_folds_to_its_end() -> None:
    start = queued(["emails", "contacts"])
    after_emails = fold_all(start, EMAILS_THEN_CONTACTS[:5])
    assert dict(after_emails.fields) == {
        "state": "running", "options": '["emails", "contacts"]', "created_at": "2026-05-04T09:59:00+00:00",
        "current_operation": "emails", "planned:emails": "1", "total:email": "2", "total:folder": "1",
        "done:folder": "1", "done:email": "1", "bytes:email": "100", "failed:email": "1",
        "requested:contacts": "1", "updated_at": "2026-05-04T10:05:00+00:00"}
    assert after_emails.moves == (("validating", "2026-05-04T10:01:00+00:00"),
                                  ("running", "2026-05-04T10:02:00+00:00"))
    assert [r.item_key for r in after_emails.added] == ["folder:f1", "f1:7:1", "f1:7:2"]
    assert next_steps(start, after_emails) == [RequestOperation("contacts")]

    end = fold_all(after_emails, EMAILS_THEN_CONTACTS[5:])
    assert end.state == "completed_with_errors"
    assert end.fields["finished_at"] == "2026-05-04T10:08:00+00:00" == end.fields["updated_at"]
    assert (end.fields["done:contact"], end.fields["bytes:contact"], end.fields["total:contact"]) == ("1", "40", "1")
    assert end.moves[-1] == ("completed_with_errors", "2026-05-04T10:08:00+00:00")
    assert next_steps(after_emails, end) == [Finished("completed_with_errors")]
    assert next_steps(start, end) == [Finished("completed_with_errors"), RequestOperation("contacts")]


def test_results_before_the_plan_end_nothing_until_the_plan_comes() -> None:
    s = fold_all(queued(["emails"]), [OperationStarted(migration_id=MID, operation="emails", occurred_at=at(1)),
                                      results(2, "emails", FOLDER, MAIL_1)])
    assert s.state == "running"
    s = fold(s, OperationPlanned(migration_id=MID, operation="emails", total=1, folders=1, tasks=1,
                                 occurred_at=at(3)))
    assert (s.state, s.fields["finished_at"]) == ("completed", "2026-05-04T10:03:00+00:00")


def test_a_cancel_ends_after_the_running_operation_and_starts_no_other() -> None:
    running = fold_all(queued(["emails", "contacts"]), EMAILS_THEN_CONTACTS[1:3])
    cancelling = Status({**running.fields, "state": "cancelling"}, running.results)  # intake's move
    end = fold(cancelling, results(9, "emails", FOLDER, MAIL_1, MAIL_2))
    assert end.state == "cancelled" and "requested:contacts" not in end.fields
    assert next_steps(cancelling, end) == [Finished("cancelled")]
    skipped = fold(cancelling, OperationSkipped(migration_id=MID, operation="contacts", occurred_at=at(9)))
    assert (skipped.state, skipped.fields["finished_at"]) == ("cancelled", "2026-05-04T10:09:00+00:00")


def test_a_failure_after_the_end_changes_nothing() -> None:
    end = fold_all(queued(["emails"]), [*EMAILS_THEN_CONTACTS[1:5]])
    assert end.state == "completed_with_errors"
    assert fold(end, MigrationFailed(migration_id=MID, code="stalled", reason="late", occurred_at=at(30))) == end
    failed = fold(fold_all(queued(["emails"]), EMAILS_THEN_CONTACTS[1:3]),
                  MigrationFailed(migration_id=MID, code="authentication_failed", reason="login refused",
                                  occurred_at=at(4)))
    assert (failed.state, failed.fields["error"], failed.fields["error_code"], failed.fields["finished_at"]) == (
        "failed", "login refused", "authentication_failed", "2026-05-04T10:04:00+00:00")


def test_an_undo_folds_its_progress_and_its_end() -> None:
    undoing = Status({**queued(["emails"]).fields, "state": "undoing"}, {})
    s = fold(undoing, UndoProgress(migration_id=MID, done=3, total=9, kept=0, occurred_at=at(1)))
    assert (s.fields["undo_done"], s.fields["undo_total"], s.fields["undo_kept"]) == ("3", "9", "0")
    end = fold(s, UndoFinished(migration_id=MID, ok=True, removed_messages=4, removed_folders=2,
                               restored_settings=1, kept=["Reisen was kept"], occurred_at=at(2)))
    assert end.state == "undone"
    assert {k: end.fields[k] for k in ("undo_finished_at", "undo_removed_messages", "undo_removed_folders",
                                       "undo_restored_settings", "undo_kept_reasons", "undo_error")} == {
        "undo_finished_at": "2026-05-04T10:02:00+00:00", "undo_removed_messages": "4",
        "undo_removed_folders": "2", "undo_restored_settings": "1", "undo_kept_reasons": '["Reisen was kept"]',
        "undo_error": ""}
    assert next_steps(undoing, end) == [UndoEnded(True)]


def test_a_redelivered_start_of_an_earlier_operation_does_not_take_the_migration_back() -> None:
    contacts_running = fold_all(queued(["emails", "contacts"]), EMAILS_THEN_CONTACTS[:7])
    cancelling = Status({**contacts_running.fields, "state": "cancelling"}, contacts_running.results)
    again = fold(cancelling, EMAILS_THEN_CONTACTS[1])  # "emails started", redelivered after the cancel
    assert (again.state, again.fields["current_operation"]) == ("cancelling", "contacts")
    assert fold(again, results(9, "contacts", CONTACT)).state == "cancelled"  # the running one ends it


def test_a_result_counted_before_it_was_loaded_is_not_counted_again() -> None:
    loaded = Status({**queued(["emails"]).fields, "state": "running", "done:email": "1"}, {"f1:7:1": "done"})
    assert fold(loaded, results(1, "emails", MAIL_1)) == loaded


# -- applied twice = applied once, over generated sequences -------------------------------------
POOL: list[Event] = [
    *EMAILS_THEN_CONTACTS,
    OperationSkipped(migration_id=MID, operation="contacts", occurred_at=at(10)),
    MigrationFailed(migration_id=MID, code="x", reason="y", occurred_at=at(11)),
    UndoProgress(migration_id=MID, done=1, total=2, kept=0, occurred_at=at(12)),
    UndoFinished(migration_id=MID, ok=False, removed_messages=0, removed_folders=0, restored_settings=0, kept=[],
                 reason="refused", occurred_at=at(13)),
    results(14, "contacts", ItemResult(item_key="contacts:2", item_type="contact", result="skipped")),
]
STARTS = [queued(["emails", "contacts"]), queued(["emails"]),
          Status({**queued(["emails", "contacts"]).fields, "state": "cancelling"}, {}),
          Status({**queued(["emails"]).fields, "state": "undoing"}, {})]
sequences = st.lists(st.sampled_from(POOL), max_size=14)


@settings(max_examples=300, deadline=None)
@given(start=st.sampled_from(STARTS), events=sequences, last=st.sampled_from(POOL))
def test_an_event_folded_twice_gives_the_status_of_folding_it_once(start: Status, events: list[Event],
                                                                    last: Event) -> None:
    s = fold_all(start, events)
    once = fold(s, last)
    assert fold(once, last) == once
    assert next_steps(once, fold(once, last)) == []


@settings(max_examples=1000, deadline=None)
@given(start=st.sampled_from(STARTS), events=sequences)
def test_a_redelivered_batch_changes_nothing(start: Status, events: list[Event]) -> None:
    once = fold_all(start, events)
    assert fold_all(once, events) == once
    assert fold_all(start, [e for ev in events for e in (ev, ev)]) == once
