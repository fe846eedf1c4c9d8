"""iCalendar parsing/serializing (shared.formats.ical), including every .ics of the shared corpus."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.formats import FormatError
from shared.formats.ical import (
    Alarm,
    Calendar,
    EventRecord,
    RecurrenceRule,
    TaskRecord,
    UnresolvedZone,
    VTimezone,
    parse_calendar,
    serialize_calendar,
    tz_key,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "ics"
ICS_FILES = sorted(CORPUS.rglob("*.ics"))

# Files of the corpus that are malformed, with the reason our parser gives (a FormatError).
BROKEN = {
    "icalendar/calendars/big_bad_calendar.ics": "not closed",
    "icalendar/calendars/broken_dtstart.ics": "invalid DTSTART",
    "icalendar/calendars/broken_ical.ics": "not a valid parameter",
    "icalendar/calendars/fuzz_testcase_0_char_in_component_name.ics": "invalid component name",
    "icalendar/calendars/fuzz_testcase_invalid_month.ics": "not closed",
    "icalendar/calendars/fuzz_testcase_vtimezone_lone_cr.ics": "no ':'",
    "icalendar/calendars/invalid_duration.ics": "invalid DURATION",
    "icalendar/calendars/issue_104_broken_calendar.ics": "no ':'",
    "icalendar/calendars/issue_1081_invalid_rrule_freq.ics": "FREQ",
    "icalendar/calendars/issue_1081_invalid_start_and_end.ics": "invalid DTSTART",
    "icalendar/calendars/issue_1081_invalid_start_valid_end.ics": "invalid DTSTART",
    "icalendar/calendars/issue_168_input.ics": "no ':'",
    "icalendar/calendars/issue_348_exception_parsing_value.ics": "no ':'",
    "icalendar/calendars/issue_351_whitespace_in_property_and_params.ics": "invalid property name",
    "icalendar/calendars/multiple_timezones.ics": "RDATE must be a DATE",
    "icalendar/calendars/parsing_error.ics": "empty value",
    "icalendar/calendars/parsing_error_in_UTC_offset.ics": "Offset must be less than 24 hours",
    "icalendar/calendars/pr_480_summary_with_colon.ics": "not closed",
    "icalendar/calendars/small_bad_calendar.ics": "not closed",
    "icalendar/calendars/timezone_rdate.ics": "no ':'",
    "icalendar/calendars/timezone_same_start_and_offset.ics": "does not close",
    "icalendar/events/issue_104_mark_events_broken.ics": "no ':'",
    "icalendar/events/issue_464_invalid_rdate.ics": "invalid RDATE",
    "radicale/broken-vevent.ics": "not closed",
    "radicale/event_rdate_period_start_stop.ics": "invalid RDATE",
    "vobject/vobject_0050.ics": "invalid DTEND",
}
# Files the hand-written parser refused and icalendar reads whole: accepted, with the reason.
ACCEPTED = {
    # blank lines inside folded lines (``VERSION`` / blank / `` :2.0``): both calendars are read completely
    "icalendar/calendars/multiple_calendar_components.ics": 3,
    # ``RDATE:`` without a value: an empty list of dates, nothing to lose
    "icalendar/calendars/issue_1081_empty_rdate.ics": 1,
}
# Fragments whose VEVENT has no DTSTART in a calendar without METHOD (RFC 5545 3.6.1): rejected by
# default (strict), accepted with start=None by parse_calendar(strict=False).
NO_DTSTART = {
    "icalendar/calendars/created_calendar_with_unicode_fields.ics",
    "icalendar/calendars/issue_1050_multiple_calendars.ics",
    "icalendar/calendars/issue_1050_uid_in_description.ics",
    "icalendar/calendars/issue_1081_with_summary.ics",
    "icalendar/calendars/issue_1549_binary_attachment.ics",
    "icalendar/calendars/issue_1561_image_value.ics",
    "icalendar/calendars/issue_322_expected_calendar.ics",
    "icalendar/calendars/issue_722_missing_timezones.ics",
    "icalendar/calendars/issue_798_related_to.ics",
    "icalendar/calendars/issue_82_expected_output.ics",
    "icalendar/calendars/rfc_5545_RDATE_example.ics",
    "icalendar/calendars/rfc_6868.ics",
    "icalendar/calendars/rfc_7256_multi_value_parameters.ics",
    "icalendar/calendars/rfc_7986_conferences.ics",
    "icalendar/calendars/rfc_7986_image.ics",
    "icalendar/calendars/rfc_9253_gap.ics",
    "icalendar/calendars/rfc_9253_related_to.ics",
    "icalendar/events/event_with_escaped_character1.ics",
    "icalendar/events/event_with_escaped_character2.ics",
    "icalendar/events/event_with_escaped_character3.ics",
    "icalendar/events/event_with_escaped_character4.ics",
    "icalendar/events/event_with_escaped_characters.ics",
    "icalendar/events/event_with_rsvp.ics",
    "icalendar/events/event_with_unicode_organizer.ics",
    "icalendar/events/issue_100_transformed_doctests_into_unittests.ics",
    "icalendar/events/issue_355_url_escaping_empty_param.ics",
    "icalendar/events/issue_64_event_with_ascii_summary.ics",
    "icalendar/events/issue_64_event_with_non_ascii_summary.ics",
    "icalendar/events/issue_82_expected_output.ics",
    "icalendar/events/rfc_7265_request_status.ics",
    "icalendar/events/rfc_9074_example_proximity.ics",
    "radicale/broken-vevents.ics",
    "vobject/simple_test.ics",
}


def canon(o: Any) -> Any:
    """A comparable form that also tells time zones apart (aware datetimes compare as instants)."""
    if isinstance(o, datetime):
        return ("dt", o.replace(tzinfo=None).isoformat(), tz_key(o.tzinfo))
    if isinstance(o, date):
        return ("d", o.isoformat())
    if isinstance(o, VTimezone):
        return ("vtz", o.tzid, o.lines, o.iana)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return (type(o).__name__, {f.name: canon(getattr(o, f.name)) for f in dataclasses.fields(o) if f.compare})
    if isinstance(o, list | tuple):
        return [canon(x) for x in o]
    if isinstance(o, dict):
        return {k: canon(v) for k, v in o.items()}
    return o


def round_trip(cal: Calendar, strict: bool = True) -> Calendar:
    return parse_calendar(serialize_calendar(cal), strict=strict)


def test_corpus_is_there() -> None:
    assert len(ICS_FILES) == 240


@pytest.mark.parametrize("path", ICS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_round_trip(path: Path) -> None:
    name = str(path.relative_to(CORPUS))
    data = path.read_bytes()
    if name in BROKEN:
        with pytest.raises(FormatError, match=BROKEN[name]):
            parse_calendar(data)
        with pytest.raises(FormatError):
            parse_calendar(data, strict=False)
        return
    if name in NO_DTSTART:
        with pytest.raises(FormatError, match="has no DTSTART"):
            parse_calendar(data)
        cal = parse_calendar(data, strict=False)
    else:
        cal = parse_calendar(data)
    again = round_trip(cal, strict=name not in NO_DTSTART)
    assert canon(again) == canon(cal)
    assert again == cal


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_files_the_library_reads_whole_are_accepted(name: str) -> None:
    cal = parse_calendar((CORPUS / name).read_bytes())
    assert len(cal.events) == ACCEPTED[name]
    assert all(e.summary and e.start is not None and not e.rdates for e in cal.events)


def test_corpus_counts() -> None:
    passed = rejected = 0
    for path in ICS_FILES:
        try:
            parse_calendar(path.read_bytes())
            passed += 1
        except FormatError:
            rejected += 1
    assert (passed, rejected) == (240 - len(BROKEN) - len(NO_DTSTART), len(BROKEN) + len(NO_DTSTART))


RECURRING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:standup@example.test
DTSTAMP:20240101T000000Z
DTSTART;TZID=Europe/Berlin:20240304T093000
DTEND;TZID=Europe/Berlin:20240304T094500
SUMMARY:Standup
RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE;WKST=SU
EXDATE;TZID=Europe/Berlin:20240306T093000
ORGANIZER;CN=Alice:mailto:alice@example.test
ATTENDEE;CN=Bob;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:bob@example.test
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Standup
TRIGGER:-PT10M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:standup@example.test
RECURRENCE-ID;TZID=Europe/Berlin:20240311T093000
DTSTART;TZID=Europe/Berlin:20240311T110000
DTEND;TZID=Europe/Berlin:20240311T111500
SUMMARY:Standup (later)
END:VEVENT
END:VCALENDAR
"""


