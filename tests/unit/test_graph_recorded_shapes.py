"""Microsoft Graph items in the shapes the service answers with, read by the Graph source's mapping.

The JSON in tests/data/graph is written after recorded answers (see SOURCES.md in tests/data/ews): @odata
annotations, nulls for every empty property, properties mailferry does not use, a custom zone Graph names
"tzone://Microsoft/Custom", To Do dates given as an instant in UTC. Expected values are written here.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.adapters.graph.mapping import contact_from_graph, event_from_graph, task_from_graph

DATA = Path(__file__).resolve().parents[1] / "data" / "graph"


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / name).read_text(encoding="utf-8")))


def test_a_series_in_a_custom_zone_takes_the_zone_its_times_are_given_in() -> None:
    mapped = event_from_graph(load("event_custom_zone_series.json"))
    rec = mapped.value
    seattle = ZoneInfo("America/Los_Angeles")
    assert (rec.start, rec.end) == (datetime(2026, 3, 2, 9, 0, tzinfo=seattle), datetime(2026, 3, 2, 9, 30,
                                                                                          tzinfo=seattle))
    assert str(rec.start.tzinfo) == "America/Los_Angeles"  # not UTC: the Mondays after 8 March stay at 09:00
    assert rec.rrule is not None and (rec.rrule.freq, rec.rrule.count) == ("WEEKLY", 6)
    assert (rec.summary, rec.uid) == ("Réunion बैठक", "040000008200E00074C5B7101A82E00800000000D3A1B2C3D4E5F6010"
                                                      "00000000000000010000000ABCDEF")
    assert [(a.uri, a.status) for a in rec.attendees] == [("mailto:ann@contoso.example", "ACCEPTED")]
    assert mapped.lossy == ["attendee 'Conf Room' has no e-mail address"]
    assert rec.organizer is not None and rec.organizer.uri == "mailto:sadie@contoso.example"


def test_a_series_whose_only_zone_is_custom_says_it_is_kept_in_utc() -> None:
    ev = load("event_custom_zone_series.json")
    ev["start"] = {"dateTime": "2026-03-02T17:00:00.0000000", "timeZone": "UTC"}
    ev["end"] = {"dateTime": "2026-03-02T17:30:00.0000000", "timeZone": "UTC"}
    mapped = event_from_graph(ev)
    assert str(mapped.value.start) == "2026-03-02 17:00:00+00:00"
    assert mapped.lossy[1:] == ["time zone 'tzone://Microsoft/Custom' has no name Microsoft 365 gives: the series is "
                                "kept in UTC and its occurrences may move by an hour where daylight-saving time "
                                "changes"]


def test_to_do_dates_are_days_in_the_mailbox_zone() -> None:
    task = load("todo_task_east.json")
    rec = task_from_graph(task, ZoneInfo("Europe/Warsaw")).value
    assert (rec.summary, rec.start, rec.due, rec.status, rec.priority) == (
        "Steuererklärung", date(2026, 6, 1), date(2026, 6, 10), "NEEDS-ACTION", 1)
    assert task_from_graph(task).value.due == date(2026, 6, 9)  # a mailbox in UTC: that instant's own day


def test_a_contact_with_nulls_and_empty_entries() -> None:
    mapped = contact_from_graph(load("contact_nulls.json"))
    card = mapped.value
    assert (card.formatted_name, card.given_name, card.family_name) == ("Łukasz Żółw", "Łukasz", "Żółw")
    assert (card.organization, card.department, card.title, card.note, card.birthday) == (
        "Żółw sp. z o.o.", None, None, None, None)
    assert [e.value for e in card.emails] == ["lukasz@zolw.example"]
    assert [(p.value, p.types) for p in card.phones] == [("+48 22 123 45 67", ["work"])]
    assert [(a.street, a.locality, a.region, a.postal_code, a.country, a.types) for a in card.addresses] == [
        ("ul. Długa 1", "Gdańsk", "", "80-827", "Polska", ["work"])]
    assert mapped.lossy == []
