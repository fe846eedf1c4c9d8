"""The Graph emulator's contacts, calendars (series, occurrences, exceptions, cancellations, all-day),
To Do, inbox rules and automatic replies over real HTTP. Dates expected here were worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.graph_emulator import GraphEmulator
from tests.graph_emulator.testing import app_token, graph, graph_error

pytestmark = pytest.mark.integration

ALICE = "alice@example.test"
SECRET = "app-secret-value"
WEST = "W. Europe Standard Time"
JANUARY = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-02-01T00:00:00Z"}


@pytest.fixture
def g() -> Iterator[httpx.Client]:
    with GraphEmulator() as emu:
        emu.add_user(ALICE)
        app = emu.register_app(secret=SECRET)
        with graph(emu, app_token(emu, app.client_id, SECRET), ALICE) as c:
            yield c




def _created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return dict(r.json())


# -- contacts --------------------------------------------------------------------------------------
def test_contacts_in_folders_with_delta(g: httpx.Client) -> None:
    work = _created(g.post("/contactFolders", json={"displayName": "Work"}))
    graph_error(g.post("/contactFolders", json={"displayName": "WORK"}), 409, "ErrorFolderExists")
    c = _created(g.post(f"/contactFolders/{work['id']}/contacts", json={
        "givenName": "Jürgen", "surname": "Meier", "companyName": "ACME",
        "emailAddresses": [{"address": "j@acme.test", "name": "Jürgen"}], "businessPhones": ["+49 30 1"],
        "birthday": "1980-02-29T00:00:00Z"}))
    assert c["displayName"] == "Jürgen Meier" and c["parentFolderId"] == work["id"]
    assert g.get(f"/contactFolders/{work['id']}/contacts/{c['id']}").json()["companyName"] == "ACME"
    # the contact is in "Work", not in the default folder (well-known name "contacts")
    graph_error(g.get(f"/contactFolders/contacts/contacts/{c['id']}"), 404, "ErrorItemNotFound")
    first = g.get(f"/contactFolders/{work['id']}/contacts/delta").json()
    assert [x["id"] for x in first["value"]] == [c["id"]]
    link = first["@odata.deltaLink"]
    graph_error(g.post("/contacts", json={"emailAddresses": [{"address": f"{i}@x.test"} for i in range(4)]}), 400,
           "ErrorInvalidRequest")
    graph_error(g.post("/contacts", json={"nickname": "typo"}), 400, "RequestBodyRead")
    assert g.patch(f"/contacts/{c['id']}", json={"jobTitle": "CTO"}).status_code == 200
    second = g.get(link).json()
    assert [x["jobTitle"] for x in second["value"]] == ["CTO"]
    assert g.delete(f"/contacts/{c['id']}").status_code == 204
    third = g.get(second["@odata.deltaLink"]).json()
    assert third["value"] == [{"@odata.type": "#microsoft.graph.contact", "id": c["id"],
                               "@removed": {"reason": "deleted"}}]


def test_graph_has_no_contact_groups(g: httpx.Client) -> None:
    assert graph_error(g.get("/contactGroups"), 400, "BadRequest") == "Resource not found for the segment 'contactGroups'."
    graph_error(g.post("/contacts", json={"@odata.type": "#microsoft.graph.contactGroup", "displayName": "Team"}), 400,
           "RequestBodyRead")


# -- events ----------------------------------------------------------------------------------------
def _event(g: httpx.Client, start: str, end: str, tz: str = WEST, **extra: Any) -> dict[str, Any]:
    return _created(g.post("/events", json={"subject": "Jour fixe", "start": {"dateTime": start, "timeZone": tz},
                                            "end": {"dateTime": end, "timeZone": tz}, **extra}))


def _weekly(start_date: str, days: list[str], rng: dict[str, Any], interval: int = 1) -> dict[str, Any]:
    return {"pattern": {"type": "weekly", "interval": interval, "daysOfWeek": days, "firstDayOfWeek": "monday"},
            "range": {"startDate": start_date, **rng}}


def _dates(g: httpx.Client, master: str, window: dict[str, str] = JANUARY) -> list[str]:
    page = g.get(f"/events/{master}/instances", params={**window, "$top": "50"}).json()
    return [i["start"]["dateTime"][:10] for i in page["value"]]


def test_series_instances_exceptions_and_cancellations(g: httpx.Client) -> None:
    master = _event(g, "2026-01-05T09:00:00", "2026-01-05T10:00:00", recurrence=_weekly(
        "2026-01-05", ["monday", "wednesday"], {"type": "numbered", "numberOfOccurrences": 5}))
    assert master["type"] == "seriesMaster"
    assert master["start"] == {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"}
    assert _dates(g, master["id"]) == ["2026-01-05", "2026-01-07", "2026-01-12", "2026-01-14", "2026-01-19"]
    occurrences = g.get(f"/events/{master['id']}/instances", params=JANUARY).json()["value"]
    assert {o["type"] for o in occurrences} == {"occurrence"}
    assert {o["seriesMasterId"] for o in occurrences} == {master["id"]}
    second, third = occurrences[1], occurrences[2]
    moved = g.patch(f"/events/{second['id']}", json={"subject": "verschoben",
                                                     "start": {"dateTime": "2026-01-08T14:00:00", "timeZone": WEST},
                                                     "end": {"dateTime": "2026-01-08T15:00:00", "timeZone": WEST}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["type"] == "exception" and moved.json()["id"] == second["id"]
    assert moved.json()["originalStart"] == "2026-01-07T08:00:00Z"
    assert g.delete(f"/events/{third['id']}").status_code == 204
    after = g.get(f"/events/{master['id']}/instances", params=JANUARY).json()["value"]
    assert [(i["type"], i["start"]["dateTime"][:16]) for i in after] == [
        ("occurrence", "2026-01-05T08:00"), ("exception", "2026-01-08T13:00"), ("occurrence", "2026-01-14T08:00"),
        ("occurrence", "2026-01-19T08:00")]
    again = g.get(f"/events/{master['id']}", params={"$expand": "exceptionOccurrences"}).json()
    assert again["cancelledOccurrences"] == [f"OID.{master['id']}.2026-01-12"]
    assert [x["subject"] for x in again["exceptionOccurrences"]] == ["verschoben"]
    graph_error(g.get(f"/events/{third['id']}"), 404, "ErrorItemNotFound")
    listed = g.get("/events").json()["value"]
    assert [e["type"] for e in listed] == ["seriesMaster"]  # occurrences and exceptions are not listed
    view = g.get("/calendarView", params={"startDateTime": "2026-01-08T00:00:00Z",
                                          "endDateTime": "2026-01-15T00:00:00Z"}).json()["value"]
    assert [v["subject"] for v in view] == ["verschoben", "Jour fixe"]


@pytest.mark.parametrize(("pattern", "rng", "expected"), [
    ({"type": "weekly", "interval": 2, "daysOfWeek": ["monday"]}, {"type": "endDate", "endDate": "2026-02-02"},
     ["2026-01-05", "2026-01-19", "2026-02-02"]),
    ({"type": "daily", "interval": 3}, {"type": "numbered", "numberOfOccurrences": 4},
     ["2026-01-05", "2026-01-08", "2026-01-11", "2026-01-14"]),
    ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 5}, {"type": "numbered", "numberOfOccurrences": 3},
     ["2026-01-05", "2026-02-05", "2026-03-05"]),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "first"},
     {"type": "numbered", "numberOfOccurrences": 3}, ["2026-01-05", "2026-02-02", "2026-03-02"]),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "last"},
     {"type": "numbered", "numberOfOccurrences": 2}, ["2026-01-26", "2026-02-23"]),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 5, "month": 1}, {"type": "noEnd"},
     ["2026-01-05", "2027-01-05", "2028-01-05"]),
])
def test_recurrence_patterns(g: httpx.Client, pattern: dict[str, Any], rng: dict[str, Any],
                             expected: list[str]) -> None:
    master = _event(g, "2026-01-05T09:00:00", "2026-01-05T10:00:00",
                    recurrence={"pattern": pattern, "range": {"startDate": "2026-01-05", **rng}})
    window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2028-06-01T00:00:00Z"}
    assert _dates(g, master["id"], window) == expected


@pytest.mark.parametrize("recurrence", [
    {"pattern": {"type": "weekly", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-01-05"}},
    {"pattern": {"type": "daily", "interval": 0}, "range": {"type": "noEnd", "startDate": "2026-01-05"}},
    {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-01-06"}},
    {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "endDate", "startDate": "2026-01-05",
                                                            "endDate": "2026-01-01"}},
    {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "startDate": "2026-01-05"}},
])
def test_recurrences_exchange_refuses(g: httpx.Client, recurrence: dict[str, Any]) -> None:
    r = g.post("/events", json={"subject": "x", "recurrence": recurrence,
                                "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
                                "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC"}})
    graph_error(r, 400, "ErrorInvalidRequest")
    assert g.get("/events").json()["value"] == []


def test_all_day_events_and_time_zones(g: httpx.Client) -> None:
    for start, end, tz_end in (("2026-01-05T01:00:00", "2026-01-06T00:00:00", WEST),
                               ("2026-01-05T00:00:00", "2026-01-06T00:00:00", "UTC"),
                               ("2026-01-05T00:00:00", "2026-01-05T00:00:00", WEST)):
        r = g.post("/events", json={"subject": "x", "isAllDay": True, "start": {"dateTime": start, "timeZone": WEST},
                                    "end": {"dateTime": end, "timeZone": tz_end}})
        graph_error(r, 400, "ErrorPropertyValidationFailure")
    day = _event(g, "2026-01-05T00:00:00", "2026-01-07T00:00:00", isAllDay=True)
    assert day["start"] == {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "UTC"}
    assert day["end"] == {"dateTime": "2026-01-07T00:00:00.0000000", "timeZone": "UTC"}
    timed = _event(g, "2026-01-05T09:00:00", "2026-01-05T10:00:00")
    pst = g.get(f"/events/{timed['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}).json()
    assert pst["start"] == {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert pst["originalStartTimeZone"] == WEST
    graph_error(_event_raw(g, "Mars/Olympus_Mons"), 400, "TimeZoneNotSupportedException")
    graph_error(g.post("/events", json={"subject": "x", "start": {"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC"},
                                   "end": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"}}), 400,
           "ErrorCalendarEndDateIsEarlierThanStartDate")
    graph_error(g.get("/calendarView"), 400, "ErrorInvalidParameter")


def _event_raw(g: httpx.Client, tz: str) -> httpx.Response:
    return g.post("/events", json={"subject": "x", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": tz},
                                   "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": tz}})


def test_calendars_and_calendar_view_delta(g: httpx.Client) -> None:
    cal = _created(g.post("/calendars", json={"name": "Team"}))
    graph_error(g.post("/calendars", json={"name": "team"}), 409, "ErrorFolderExists")
    graph_error(g.delete(f"/calendars/{g.get('/calendar').json()['id']}"), 400, "ErrorDeleteDistinguishedFolder")
    ev = _created(g.post(f"/calendars/{cal['id']}/events", json={
        "subject": "Daily", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T09:30:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
                       "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 3}}}))
    url = f"/calendars/{cal['id']}/calendarView/delta"
    first = g.get(url, params=JANUARY).json()
    assert len(first["value"]) == 3
    occ = first["value"][1]
    assert g.delete(f"/events/{occ['id']}").status_code == 204
    second = g.get(first["@odata.deltaLink"]).json()
    removed = [v for v in second["value"] if "@removed" in v]
    assert removed == [{"@odata.type": "#microsoft.graph.event", "id": occ["id"], "@removed": {"reason": "deleted"}}]
    assert g.get("/calendar/events").json()["value"] == []  # the series lives in "Team", not the default calendar
    assert [e["id"] for e in g.get(f"/calendars/{cal['id']}/events").json()["value"]] == [ev["id"]]


# -- To Do ---------------------------------------------------------------------------------------------
def test_todo_lists_and_tasks(g: httpx.Client) -> None:
    lists = g.get("/todo/lists").json()["value"]
    assert [(x["displayName"], x["wellknownListName"]) for x in lists] == [("Tasks", "defaultList")]
    graph_error(g.delete(f"/todo/lists/{lists[0]['id']}"), 400, "invalidRequest")
    shop = _created(g.post("/todo/lists", json={"displayName": "Einkauf"}))
    task = _created(g.post(f"/todo/lists/{shop['id']}/tasks", json={
        "title": "Milch", "status": "inProgress", "importance": "high", "categories": ["Rot"],
        "body": {"contentType": "text", "content": "2 Liter"},
        "dueDateTime": {"dateTime": "2026-02-01T00:00:00.0000000", "timeZone": "UTC"}}))
    assert (task["status"], task["importance"], task["categories"]) == ("inProgress", "high", ["Rot"])
    graph_error(g.post(f"/todo/lists/{shop['id']}/tasks", json={"title": "x", "status": "halfDone"}), 400,
           "RequestBodyRead")
    graph_error(g.post(f"/todo/lists/{shop['id']}/tasks", json={"title": "x", "recurrence": {
        "pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "2026-01-05"}}}), 400,
        "invalidRequest")
    done = g.patch(f"/todo/lists/{shop['id']}/tasks/{task['id']}", json={"status": "completed",
               "completedDateTime": {"dateTime": "2026-01-10T10:00:00.0000000", "timeZone": "UTC"}})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    graph_error(g.get(f"/todo/lists/{lists[0]['id']}/tasks/{task['id']}"), 404, "ErrorItemNotFound")
    assert [t["title"] for t in g.get(f"/todo/lists/{shop['id']}/tasks").json()["value"]] == ["Milch"]


# -- inbox rules and automatic replies -------------------------------------------------------------------
def test_inbox_rules(g: httpx.Client) -> None:
    archive = g.get("/mailFolders/archive").json()["id"]
    rule = {"displayName": "Newsletter", "sequence": 2, "isEnabled": True,
            "conditions": {"senderContains": ["news@"], "withinSizeRange": {"minimumSize": 0, "maximumSize": 100}},
            "exceptions": {"importance": "high"},
            "actions": {"moveToFolder": archive, "markAsRead": True, "stopProcessingRules": True}}
    made = _created(g.post("/mailFolders/inbox/messageRules", json=rule))
    assert made["conditions"] == rule["conditions"] and made["hasError"] is False
    _created(g.post("/mailFolders/inbox/messageRules", json={"displayName": "First", "sequence": 1,
                                                             "actions": {"markImportance": "low"}}))
    assert [r["displayName"] for r in g.get("/mailFolders/inbox/messageRules").json()["value"]] == [
        "First", "Newsletter"]
    graph_error(g.post("/mailFolders/inbox/messageRules", json={**rule, "actions": {"moveToFolders": archive}}), 400,
           "RequestBodyRead")
    graph_error(g.post("/mailFolders/inbox/messageRules", json={**rule, "actions": {"moveToFolder": "archive"}}), 400,
           "ErrorInvalidRequest")
    graph_error(g.post("/mailFolders/inbox/messageRules", json={**rule, "actions": {}}), 400, "ErrorInvalidRequest")
    graph_error(g.post("/mailFolders/inbox/messageRules", json={**rule, "sequence": "1"}), 400, "RequestBodyRead")
    graph_error(g.post("/mailFolders/archive/messageRules", json=rule), 400, "ErrorInvalidRequest")
    # Rule ids are standard base64 as Exchange's are ("AQAAAJ5dZqA="): a "/" in one must be percent-encoded.
    rule_path = f"/mailFolders/inbox/messageRules/{quote(made['id'], safe='')}"
    assert g.patch(rule_path, json={"isEnabled": False}).json()["isEnabled"] is False
    assert g.delete(rule_path).status_code == 204


def test_automatic_replies(g: httpx.Client) -> None:
    assert g.get("/mailboxSettings/automaticRepliesSetting").json()["status"] == "disabled"
    body = {"automaticRepliesSetting": {
        "status": "scheduled", "externalAudience": "contactsOnly", "internalReplyMessage": "<p>Urlaub</p>",
        "externalReplyMessage": "Away", "scheduledStartDateTime": {"dateTime": "2026-07-01T08:00:00", "timeZone": WEST},
        "scheduledEndDateTime": {"dateTime": "2026-07-15T18:00:00", "timeZone": WEST}}}
    r = g.patch("/mailboxSettings", json=body)
    assert r.status_code == 200, r.text
    got = g.get("/mailboxSettings/automaticRepliesSetting").json()
    assert (got["status"], got["externalAudience"], got["internalReplyMessage"]) == (
        "scheduled", "contactsOnly", "<p>Urlaub</p>")
    assert got["scheduledStartDateTime"] == {"dateTime": "2026-07-01T08:00:00.0000000", "timeZone": WEST}
    backwards = {"automaticRepliesSetting": {**body["automaticRepliesSetting"],
                                             "scheduledEndDateTime": {"dateTime": "2026-06-01T00:00:00",
                                                                      "timeZone": WEST}}}
    graph_error(g.patch("/mailboxSettings", json=backwards), 400, "ErrorOofSettingsScheduleInvalid")
    graph_error(g.patch("/mailboxSettings", json={"automaticRepliesSetting": {"status": "sometimes"}}), 400,
           "RequestBodyRead")
    graph_error(g.patch("/mailboxSettings", json={"automaticRepliesSetting": {"externalAudience": "everyone"}}), 400,
           "RequestBodyRead")
    assert g.get("/mailboxSettings/automaticRepliesSetting").json()["status"] == "scheduled"
