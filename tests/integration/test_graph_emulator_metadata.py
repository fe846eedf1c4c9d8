"""Everything the Graph emulator answers fits its Graph model, and every path it serves is one the model has.

The model (tests/graph_emulator/model) is the emulator's own declaration of the Graph surface it serves, kept
in line with Microsoft's published metadata by tests/graph_emulator/metadata/check.py. The checks here read
the model's declarations with their own small reader (not the emulator's schema lookups or validator), so they
do not agree with the emulator's validation by construction."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.graph_emulator import GraphEmulator
from tests.graph_emulator.model import GRAPH, Prop
from tests.graph_emulator.routes import ALL
from tests.graph_emulator.testing import app_token, graph, http

pytestmark = pytest.mark.integration

ALICE = "alice@example.test"
DTO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _members(name: str) -> dict[str, Prop]:
    """Structural and navigation properties of a type with its base types."""
    props: dict[str, Prop] = {}
    cur: str | None = name
    while cur:
        declared = GRAPH.types[cur]
        props.update({p.name: p for p in declared.props if p.name not in props})
        cur = declared.base
    return props


def _derives(name: str, base: str) -> bool:
    cur: str | None = name
    while cur:
        if cur == base:
            return True
        declared = GRAPH.types.get(cur)
        cur = declared.base if declared else None
    return False


def _fits(type_name: str, value: Any, where: str) -> list[str]:
    if type_name.startswith("Edm."):
        ok = {
            "Edm.String": isinstance(value, str),
            "Edm.Boolean": isinstance(value, bool),
            "Edm.Int32": isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**31,
            "Edm.Int64": isinstance(value, int) and not isinstance(value, bool),
            "Edm.Double": isinstance(value, int | float) and not isinstance(value, bool),
            "Edm.DateTimeOffset": isinstance(value, str) and bool(DTO.match(value)),
            "Edm.Date": isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d\d-\d\d", value)),
            "Edm.Binary": isinstance(value, str) and bool(re.fullmatch(r"[A-Za-z0-9+/_-]*=*", value)),
        }.get(type_name)
        assert ok is not None, f"{where}: the test's reader does not know {type_name}"
        return [] if ok else [f"{where}: {value!r} is not {type_name}"]
    if type_name in GRAPH.enums:
        return [] if value in GRAPH.enums[type_name].members else [f"{where}: {value!r} not in {type_name}"]
    return _object(type_name, value, where)


def _object(type_name: str, obj: Any, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not an object"]
    actual = type_name
    if "@odata.type" in obj:
        actual = obj["@odata.type"].removeprefix("#microsoft.graph.")
        if not _derives(actual, type_name):
            return [f"{where}: {actual} is not a {type_name}"]
    props = _members(actual)
    problems = []
    for key, value in obj.items():
        if key.startswith("@"):
            continue
        spec = props.get(key)
        if spec is None:
            problems.append(f"{where}.{key}: not a property of {actual}")
            continue
        if value is None:
            if spec.collection or not spec.nullable:
                problems.append(f"{where}.{key}: null")
            continue
        if spec.collection:
            if not isinstance(value, list):
                problems.append(f"{where}.{key}: not an array")
                continue
            for i, v in enumerate(value):
                problems += _fits(spec.type, v, f"{where}.{key}[{i}]")
        else:
            problems += _fits(spec.type, value, f"{where}.{key}")
    return problems


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator() as e:
        e.add_user(ALICE)
        yield e


def _workout(g: httpx.Client) -> None:
    """One of everything the emulator answers with a body."""
    g.get("/mailFolders", params={"includeHiddenFolders": "true"})
    folder = g.post("/mailFolders/inbox/childFolders", json={"displayName": "Sub"}).json()
    g.get(f"/mailFolders/{folder['id']}")
    msg = g.post("/mailFolders/inbox/messages", json={
        "subject": "s", "body": {"contentType": "html", "content": "<b>x</b>"}, "importance": "high",
        "toRecipients": [{"emailAddress": {"address": "a@b.test", "name": "A"}}], "categories": ["c"],
        "flag": {"flagStatus": "flagged", "dueDateTime": {"dateTime": "2026-01-01T00:00:00", "timeZone": "UTC"}},
        "internetMessageHeaders": [{"name": "X-Custom", "value": "1"}],
        "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "YQ=="}],
    }).json()
    mime = b"From: a@b.test\r\nSubject: m\r\n\r\nhi\r\n"
    g.post("/messages", content=base64.b64encode(mime), headers={"Content-Type": "text/plain"})
    g.get("/messages", params={"$expand": "attachments,singleValueExtendedProperties"})
    g.get(f"/messages/{msg['id']}", params={"$expand": "singleValueExtendedProperties($filter=id eq "
                                                       "'Integer 0x0E07')"})
    g.get(f"/messages/{msg['id']}/attachments")
    g.patch(f"/messages/{msg['id']}", json={"isRead": False})
    g.post(f"/messages/{msg['id']}/copy", json={"destinationId": "archive"})
    g.post(f"/messages/{msg['id']}/attachments/createUploadSession",
           json={"AttachmentItem": {"attachmentType": "file", "name": "b.bin", "size": 4_000_000}})
    g.get("/mailFolders/inbox/messages/delta")
    g.get("/mailFolders/delta")
    g.get(f"/messages/{msg['id']}", headers={"Prefer": 'outlook.body-content-type="text"'})
    cf = g.post("/contactFolders", json={"displayName": "Work"}).json()
    person = g.post(f"/contactFolders/{cf['id']}/contacts", json={
        "givenName": "A", "emailAddresses": [{"address": "a@b.test"}], "birthday": "1990-01-01T00:00:00Z",
        "businessAddress": {"city": "Berlin", "countryOrRegion": "DE"}}).json()
    g.put(f"/contacts/{person['id']}/photo/$value", content=b"\xff\xd8\xff", headers={"Content-Type": "image/jpeg"})
    g.get(f"/contacts/{person['id']}/photo")
    g.get("/contacts/delta")
    g.get("/contactFolders/delta")
    g.get(f"/contactFolders/{cf['id']}/contacts/delta")
    g.get("/calendars")
    master = g.post("/events", json={
        "subject": "e", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC"}, "showAs": "tentative",
        "attendees": [{"emailAddress": {"address": "x@y.test"}, "type": "required"}],
        "location": {"displayName": "Room 1"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
                       "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3}}}).json()
    window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-02-01T00:00:00Z"}
    occ = g.get(f"/events/{master['id']}/instances", params=window).json()["value"]
    g.patch(f"/events/{occ[0]['id']}", json={"subject": "moved"})
    g.delete(f"/events/{occ[1]['id']}")
    g.get(f"/events/{master['id']}", params={"$expand": "exceptionOccurrences"})
    g.get("/calendarView", params=window, headers={"Prefer": 'outlook.timezone="Tokyo Standard Time"'})
    g.get("/calendarView/delta", params=window)
    g.post("/events", json={"subject": "d", "isAllDay": True,
                            "start": {"dateTime": "2026-01-07T00:00:00", "timeZone": "UTC"},
                            "end": {"dateTime": "2026-01-08T00:00:00", "timeZone": "UTC"}})
    lst = g.get("/todo/lists").json()["value"][0]
    g.post(f"/todo/lists/{lst['id']}/tasks", json={
        "title": "t", "dueDateTime": {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                       "range": {"type": "noEnd", "startDate": "2026-01-05"}}})
    g.get(f"/todo/lists/{lst['id']}/tasks/delta")
    todo = g.get(f"/todo/lists/{lst['id']}/tasks").json()["value"][0]
    g.post(f"/todo/lists/{lst['id']}/tasks/{todo['id']}/attachments", json={
        "@odata.type": "#microsoft.graph.taskFileAttachment", "name": "a.txt", "contentType": "text/plain",
        "contentBytes": "YQ=="})
    g.get(f"/todo/lists/{lst['id']}/tasks/{todo['id']}/attachments")
    archive = g.get("/mailFolders/archive").json()["id"]
    g.post("/mailFolders/inbox/messageRules", json={
        "displayName": "r", "sequence": 1, "conditions": {"fromAddresses": [{"emailAddress": {"address": "a@b.c"}}]},
        "actions": {"copyToFolder": archive, "assignCategories": ["x"]}})
    g.get("/mailFolders/inbox/messageRules")
    g.patch("/mailboxSettings", json={"timeZone": "W. Europe Standard Time",
                                      "automaticRepliesSetting": {"status": "alwaysEnabled"}})
    g.get("/mailboxSettings")
    g.get("", params={"$select": "displayName,mail,mailboxSettings"})


def test_every_answer_fits_the_model(emu: GraphEmulator) -> None:
    app = emu.register_app(secret="s")
    with graph(emu, app_token(emu, app.client_id, "s"), ALICE) as g:
        _workout(g)
    kinds = {t for t, _ in emu.emitted}
    assert {"message", "mailFolder", "contact", "contactFolder", "event", "calendar", "todoTask", "todoTaskList",
            "messageRule", "mailboxSettings", "attachment", "uploadSession", "user", "taskFileAttachment",
            "attachmentBase", "profilePhoto"} <= kinds
    problems = [p for t, obj in emu.emitted for p in _object(t, obj, t)]
    assert problems == []
    assert len(emu.emitted) > 40
    assert not emu.errors_answered, emu.errors_answered  # the workout itself made no mistakes


MEDIA = "$value"  # the media resource of an item or attachment (OData's /$value), not a property


def _walk(pattern: str) -> None:
    """Walk a served path from `user` through navigation properties, keys and bound operations of the model."""
    current, collection, after_key = "user", False, False
    for step in pattern.split("/") if pattern else []:
        if step.startswith("{"):
            assert collection, f"{pattern}: a key where no collection is"
            collection, after_key = False, True
            continue
        if step == MEDIA:
            assert after_key and GRAPH.types[current].kind == "entity", f"{pattern}: $value of no item"
            continue
        after_key = False
        spec = _members(current).get(step)
        if spec is not None and (spec.navigation or spec.type in GRAPH.types):
            current, collection = spec.type, spec.collection and spec.navigation
            after_key = spec.navigation and not spec.collection  # one item (a contact's photo): its $value too
            continue
        ops = [op for op in GRAPH.operations
               if op.name == step and op.binding_collection == collection and _derives(current, op.binding)]
        if not ops:
            raise AssertionError(f"{pattern}: '{step}' is neither a navigation nor an operation of {current}")
        current, collection = ops[0].returns or current, ops[0].returns_collection


def test_every_served_path_is_a_model_path() -> None:
    for route in ALL:
        _walk(route.pattern)


@pytest.mark.parametrize("pattern", [
    "contactGroups",                                   # Graph v1.0 has no contact groups
    "calendars/{cal}/permanentDelete",                 # in Graph, not in the model: the emulator does not do it
    "messages/{message}/extensions",                   # likewise
    "todo/lists/{list}/tasks/{task}/checklistItems",   # likewise
    "contacts/{contact}/photo/{photo}",                # a contact has one photo, not a collection
    "messages/{message}/bogus",
    "messages/move",                                   # move is bound to one message, not the collection
    "mailFolders/{folder}/messages/{message}/attachments/$value",
])
def test_the_route_walk_refuses_a_fake_route(pattern: str) -> None:
    with pytest.raises(AssertionError):
        _walk(pattern)


@pytest.mark.parametrize(("type_name", "obj"), [
    ("message", {"id": "x", "bogus": 1}),
    ("message", {"id": "x", "uniqueBody": {"contentType": "text", "content": ""}}),  # Graph's, not the model's
    ("message", {"importance": "urgent"}),
    ("message", {"isRead": "yes"}),
    ("message", {"categories": None}),
    ("message", {"toRecipients": [{"emailAddress": {"adress": "a@b.test"}}]}),
    ("event", {"start": {"dateTime": "2026-01-01T00:00:00", "timeZone": "UTC", "zone": "x"}}),
    ("attachment", {"@odata.type": "#microsoft.graph.event", "id": "x"}),
    ("contact", {"@odata.type": "#microsoft.graph.contactGroup", "id": "x"}),
])
def test_the_answer_check_finds_what_does_not_fit(type_name: str, obj: dict[str, Any]) -> None:
    assert _object(type_name, obj, type_name) != []


@pytest.mark.parametrize(("path", "body", "type_name", "prop"), [
    # Graph has these; the emulator does not do them, so it refuses them rather than drop them unsaid
    ("/events", {"subject": "x", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
                 "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC"},
                 "multiValueExtendedProperties": [{"id": "StringArray 0x8001", "value": ["a"]}]},
     "event", "multiValueExtendedProperties"),
    ("/events", {"subject": "x", "transactionId": "retry-1"}, "event", "transactionId"),
    ("/contacts", {"givenName": "A", "multiValueExtendedProperties": []}, "contact", "multiValueExtendedProperties"),
    ("/messages", {"subject": "x", "uniqueBody": {"contentType": "text", "content": "x"}}, "message", "uniqueBody"),
    ("/mailFolders", {"displayName": "x", "singleValueExtendedProperties": []}, "mailFolder",
     "singleValueExtendedProperties"),
])
def test_what_the_model_leaves_out_is_refused(emu: GraphEmulator, path: str, body: dict[str, Any], type_name: str,
                                              prop: str) -> None:
    app = emu.register_app(secret="s")
    with graph(emu, app_token(emu, app.client_id, "s"), ALICE) as g:
        before = g.get(path).json()["value"]
        r = g.post(path, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "RequestBodyRead"
        assert r.json()["error"]["message"].startswith(
            f"The property '{prop}' does not exist on type 'microsoft.graph.{type_name}'.")
        assert g.get(path).json()["value"] == before  # nothing was made


def test_tokens_of_one_emulator_do_not_open_another(emu: GraphEmulator) -> None:
    app = emu.register_app(secret="s")
    token = app_token(emu, app.client_id, "s")
    with GraphEmulator() as other:
        other.add_user(ALICE)
        with http(other) as c:
            r = c.get(f"{other.graph_url}/users/{ALICE}/messages", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
