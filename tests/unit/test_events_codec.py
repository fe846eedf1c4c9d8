"""The one wire format: every registered event round-trips; bad input is a typed EventError."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import EventError
from shared.events import (
    REGISTRY,
    ControlCommand,
    CreatedThing,
    DeadLetter,
    EndpointSpec,
    Event,
    ExtractTask,
    FolderItem,
    FolderRef,
    ItemResult,
    ItemResults,
    MailChunk,
    MailFilters,
    MailItem,
    MailMeta,
    MigrationFailed,
    MigrationRequested,
    MigrationValidating,
    OperationPlanned,
    OperationRequested,
    OperationSkipped,
    OperationStarted,
    PimItem,
    ProjectEnded,
    ProjectRecord,
    SieveScriptItem,
    UndoFinished,
    UndoProgress,
    UndoRecords,
    decode,
    decode_as,
    encode,
)
from shared.events.codec import FRAME

ENDPOINT = EndpointSpec(type="imap", host="imap.example.org", port=993, security="tls", login="a@example.org",
                        password_sealed="bm9uY2U.Y2lwaGVy", sieve_port=4190)
FOLDER = FolderRef(folder_id="0123456789abcdef", path=["INBOX", "Rechnungen 2024"], source_name="INBOX.Rechnungen 2024")
META = MailMeta(item_key="0123456789abcdef:7:42", folder=FOLDER, flags=["\\Seen", "$Label1"],
                internaldate=datetime(2024, 2, 29, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5))),
                size=9, message_id="<x@example.org>", subject="Grüße aus Köln")
# Not valid UTF-8, a NUL and a CR LF: a message body is arbitrary bytes.
RAW = b"\xff\xfe\x00\x80Subject: \xe4\r\n\r\nbody\r\n"

SAMPLES: dict[type[Event], dict[str, Any]] = {
    DeadLetter: {"service": "loader", "code": "bad_event", "reason": "why", "topic": "items", "partition": 3,
                 "offset": 17, "item_key": "k", "excerpt": "ex"},
    FolderItem: {"folder": FOLDER},
    MailItem: {"meta": META, "data": RAW},
    MailChunk: {"item_key": META.item_key, "seq": 0, "last": False, "meta": META, "data": RAW},
    SieveScriptItem: {"item_key": "sieve:main", "name": "main", "script": 'require "vacation";', "active": True},
    PimItem: {"item_key": "contacts:abc", "item_type": "contact", "format": "vcard", "name": "Ann",
              "payload": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n"},
    MigrationRequested: {"source": ENDPOINT, "target": ENDPOINT.model_copy(update={"host": "t.example.org"}),
                         "options": ["emails", "rules"], "notify_email": "u@example.org", "pair_id": "p1",
                         "filters": MailFilters(exclude_folders=["Junk"], received_before=datetime(2020, 1, 1,
                                                                                                   tzinfo=UTC))},
    ControlCommand: {"command": "undo", "target_password_sealed": "a.b"},
    OperationRequested: {"operation": "emails"},
    OperationStarted: {"operation": "emails"},
    OperationPlanned: {"operation": "emails", "total": 10, "folders": 2, "tasks": 1},
    ItemResults: {"operation": "emails", "results": [
        ItemResult(item_key="k1", result="done", bytes=5, folder="INBOX", subject="s"),
        ItemResult(item_key="folder:f", item_type="folder", result="failed", reason="no")]},
    MigrationFailed: {"code": "authentication_failed", "reason": "password changed"},
    MigrationValidating: {},
    UndoProgress: {"done": 3, "total": 5, "kept": 1},
    UndoFinished: {"ok": False, "removed_messages": 3, "removed_folders": 1, "restored_settings": 0,
                   "kept": ["Foo was kept"], "reason": "partial"},
    OperationSkipped: {"operation": "rules"},
    ProjectRecord: {"part": "row", "row": {"row": 1, "source": {"login": "a@b.c", "password_sealed": "n.c"}}},
    ProjectEnded: {"name": "Move 2026", "state": "ended", "notify_email": "noc@example.org",
                   "lines": ["Project: Move 2026", "Rows: 3"]},
    ExtractTask: {"task_id": "t1", "source": ENDPOINT, "folder": FOLDER, "uidvalidity": 7, "uids": [1, 2, 42],
                  "received_before": datetime(2020, 1, 1, tzinfo=UTC)},
    UndoRecords: {"pair_id": "p1", "records": [
        CreatedThing(kind="folder", target_folder="Foo"),
        CreatedThing(kind="message", target_folder="Foo", uidvalidity=9, uid=3, item_key="k"),
        CreatedThing(kind="sieve_script", name="main", previous=None, previous_active="old")]},
}


def sample(cls: type[Event]) -> Event:
    return cls(migration_id="mig-1", **SAMPLES[cls])


def test_every_registered_event_has_a_sample() -> None:
    # A new event must get a sample here so that it is round-tripped too.
    assert set(REGISTRY.values()) == set(SAMPLES)


@pytest.mark.parametrize("cls", sorted(SAMPLES, key=lambda c: c.EVENT_TYPE), ids=lambda c: c.EVENT_TYPE)
def test_round_trip(cls: type[Event]) -> None:
    event = sample(cls)
    raw = encode(event)
    back = decode(raw)
    assert type(back) is cls
    assert back == event
    assert back.event_type == cls.EVENT_TYPE and back.version == cls.VERSION
    # Applied twice equals applied once: re-encoding a decoded event gives the same bytes.
    assert encode(back) == raw
    assert decode_as(raw, cls) == event


def test_envelope_says_what_the_class_is_even_if_told_otherwise() -> None:
    event = OperationStarted(migration_id="m", operation="emails", event_type="forged", version=99)
    assert (event.event_type, event.version) == ("progress.operation_started", 1)
    head = json.loads(encode(event))
    assert head["event_type"] == "progress.operation_started" and head["version"] == 1


def test_envelope_defaults_are_unique_ids_and_utc_times() -> None:
    a, b = OperationStarted(migration_id="m", operation="x"), OperationStarted(migration_id="m", operation="x")
    assert a.event_id != b.event_id
    assert a.occurred_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - a.occurred_at) < timedelta(minutes=1)


@pytest.mark.parametrize("data", [RAW, b"", bytes(range(256)), "Grüße".encode("latin-1")])
def test_bytes_survive_exactly(data: bytes) -> None:
    event = MailItem(migration_id="m", meta=META, data=data)
    back = decode_as(encode(event), MailItem)
    assert back.data == data
    assert back.meta.internaldate == META.internaldate
    assert back.meta.internaldate.utcoffset() == timedelta(hours=-5)


def test_mail_bytes_travel_framed_after_a_json_header() -> None:
    data = b"\xff\xfe\xfd" * 1000
    raw = encode(MailItem(migration_id="m", meta=META, data=data))
    assert raw.startswith(FRAME)
    n = int.from_bytes(raw[4:8], "big")
    head = json.loads(raw[8:8 + n].decode("utf-8"))
    assert "data" not in head and head["event_type"] == MailItem.EVENT_TYPE
    assert raw[8 + n:] == data  # no base64: the broker carries the message's own size
    assert decode_as(raw, MailItem).data == data


def test_events_without_bytes_stay_plain_json() -> None:
    raw = encode(sample(OperationStarted))
    assert json.loads(raw.decode("utf-8"))["event_type"] == OperationStarted.EVENT_TYPE


def test_json_with_base64_bytes_is_still_read() -> None:
    """Records written before the framing (and by other writers) decode the same."""
    head = json.loads(MailItem(migration_id="m", meta=META, data=b"\xff\xfe\xfd").model_dump_json())
    assert head["data"] == "__79"  # pydantic writes URL-safe base64
    assert decode_as(json.dumps(head).encode(), MailItem).data == b"\xff\xfe\xfd"
    head["data"] = "//79"  # ... and a reader also accepts the standard alphabet
    assert decode_as(json.dumps(head).encode(), MailItem).data == b"\xff\xfe\xfd"


@pytest.mark.parametrize("raw, words", [
    (FRAME + b"\x00\x00", "cut short"),
    (FRAME + b"\x00\x00\x00\xff{}", "cut short"),
    (FRAME + b"\x00\x00\x00\x02[]data", "not a JSON object"),
    (FRAME + b"\x00\x00\x00\x02{xdata", "not JSON"),
])
def test_broken_frames_are_typed_errors(raw: bytes, words: str) -> None:
    with pytest.raises(EventError, match=words):
        decode(raw)


def test_events_are_immutable() -> None:
    event = sample(OperationStarted)
    with pytest.raises(ValidationError, match="frozen"):
        event.operation = "other"  # type: ignore[misc]


def _raw(**fields: Any) -> bytes:
    head = json.loads(encode(sample(OperationStarted)))
    head.update(fields)
    return json.dumps(head).encode()


@pytest.mark.parametrize("raw, words", [
    (_raw(event_type="no.such.event"), "unknown event type"),
    (_raw(version=2), "unknown event type"),
    (_raw(version="1"), "unknown event type"),
    (_raw(version=None), "unknown event type"),
    (b'{"migration_id": "m"}', "unknown event type"),
    (b"", "empty"),
    (None, "empty"),
    (b"{not json", "not JSON"),
    (b"\xff\xfe\xfd", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'"just a string"', "not a JSON object"),
    (_raw(operation=5), "invalid progress.operation_started"),
    (_raw(surprise="extra field"), "invalid progress.operation_started"),
    (_raw(migration_id=None), "invalid progress.operation_started"),
])
def test_bad_messages_are_typed_errors(raw: bytes | None, words: str) -> None:
    with pytest.raises(EventError, match=words):
        decode(raw)


def test_missing_required_field_is_an_event_error() -> None:
    head = json.loads(_raw())
    del head["operation"]
    with pytest.raises(EventError):
        decode(json.dumps(head).encode())


def test_invalid_base64_bytes_are_an_event_error() -> None:
    head = json.loads(sample(MailItem).model_dump_json())
    head["data"] = "***not base64***"
    with pytest.raises(EventError):
        decode(json.dumps(head).encode())


@pytest.mark.parametrize("event_type", [["item.mail"], {"a": 1}])
def test_unhashable_event_type_is_an_event_error(event_type: object) -> None:
    with pytest.raises(EventError):
        decode(_raw(event_type=event_type))


def test_decode_as_refuses_another_event_type() -> None:
    with pytest.raises(EventError, match=r"expected item\.mail"):
        decode_as(encode(sample(OperationStarted)), MailItem)


def test_registry_keys_match_the_classes() -> None:
    for (event_type, version), cls in REGISTRY.items():
        assert event_type == cls.EVENT_TYPE
        assert event_type
        assert version == cls.VERSION
        assert version >= 1


@pytest.mark.parametrize("cls", sorted(REGISTRY.values(), key=lambda c: c.EVENT_TYPE), ids=lambda c: c.EVENT_TYPE)
def test_json_schema_exports(cls: type[Event]) -> None:
    for mode in ("validation", "serialization"):
        schema = cls.model_json_schema(mode=mode)
        json.dumps(schema)
        assert schema["type"] == "object"
        assert "migration_id" in schema["properties"]
        assert "migration_id" in schema["required"]


def test_fields_added_since_the_first_release_are_left_off_at_their_default() -> None:
    """A worker of the version before refuses fields it does not know (a rolling upgrade runs both): the new
    fields travel only when they say something, and every event reads back as it was."""
    from shared.events import ExtractTask, FolderRef, MailItem, MailMeta, TaskLink

    plain = FolderRef(folder_id="f", path=["A"])
    renamed = FolderRef(folder_id="g", path=["a"], target_path=["a (2)"])
    spec = EndpointSpec(type="imap", host="h.example", port=993, security="tls", login="u", password_sealed="s")
    for folder, look in ((plain, False), (renamed, True)):
        meta = MailMeta(item_key="k", folder=folder, flags=[], internaldate=datetime(2026, 1, 1, tzinfo=UTC), size=1,
                        look_first=look)
        task = ExtractTask(migration_id="m", task_id="t", source=spec, folder=folder, uidvalidity=1, uids=[1],
                           look_first=look, chain=[TaskLink(task_id="t2", folder=folder, uidvalidity=1, look_first=look)])
        for event in (MailItem(migration_id="m", meta=meta, data=b"x"), task):
            raw = encode(event)
            assert (b'"look_first"' in raw) is look and (b'"target_path"' in raw) is (folder is renamed)
            assert decode(raw) == event
