"""A batch given up as poison reports every item in it as failed, under the operation it belongs to.

The expected reports are written out here item by item: an operation missing one of its items
would never finish, and its migration would stay running for ever.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.loader.poison import given_up
from shared.events import (
    ControlCommand,
    Event,
    FolderItem,
    FolderRef,
    ItemResults,
    MailChunk,
    MailItem,
    MailMeta,
    PimItem,
    SieveScriptItem,
    UndoFinished,
)

INBOX = FolderRef(folder_id="f1", path=["INBOX"])


def meta(key: str) -> MailMeta:
    return MailMeta(item_key=key, folder=INBOX, flags=[], internaldate=datetime(2026, 1, 1, tzinfo=UTC), size=3,
                    subject=f"subject {key}")


def batch() -> list[Event]:
    pim = [("contact", "Ann"), ("contact_group", "Team"), ("calendar", "Standup"), ("task", "Report"),
           ("rule", "news"), ("auto_reply", "auto-reply")]
    return [
        MailItem(migration_id="m1", meta=meta("mail-1"), data=b"abc"),
        MailChunk(migration_id="m1", item_key="big-1", seq=0, last=False, meta=meta("big-1"), data=b"a"),
        MailChunk(migration_id="m1", item_key="big-1", seq=1, last=True, data=b"b"),
        FolderItem(migration_id="m1", folder=INBOX),
        SieveScriptItem(migration_id="m2", item_key="sieve-1", name="rules", script="keep;", active=True),
        *[PimItem(migration_id="m3", item_key=f"{kind}-1", item_type=kind, format="json", name=name, payload="{")
          for kind, name in pim],
        ControlCommand(migration_id="m4", command="cancel"),
        ControlCommand(migration_id="m5", command="undo", target_password_sealed="sealed"),
    ]


def test_every_item_kind_is_reported_failed_under_its_own_operation() -> None:
    events = given_up(batch(), "TypeError: boom").events()
    reports = {(e.migration_id, e.operation): [(r.item_key, r.item_type, r.subject) for r in e.results]
               for e in events if isinstance(e, ItemResults)}
    assert reports == {
        ("m1", "emails"): [("mail-1", "email", "subject mail-1"), ("big-1", "email", ""), ("folder:f1", "folder", "")],
        ("m2", "rules"): [("sieve-1", "rule", "rules")],
        ("m3", "contacts"): [("contact-1", "contact", "Ann")],
        ("m3", "contact_groups"): [("contact_group-1", "contact_group", "Team")],
        ("m3", "calendars"): [("calendar-1", "calendar", "Standup")],
        ("m3", "tasks"): [("task-1", "task", "Report")],
        ("m3", "rules"): [("rule-1", "rule", "news")],
        ("m3", "auto_reply"): [("auto_reply-1", "auto_reply", "auto-reply")],
    }
    results = [r for e in events if isinstance(e, ItemResults) for r in e.results]
    assert {r.result for r in results} == {"failed"}
    assert all("TypeError: boom" in r.reason and "set aside" in r.reason for r in results)


def test_an_undo_given_up_is_reported_as_a_failed_undo_and_a_cancel_as_nothing() -> None:
    undos = [e for e in given_up(batch(), "ValueError: x").events() if isinstance(e, UndoFinished)]
    assert [(u.migration_id, u.ok) for u in undos] == [("m5", False)]
    assert "ValueError: x" in undos[0].reason and "ask for it again" in undos[0].reason