def test_recurring_event_with_exception_and_exdate() -> None:
    cal = parse_calendar(RECURRING)
    [event] = cal.events
    berlin = ZoneInfo("Europe/Berlin")
    assert event.start == datetime(2024, 3, 4, 9, 30, tzinfo=berlin)
    assert event.rrule == RecurrenceRule("WEEKLY", count=10, by_day=[(None, "MO"), (None, "WE")], week_start="SU")
    assert event.exdates == [datetime(2024, 3, 6, 9, 30, tzinfo=berlin)]
    assert event.organizer is not None and event.organizer.email == "alice@example.test"
    [bob] = event.attendees
    assert (bob.name, bob.role, bob.status, bob.rsvp) == ("Bob", "OPT-PARTICIPANT", "ACCEPTED", True)
    assert event.alarms == [Alarm("DISPLAY", timedelta(minutes=-10), "START", "Standup")]
    [exc] = event.exceptions
    assert exc.recurrence_id == datetime(2024, 3, 11, 9, 30, tzinfo=berlin)
    assert exc.summary == "Standup (later)" and exc.start == datetime(2024, 3, 11, 11, 0, tzinfo=berlin)
    text = serialize_calendar(cal)
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin" in text  # generated for the zone in use
    assert canon(parse_calendar(text)) == canon(cal)


