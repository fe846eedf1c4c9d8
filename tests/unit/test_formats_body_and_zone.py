"""HTML bodies (X-ALT-DESC) and the all-day zone (X-WR-TIMEZONE) in the neutral iCalendar, and what the Graph
target makes of them. Expected texts and Graph shapes are written here."""

from __future__ import annotations

from datetime import date

from shared.adapters.graph.to_graph import event_to_graph, task_to_graph
from shared.formats import html_body
from shared.formats.calendar_zone import calendar_zone, with_zone
from shared.formats.ical import Calendar, EventRecord, TaskRecord, parse_calendar, serialize_calendar


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    html = ("<html><head><style>p {color: red}</style><title>t</title></head><body><div>Hallo&nbsp;Welt,</div>"
            "<p>erste&nbsp;Zeile<br>zweite   Zeile</p><table><tr><td>a</td><td>b</td></tr></table>"
            "<script>x()</script>&lt;kein Tag&gt; &amp; Ende</body></html>")
    assert html_body.html_to_text(html) == "Hallo Welt,\nerste Zeile\nzweite Zeile\na b\n<kein Tag> & Ende"


def test_an_html_body_survives_the_text_format_with_commas_semicolons_and_lines() -> None:
    html = '<p style="font-family: Calibri, sans-serif;">Eins; zwei, drei</p>\n<p>\\vier</p>'
    rec = EventRecord(uid="h", start=date(2026, 1, 2), summary="s")
    html_body.set_body(rec, html, True)
    [back] = parse_calendar(serialize_calendar(Calendar(events=[rec]))).events
    assert html_body.html_of(back.extra) == html
    assert back.description == "Eins; zwei, drei\n\\vier"
    assert html_body.body_of(back) == (html, True)
    text = EventRecord(uid="t", start=date(2026, 1, 2), description="<b>literal</b>")
    assert html_body.body_of(text) == ("<b>literal</b>", False)


def test_graph_gets_html_as_html_and_not_one_extra_property_for_it() -> None:
    rec = EventRecord(uid="g", start=date(2026, 1, 2), end=date(2026, 1, 3), summary="s")
    html_body.set_body(rec, "<p>x</p>", True)
    mapped = event_to_graph(rec)
    assert mapped.value["body"] == {"contentType": "html", "content": "<p>x</p>"}
    assert not [n for n in mapped.lossy if "properties without" in n]
    task = TaskRecord(uid="t", summary="t")
    html_body.set_body(task, "<p>y</p>", True)
    assert task_to_graph(task).value["body"] == {"contentType": "html", "content": "<p>y</p>"}


def test_the_zone_is_named_by_iana_or_windows_name_and_utc_is_not_named() -> None:
    cal = with_zone(Calendar(events=[EventRecord(uid="z", start=date(2026, 1, 1))]), "W. Europe Standard Time")
    assert cal.properties == ["X-WR-TIMEZONE:Europe/Berlin"]
    assert calendar_zone(parse_calendar(serialize_calendar(cal))) == "Europe/Berlin"
    assert with_zone(Calendar(), "UTC").properties == [] and with_zone(Calendar(), "Mars/Olympus").properties == []
    assert calendar_zone(Calendar(properties=["X-WR-TIMEZONE:Nowhere/Else"])) is None


def test_graph_anchors_an_all_day_event_in_the_zone_it_came_from() -> None:
    rec = EventRecord(uid="a", start=date(2026, 5, 1), end=date(2026, 5, 2), summary="Feiertag")
    ev = event_to_graph(rec, "Europe/Berlin").value
    assert ev["isAllDay"] is True
    assert ev["start"] == {"dateTime": "2026-05-01T00:00:00", "timeZone": "Europe/Berlin"}
    assert ev["end"] == {"dateTime": "2026-05-02T00:00:00", "timeZone": "Europe/Berlin"}
    assert event_to_graph(rec).value["start"]["timeZone"] == "UTC"
