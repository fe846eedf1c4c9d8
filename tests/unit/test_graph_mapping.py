"""Graph's JSON as the neutral records (shared/adapters/graph/mapping.py). Inputs are Graph's documented shapes,
expected records written out here by hand (dates and zones worked out from the inputs, not by the code)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.graph.mapping import (
    auto_reply_from_graph,
    contact_from_graph,
    event_from_graph,
    recurrence_from_graph,
    rule_from_graph,
    task_from_graph,
)
from shared.formats.ical import RecurrenceRule

BERLIN = ZoneInfo("Europe/Berlin")


def test_an_event_in_utc_comes_back_in_the_zone_it_was_written_in() -> None:
    ev = {"id": "e1", "iCalUId": "uid-1", "subject": "Planning", "isAllDay": False,
          "originalStartTimeZone": "W. Europe Standard Time", "originalEndTimeZone": "W. Europe Standard Time",
          "start": {"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "UTC"},
          "end": {"dateTime": "2026-03-10T09:30:00.0000000", "timeZone": "UTC"},
          "showAs": "oof", "sensitivity": "personal", "importance": "low", "isReminderOn": False,
          "body": {"contentType": "html", "content": "<p>x</p>"},
          "organizer": {"emailAddress": {"address": "boss@example.test", "name": "Boss"}},
          "attendees": [{"type": "resource", "status": {"response": "accepted"},
                         "emailAddress": {"address": "room@example.test", "name": "Room"}}]}
    mapped = event_from_graph(ev)
    rec = mapped.value
    assert rec.start == datetime(2026, 3, 10, 9, 0, tzinfo=BERLIN) and rec.end == datetime(2026, 3, 10, 10, 30,
                                                                                            tzinfo=BERLIN)
    assert rec.uid == "uid-1" and rec.priority == 9 and rec.classification == "X-PERSONAL"
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in rec.extra and rec.alarms == []
    [room] = rec.attendees
    assert (room.email, room.role, room.kind, room.status) == ("room@example.test", "NON-PARTICIPANT", "RESOURCE",
                                                              "ACCEPTED")
    assert rec.organizer is not None and rec.organizer.email == "boss@example.test"
    # The HTML body travels whole as X-ALT-DESC, its text as DESCRIPTION: nothing lost, no markup as text.
    assert rec.description == "x" and "X-ALT-DESC;FMTTYPE=text/html:<p>x</p>" in rec.extra
    assert mapped.lossy == []


def test_an_all_day_series_with_a_cancelled_and_a_moved_day() -> None:
    ev = {"id": "m", "subject": "Holiday", "isAllDay": True, "originalStartTimeZone": "Europe/Berlin",
          "start": {"dateTime": "2026-01-05T00:00:00.0000000", "timeZone": "UTC"},
          "end": {"dateTime": "2026-01-06T00:00:00.0000000", "timeZone": "UTC"},
          "recurrence": {"pattern": {"type": "daily", "interval": 2},
                         "range": {"type": "endDate", "startDate": "2026-01-05", "endDate": "2026-01-15"}},
          "cancelledOccurrences": ["OID.AAMkAGI2.2026-01-07"],
          "exceptionOccurrences": [{"subject": "Holiday (moved)", "isAllDay": True, "originalStart":
                                    "2026-01-08T23:00:00Z", "originalStartTimeZone": "Europe/Berlin",
                                    "start": {"dateTime": "2026-01-10T00:00:00.0000000", "timeZone": "UTC"},
                                    "end": {"dateTime": "2026-01-11T00:00:00.0000000", "timeZone": "UTC"}}]}
    rec = event_from_graph(ev).value
    assert (rec.start, rec.end) == (date(2026, 1, 5), date(2026, 1, 6))
    assert rec.rrule == RecurrenceRule("DAILY", interval=2, until=date(2026, 1, 15))
    assert rec.exdates == [date(2026, 1, 7)]
    [moved] = rec.exceptions
    assert moved.recurrence_id == date(2026, 1, 9)  # 23:00 UTC is the 9th in Berlin
    assert (moved.start, moved.summary) == (date(2026, 1, 10), "Holiday (moved)")


@pytest.mark.parametrize(("pattern", "rng", "expected"), [
    ({"type": "weekly", "interval": 2, "daysOfWeek": ["friday", "monday"], "firstDayOfWeek": "sunday"},
     {"type": "numbered", "numberOfOccurrences": 4},
     RecurrenceRule("WEEKLY", interval=2, count=4, by_day=[(None, "MO"), (None, "FR")], week_start="SU")),
    ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31}, {"type": "noEnd"},  # the last day of every month
     RecurrenceRule("MONTHLY", by_month_day=[28, 29, 30, 31], by_set_pos=[-1])),
    ({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "last"}, {"type": "noEnd"},
     RecurrenceRule("MONTHLY", by_day=[(-1, "TH")])),
    ({"type": "relativeMonthly", "interval": 3, "daysOfWeek": ["saturday", "sunday"], "index": "second"},
     {"type": "noEnd"}, RecurrenceRule("MONTHLY", interval=3, by_day=[(None, "SA"), (None, "SU")], by_set_pos=[2])),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2}, {"type": "noEnd"},  # 28th if no 29th
     RecurrenceRule("YEARLY", by_month_day=[28, 29], by_set_pos=[-1], by_month=[2])),
    ({"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "index": "first", "month": 9},
     {"type": "endDate", "endDate": "2030-12-31"},
     RecurrenceRule("YEARLY", by_day=[(1, "MO")], by_month=[9],
                    until=datetime(2030, 12, 31, 22, 59, 59, tzinfo=UTC))),  # 23:59:59 in Berlin
])
def test_recurrence_patterns(pattern: dict[str, object], rng: dict[str, object], expected: RecurrenceRule) -> None:
    assert recurrence_from_graph({"pattern": pattern, "range": rng}, BERLIN, False) == expected


def test_an_unknown_pattern_keeps_the_first_occurrence_and_says_so() -> None:
    ev = {"subject": "x", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "UTC"},
          "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": "UTC"},
          "recurrence": {"pattern": {"type": "hourly"}, "range": {"type": "noEnd"}}}
    mapped = event_from_graph(ev)
    assert mapped.value.rrule is None
    assert mapped.lossy == ["recurrence: unknown recurrence pattern 'hourly'; only the first occurrence is kept"]


def test_a_contact_with_every_slot() -> None:
    card = contact_from_graph({
        "displayName": "Dr. Jürgen Meier", "givenName": "Jürgen", "surname": "Meier", "middleName": "K.",
        "title": "Dr.", "generation": "Jr.", "nickName": "Jü", "companyName": "ACME", "jobTitle": "CTO",
        "emailAddresses": [{"address": "j@acme.test"}, {"address": "jm@home.test"}],
        "homePhones": ["+49 30 2"], "businessPhones": ["+49 30 1"], "mobilePhone": "+49 170 1",
        "homeAddress": {"street": "Weg 1", "city": "Berlin", "state": "BE", "postalCode": "10115",
                        "countryOrRegion": "DE"},
        "otherAddress": {}, "birthday": "1980-02-29T00:00:00Z", "personalNotes": "a;b", "categories": ["Work"],
        "assistantName": "Eva", "spouseName": "Ute; Maria", "children": ["Tim"], "yomiSurname": "Meiā"})
    c = card.value
    assert (c.formatted_name, c.family_name, c.given_name, c.middle_name, c.prefix, c.suffix, c.nickname) == (
        "Dr. Jürgen Meier", "Meier", "Jürgen", "K.", "Dr.", "Jr.", "Jü")
    assert [(e.value, e.types) for e in c.emails] == [("j@acme.test", []), ("jm@home.test", [])]
    assert [(p.value, p.types) for p in c.phones] == [("+49 170 1", ["cell"]), ("+49 30 1", ["work"]),
                                                      ("+49 30 2", ["home"])]
    [home] = c.addresses
    assert (home.street, home.locality, home.region, home.postal_code, home.country, home.types) == (
        "Weg 1", "Berlin", "BE", "10115", "DE", ["home"])
    assert c.birthday == date(1980, 2, 29) and c.note == "a;b" and c.categories == ["Work"]
    assert c.organization == "ACME" and c.department is None and c.title == "CTO"
    assert c.extra == ["X-ASSISTANT:Eva", "X-SPOUSE:Ute\\; Maria"]
    assert card.lossy == ["children ['Tim']", "phonetic last name 'Meiā'"]


def test_to_do_states_dates_and_reminder() -> None:
    t = task_from_graph({"title": "Call", "status": "deferred", "importance": "normal",
                         "startDateTime": {"dateTime": "2026-02-01T00:00:00.0000000", "timeZone": "UTC"},
                         "dueDateTime": {"dateTime": "2026-02-03T00:00:00.0000000", "timeZone": "UTC"},
                         "isReminderOn": True,
                         "reminderDateTime": {"dateTime": "2026-02-02T09:00:00.0000000", "timeZone": "UTC"}})
    rec = t.value
    assert (rec.summary, rec.status, rec.priority) == ("Call", "CANCELLED", None)
    assert (rec.start, rec.due) == (date(2026, 2, 1), date(2026, 2, 3))
    assert rec.extra == ["X-MS-TASK-STATUS:Deferred"]
    assert [(a.action, a.trigger) for a in rec.alarms] == [("DISPLAY", datetime(2026, 2, 2, 9, 0, tzinfo=UTC))]
    done = task_from_graph({"title": "Done", "status": "completed",
                            "completedDateTime": {"dateTime": "2026-02-04T10:00:00", "timeZone": "UTC"}}).value
    assert (done.status, done.percent_complete, done.completed) == ("COMPLETED", 100,
                                                                    datetime(2026, 2, 4, 10, 0, tzinfo=UTC))
    assert done.alarms == []


def test_a_rule_with_what_the_model_cannot_hold() -> None:
    paths = {"f-archive": ["\\Archive:Archiv"]}
    model = rule_from_graph({
        "displayName": "R", "sequence": 3, "isEnabled": True,
        "conditions": {"isNonDeliveryReport": True, "sensitivity": "confidential", "sentToAddresses": [
            {"emailAddress": {"address": "list@example.test"}}], "isMeetingRequest": False},
        "exceptions": {"bodyContains": ["unsubscribe"]},
        "actions": {"moveToFolder": "f-archive", "copyToFolder": "f-gone", "permanentDelete": True,
                    "redirectTo": [{"emailAddress": {"address": "b@example.test"}}], "someFutureAction": True}},
        lambda fid: paths.get(fid or ""))
    assert (model.name, model.priority, model.enabled) == ("R", 3, True)
    assert model.conditions == {"is_ndr": True, "sensitivity": "Confidential",
                                "sent_to_addresses": ["list@example.test"], "is_meeting_request": False}
    assert model.exceptions == {"contains_body_strings": ["unsubscribe"]}
    assert model.actions == {"move_to_folder": ["\\Archive:Archiv"], "permanent_delete": True,
                             "redirect_to_recipients": ["b@example.test"]}
    assert model.lossy == ["copy_to_folder: the folder could not be identified",
                           "the action someFutureAction is not migrated"]


def test_automatic_replies() -> None:
    assert auto_reply_from_graph({"status": "alwaysEnabled", "externalAudience": "none",
                                  "internalReplyMessage": "in", "externalReplyMessage": ""}).to_json() == (
        '{"end": null, "external_audience": "None", "external_reply": "", "internal_reply": "in", '
        '"start": null, "state": "Enabled"}')