def test_ordinal_byday_and_until() -> None:
    cal = parse_calendar(
        "BEGIN:VEVENT\nUID:x\nDTSTART:20240109T100000Z\nRRULE:FREQ=MONTHLY;BYDAY=2TU,-1FR;UNTIL=20241231T235959Z;"
        "INTERVAL=2\nEND:VEVENT\n"
    )
    rule = cal.events[0].rrule
    assert rule is not None
    assert rule.by_day == [(2, "TU"), (-1, "FR")] and rule.interval == 2
    assert rule.until == datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert canon(round_trip(cal)) == canon(cal)


def test_all_day_event() -> None:
    cal = parse_calendar(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:holiday\nDTSTART;VALUE=DATE:20240509\nDTEND;VALUE=DATE:20240510\n"
        "SUMMARY:Feiertag\nTRANSP:TRANSPARENT\nCATEGORIES:Holiday,Public\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    [event] = cal.events
    assert event.is_all_day and event.start == date(2024, 5, 9) and event.end == date(2024, 5, 10)
    assert event.transparency == "TRANSPARENT" and event.categories == ["Holiday", "Public"]
    text = serialize_calendar(cal)
    assert "DTSTART;VALUE=DATE:20240509" in text and "VTIMEZONE" not in text
    assert round_trip(cal) == cal


def test_new_york_event_with_vtimezone_from_corpus() -> None:
    cal = parse_calendar((CORPUS / "icalendar" / "calendars" / "america_new_york.ics").read_bytes())
    [event] = cal.events
    assert isinstance(event.start, datetime)
    tz = event.start.tzinfo  # TZID:custom_America/New_York, defined by the file's VTIMEZONE
    assert isinstance(tz, VTimezone) and tz.iana == "America/New_York"
    assert event.start.utcoffset() == timedelta(hours=-4)  # EDT
    assert datetime(2014, 1, 10, 8, tzinfo=tz).utcoffset() == timedelta(hours=-5)  # EST
    assert canon(round_trip(cal)) == canon(cal)


def test_custom_vtimezone_is_kept_and_matched_to_iana() -> None:
    text = (CORPUS / "icalendar" / "calendars" / "issue_218_bad_tzid.ics").read_text()
    cal = parse_calendar(text)
    [event] = cal.events
    assert isinstance(event.start, datetime)
    tz = event.start.tzinfo
    assert isinstance(tz, VTimezone) and tz.tzid == "UTC+11" and tz.iana == "Etc/GMT-11"
    assert event.start.utcoffset() == timedelta(hours=11)
    assert "TZID:UTC+11" in serialize_calendar(cal)
    assert canon(round_trip(cal)) == canon(cal)


def test_custom_dst_vtimezone_offsets() -> None:
    text = """BEGIN:VCALENDAR
BEGIN:VTIMEZONE
TZID:My Eastern
BEGIN:STANDARD
DTSTART:19671029T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19870405T020000
RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:a
DTSTART;TZID=My Eastern:20240715T090000
DTEND;TZID=My Eastern:20240115T090000
END:VEVENT
END:VCALENDAR
"""
    [event] = parse_calendar(text).events
    assert isinstance(event.start, datetime) and isinstance(event.end, datetime)
    assert event.start.utcoffset() == timedelta(hours=-4) and event.end.utcoffset() == timedelta(hours=-5)
    assert isinstance(event.start.tzinfo, VTimezone) and event.start.tzinfo.iana is not None
    probe = datetime(2024, 7, 1, 12, tzinfo=ZoneInfo(event.start.tzinfo.iana))
    assert probe.utcoffset() == timedelta(hours=-4)


def test_unknown_tzid_is_kept() -> None:
    cal = parse_calendar("BEGIN:VEVENT\nUID:a\nDTSTART;TZID=Nowhere/Special:20240101T100000\nEND:VEVENT\n")
    start = cal.events[0].start
    assert isinstance(start, datetime) and isinstance(start.tzinfo, UnresolvedZone)
    assert "DTSTART;TZID=Nowhere/Special:20240101T100000" in serialize_calendar(cal)


def test_windows_and_prefixed_tzids() -> None:
    cal = parse_calendar(
        "BEGIN:VEVENT\nUID:a\nDTSTART;TZID=W. Europe Standard Time:20240101T100000\n"
        "DTEND;TZID=/mozilla.org/20050126_1/America/New_York:20240101T120000\nEND:VEVENT\n"
    )
    [event] = cal.events
    assert tz_key(event.start.tzinfo) == "Europe/Berlin"  # type: ignore[union-attr]
    assert tz_key(event.end.tzinfo) == "America/New_York"  # type: ignore[union-attr]


def test_vtodo_with_due_and_percent() -> None:
    cal = parse_calendar(
        "BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:todo-1\nSUMMARY:Report\nDTSTART;VALUE=DATE:20240101\n"
        "DUE;TZID=Europe/Berlin:20240110T170000\nPERCENT-COMPLETE:40\nSTATUS:IN-PROCESS\nPRIORITY:1\n"
        "COMPLETED:20240109T120000Z\nBEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=END:-PT1H\nEND:VALARM\n"
        "END:VTODO\nEND:VCALENDAR\n"
    )
    [task] = cal.tasks
    assert task == TaskRecord(
        uid="todo-1",
        summary="Report",
        start=date(2024, 1, 1),
        due=datetime(2024, 1, 10, 17, tzinfo=ZoneInfo("Europe/Berlin")),
        percent_complete=40,
        status="IN-PROCESS",
        priority=1,
        completed=datetime(2024, 1, 9, 12, tzinfo=UTC),
        alarms=[Alarm("DISPLAY", timedelta(hours=-1), "END")],
    )
    assert canon(round_trip(cal)) == canon(cal)


def test_escaping_folding_and_unknown_properties() -> None:
    event = EventRecord(
        uid="e",
        start=datetime(2024, 1, 1, 10),
        summary="a, b; c\\d\nline 2 " + "\u00e4" * 80,
        extra=['X-CUSTOM;X-P="a:b":raw\\, value', "DTSTAMP:20240101T000000Z"],
    )
    text = serialize_calendar(Calendar(events=[event]))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    [again] = parse_calendar(text).events
    assert again == event  # floating time stays floating


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART:2024\nEND:VEVENT\nEND:VCALENDAR\n", "invalid DTSTART"),
        ("BEGIN:VEVENT\nUID:a\nDTSTART:20240101T000000Z\nRRULE:FREQ=DAILY;BYDAY=XX\nEND:VEVENT\n", "BYDAY"),
        (
            "BEGIN:VEVENT\nUID:a\nDTSTART:20240101T000000Z\nRRULE:FREQ=DAILY;COUNT=2;UNTIL=20240105\nEND:VEVENT\n",
            "both",
        ),
        ("BEGIN:VEVENT\nUID:a\nDTSTART:20240101T000000Z\nEND:VTODO\n", "does not close"),
        ("BEGIN:VTODO\nUID:a\nPERCENT-COMPLETE:140\nEND:VTODO\n", "out of range"),
        ("", "no iCalendar component"),
    ],
)
def test_broken_input_is_a_clear_format_error(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_calendar(text)


def test_parameters_of_mapped_properties_are_kept() -> None:
    """LANGUAGE, ALTREP, RANGE or an X- parameter on a property that has a field travels with it."""
    cal = parse_calendar(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:p\r\nSUMMARY;LANGUAGE=de-DE:Besprechung\r\n"
        "DTSTART;X-SLACK=30:20240101T100000Z\r\nRECURRENCE-ID;RANGE=THISANDFUTURE:20240101T100000Z\r\n"
        'DESCRIPTION;ALTREP="cid:part1@example.test":text\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n'
    )
    text = serialize_calendar(cal).replace("\r\n ", "")
    for line in ("SUMMARY;LANGUAGE=de-DE:Besprechung", "RECURRENCE-ID;RANGE=THISANDFUTURE:20240101T100000Z",
                 "DTSTART;X-SLACK=30:20240101T100000Z", 'DESCRIPTION;ALTREP="cid:part1@example.test":text'):
        assert line in text
    assert round_trip(cal) == cal


def test_a_tzid_with_a_trailing_space_still_names_its_vtimezone() -> None:
    """The TZID parameters are read without the space; the VTIMEZONE we write must carry the same name."""
    text = (CORPUS / "radicale" / "event_issue2172.ics").read_text()
    out = serialize_calendar(parse_calendar(text))
    assert "TZID:Mitteleuropäische Zeit\r\n" in out
    assert "DTSTART;TZID=Mitteleuropäische Zeit:20260701T170000" in out


def test_dates_stay_dates() -> None:
    """A DATE with a TZID (no VALUE=DATE) is still an all-day date; date EXDATEs are written VALUE=DATE."""
    cal = parse_calendar(
        "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;TZID=Europe/Paris:20130903\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
        "EXDATE;VALUE=DATE;TZID=Europe/Paris:20130904\r\nEND:VEVENT\r\n"
    )
    [event] = cal.events
    assert event.start == date(2013, 9, 3) and event.exdates == [date(2013, 9, 4)]
    text = serialize_calendar(cal)
    assert "DTSTART;VALUE=DATE:20130903" in text and "EXDATE;VALUE=DATE:20130904" in text
