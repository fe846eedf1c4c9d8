"""Which notifications a view rebuilt from the topics owes (shared.notify_due), with statuses written here."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.notify_due import marker, notice_owed, notify_job, owed, told

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC).timestamp()
ENDED = {"notify_email": "owner@example.test", "state": "completed", "finished_at": "2026-12-06T11:00:00+00:00"}


def test_an_end_not_yet_told_is_owed_once_told_it_is_not() -> None:
    assert owed(ENDED, NOW) == ["migration"]
    told_fields = {**ENDED, "notified_at": "2026-12-06T11:00:00+00:00"}
    assert told(told_fields, "migration") and owed(told_fields, NOW) == []


def test_without_an_address_or_an_end_nothing_is_owed() -> None:
    assert owed({**ENDED, "notify_email": ""}, NOW) == []
    assert owed({"notify_email": "owner@example.test", "state": "running"}, NOW) == []


def test_an_undo_after_a_told_end_is_owed_and_a_new_undo_end_again() -> None:
    fields = {**ENDED, "notified_at": ENDED["finished_at"], "state": "undo_failed",
              "undo_finished_at": "2026-12-06T11:30:00+00:00"}
    assert owed(fields, NOW) == ["undo"]
    fields["undo_notified_at"] = "2026-12-06T11:30:00+00:00"
    assert owed(fields, NOW) == []
    fields["undo_finished_at"] = "2026-12-06T11:50:00+00:00"  # asked again, ended again: told again
    assert owed(fields, NOW) == ["undo"]


def test_an_old_end_is_not_told_again_by_a_rebuild() -> None:
    old = {**ENDED, "finished_at": "2026-12-01T11:00:00+00:00"}
    assert owed(old, NOW) == []
    assert owed({**ENDED, "finished_at": "not a time"}, NOW) == []


def test_the_marker_names_the_end_it_told() -> None:
    assert marker(ENDED, "migration") == {"notified_at": "2026-12-06T11:00:00+00:00"}
    assert marker(ENDED, "undo") == {}
    assert marker(ENDED, "project") == {}


def test_a_job_is_one_fresh_queue_entry() -> None:
    a, b = json.loads(notify_job("m1", "undo")), json.loads(notify_job("m1", "undo"))
    assert {k: a[k] for k in ("mid", "kind", "attempt", "not_before")} == {"mid": "m1", "kind": "undo",
                                                                           "attempt": 0, "not_before": 0}
    assert a["id"] != b["id"]


def test_a_project_notice_still_on_the_record_is_owed_while_recent() -> None:
    assert notice_owed(datetime(2026, 12, 6, 11, 0, tzinfo=UTC), NOW)
    assert not notice_owed(datetime(2026, 12, 3, 11, 0, tzinfo=UTC), NOW)
