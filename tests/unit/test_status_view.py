"""The status a user sees, built from the status hash."""

from __future__ import annotations

import json

from services.intake.status_view import build, item_counts


def test_item_counts_total_is_never_below_what_was_reported() -> None:
    fields = {"total:email": "5", "done:email": "2", "skipped:email": "1", "failed:email": "1", "bytes:email": "99"}
    assert item_counts(fields, "email") == {"total": 5, "done": 2, "skipped": 1, "failed": 1, "bytes": 99}
    # More results than planned (e.g. mail arrived meanwhile): the total grows with them.
    more = {**fields, "done:email": "6"}
    assert item_counts(more, "email")["total"] == 8


def test_item_counts_of_nothing_and_garbage() -> None:
    assert item_counts({}, "email") == {"total": 0, "done": 0, "skipped": 0, "failed": 0, "bytes": 0}
    assert item_counts({"done:email": "lots"}, "email")["done"] == 0


def test_build() -> None:
    fields = {"state": "running", "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:01:00Z",
              "finished_at": "", "current_operation": "emails", "options": json.dumps(["emails", "rules"]),
              "total:email": "3", "done:email": "1", "total:folder": "2", "done:folder": "2", "bytes:email": "10",
              "error": ""}
    errors = [{"item": "x"}]
    history = [{"state": "queued"}]
    view = build("mid-1", fields, errors, history)
    assert view["id"] == "mid-1"
    assert view["state"] == "running"
    assert view["options"] == ["emails", "rules"]
    assert set(view["items"]) == {"emails", "folders", "rules"}
    assert view["items"]["emails"] == {"total": 3, "done": 1, "skipped": 0, "failed": 0, "bytes": 10}
    assert view["items"]["folders"]["done"] == 2
    assert view["items"]["rules"]["total"] == 0
    assert view["finished_at"] is None and view["error"] is None
    assert view["current_operation"] == "emails"
    assert view["errors"] is errors and view["history"] is history
    json.dumps(view)


def test_build_from_an_empty_hash() -> None:
    view = build("m", {}, [], [])
    assert view["state"] == "unknown"
    assert view["options"] == [] and view["items"] == {}
    assert view["current_operation"] is None and view["finished_at"] is None


def test_build_ignores_unknown_options() -> None:
    view = build("m", {"options": json.dumps(["emails", "faxes"])}, [], [])
    assert set(view["items"]) == {"emails", "folders"}
