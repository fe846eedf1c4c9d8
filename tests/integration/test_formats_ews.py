"""shared.adapters.ews.mapping against the EWS emulator with the real exchangelib client:
neutral record -> exchangelib item -> save -> fetch -> neutral record."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

exchangelib = pytest.importorskip("exchangelib")

from exchangelib import Account, EWSTimeZone  # noqa: E402

from shared.adapters.ews.mapping import (  # noqa: E402
    ContactGroup,
    apply_occurrence_changes,
    contact_from_ews,
    contact_to_ews,
    event_from_ews,
    event_to_ews,
    group_from_ews,
    group_to_ews,
    occurrence_index,
    recurrence_from_ews,
    recurrence_to_ews,
    task_from_ews,
    task_to_ews,
)
from shared.formats.ical import (  # noqa: E402
    Attendee,
    Calendar,
    EventRecord,
    RecurrenceRule,
    TaskRecord,
    parse_calendar,
    serialize_calendar,
)
from shared.formats.vcard import ContactCard, TypedValue, parse_vcard, serialize_vcard  # noqa: E402

try:
    from tests.ews_emulator import EwsEmulator
except ModuleNotFoundError:  # pytest without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.ews_emulator import EwsEmulator
from tests.ews_client import emulator_account  # noqa: E402

pytestmark = pytest.mark.integration

ALICE, PW = "alice@example.test", "s3cret"
CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(ALICE, PW)
        yield e


@pytest.fixture
def acc(emu: EwsEmulator) -> Account:
    return emulator_account(emu.url, ALICE, PW, timezone=EWSTimeZone("UTC"))


def _mapped_contact_fields(card: ContactCard) -> dict[str, object]:
    """What Exchange holds of a card (prefix, UID, extra properties and e-mail types are listed as lossy)."""
    return {
        "fn": card.formatted_name,
        "names": (card.family_name, card.given_name, card.middle_name, card.suffix),
        "nickname": card.nickname,
        "emails": sorted(e.value for e in card.emails),
        "phones": sorted((p.value, tuple(sorted(set(p.types) - {"voice"}))) for p in card.phones),
        "addresses": [(a.street, a.locality, a.region, a.postal_code, a.country) for a in card.addresses],
        "org": (card.organization, card.department, card.title),
        "dates": (card.birthday, card.anniversary),
        "note": card.note,
        "urls": [u.value for u in card.urls],
        "categories": card.categories,
        "photo": (card.photo, card.photo_type),
    }


def _save_and_read_contact(acc: Account, card: ContactCard) -> tuple[ContactCard, list[str]]:
    mapped = contact_to_ews(card, account=acc, folder=acc.contacts)
    mapped.value.save()
    [fetched] = list(acc.fetch(ids=[mapped.value]))
    back = contact_from_ews(fetched)
    return back.value, mapped.lossy + back.lossy


def test_corpus_vcard_contact_round_trips_through_exchange(acc: Account) -> None:
    card = parse_vcard((CORPORA / "vcf" / "radicale" / "contact_photo_with_data_uri.vcf").read_bytes())
    back, lossy = _save_and_read_contact(acc, card)
    assert _mapped_contact_fields(back) == _mapped_contact_fields(card)
    assert back.photo and back.photo_type == "image/png"
    assert any("UID" in n for n in lossy)


def test_full_contact_round_trips_through_exchange(acc: Account) -> None:
    data = (CORPORA / "vcf" / "vobject" / "radicale-1587.vcf").read_text()
    extra = (
        "EMAIL;TYPE=INTERNET,pref:given@example.test\r\n"
        "EMAIL;TYPE=INTERNET:other@example.test\r\n"
        "TEL;TYPE=WORK,VOICE:+49 30 1234\r\n"
        "TEL;TYPE=CELL:+49 170 9999\r\n"
        "TEL;TYPE=HOME,FAX:+49 30 5555\r\n"
        "ADR;TYPE=WORK:;;Hauptstr. 1;Berlin;BE;10115;Germany\r\n"
        "ADR;TYPE=HOME:;;Nebenweg 2\\, Hinterhaus;Potsdam;;14467;Germany\r\n"
        "ORG:Beispiel GmbH;Entwicklung\r\n"
        "TITLE:Ingenieurin\r\n"
        "BDAY:1980-04-15\r\n"
        "X-ANNIVERSARY:2005-06-01\r\n"
        "NOTE:Zeile 1\\nZeile 2 mit \\, Komma\r\n"
        "URL:https://example.test/~given\r\n"
        "CATEGORIES:Kunden,VIP\r\n"
        "NICKNAME:Giv\r\n"
    )
    card = parse_vcard(data.replace("END:VCARD", extra + "END:VCARD"))
    back, lossy = _save_and_read_contact(acc, card)
    assert _mapped_contact_fields(back) == _mapped_contact_fields(card)
    assert any("prefix" in n for n in lossy) and any("GEO" in n for n in lossy)


def test_distribution_list_with_three_members_round_trips(acc: Account) -> None:
    group = ContactGroup(
        "Projekt \u00c4rger",
        [("Bob", "bob@example.test"), ("Carol K\u00f6nig", "carol@example.test"), ("", "dave@example.test")],
    )
    mapped = group_to_ews(group, account=acc, folder=acc.contacts)
    mapped.value.save()
    [fetched] = list(acc.fetch(ids=[mapped.value]))
    back = group_from_ews(fetched)
    assert back.value == group
    assert back.lossy == [] and mapped.lossy == []


def _round_trip_event(acc: Account, event: EventRecord) -> tuple[EventRecord, list[str]]:
    mapping = event_to_ews(event, default_tz="Europe/Berlin", account=acc, folder=acc.calendar)
    mapping.item.save()
    assert apply_occurrence_changes(mapping.item, mapping) == []
    [master] = list(acc.fetch(ids=[mapping.item]))
    exceptions = list(acc.fetch(ids=[o.to_id() for o in master.modified_occurrences or []]))
    back = event_from_ews(master, exceptions)
    return back.value, mapping.lossy + back.lossy


def test_recurring_event_with_modified_and_deleted_occurrence(acc: Account) -> None:
    start = datetime(2024, 3, 4, 9, 30, tzinfo=BERLIN)  # a Monday; DST starts on 31 March
    override = EventRecord(
        uid="weekly-1@example.test",
        recurrence_id=start + timedelta(days=14),
        summary="Jour fixe (verschoben)",
        location="Raum 2",
        start=start + timedelta(days=15, hours=1),
        end=start + timedelta(days=15, hours=2),
    )
    event = EventRecord(
        uid="weekly-1@example.test",
        summary="Jour fixe",
        description="Agenda\nPunkt 1",
        location="Raum 1",
        start=start,
        end=start + timedelta(hours=1),
        rrule=RecurrenceRule("WEEKLY", interval=1, count=6, by_day=[(None, "MO"), (None, "TH")]),
        exdates=[start + timedelta(days=7)],
        categories=["Team"],
        exceptions=[override],
    )
    back, _ = _round_trip_event(acc, event)
    assert back.uid == event.uid and back.summary == event.summary and back.location == event.location
    assert back.description == event.description
    assert back.start == start and back.end == event.end
    assert isinstance(back.start, datetime) and getattr(back.start.tzinfo, "key", None) == "Europe/Berlin"
    assert back.rrule == event.rrule
    assert back.exdates == event.exdates
    [exc] = back.exceptions
    assert exc.recurrence_id == override.recurrence_id
    assert (exc.summary, exc.location, exc.start, exc.end) == (
        override.summary,
        override.location,
        override.start,
        override.end,
    )
    # after DST the occurrences keep their local time (09:30 Berlin)
    assert exc.start.astimezone(BERLIN).hour == 10  # type: ignore[union-attr]


def test_recurring_event_from_corpus_keeps_override(acc: Account) -> None:
    cal = parse_calendar((CORPORA / "ics" / "radicale" / "event_daily_rrule_overridden.ics").read_bytes())
    [event] = cal.events
    back, lossy = _round_trip_event(acc, event)
    assert lossy == []
    assert back.rrule is not None and (back.rrule.freq, back.rrule.count) == ("DAILY", 5)
    [exc] = back.exceptions
    assert exc.summary == "Event #2 bis"
    assert exc.recurrence_id == event.exceptions[0].recurrence_id
    assert exc.start == event.exceptions[0].start


def test_all_day_event_round_trips(acc: Account) -> None:
    event = EventRecord(
        uid="allday@example.test", summary="Betriebsausflug", start=date(2024, 5, 9), end=date(2024, 5, 11)
    )
    back, _ = _round_trip_event(acc, event)
    assert (back.start, back.end, back.is_all_day) == (date(2024, 5, 9), date(2024, 5, 11), True)
    assert back.summary == event.summary and back.uid == event.uid


def test_new_york_event_from_corpus_keeps_zone(acc: Account) -> None:
    cal = parse_calendar((CORPORA / "ics" / "icalendar" / "calendars" / "america_new_york.ics").read_bytes())
    event = cal.events[0]
    back, _ = _round_trip_event(acc, event)
    assert back.start == event.start and back.end == event.effective_end
    assert back.start.tzinfo.key == "America/New_York"  # type: ignore[union-attr]


def test_task_round_trips(acc: Account) -> None:
    task = TaskRecord(
        uid="task-1@example.test",
        summary="Steuererkl\u00e4rung",
        description="Belege sammeln",
        start=date(2024, 4, 1),
        due=date(2024, 7, 31),
        status="IN-PROCESS",
        percent_complete=40,
        priority=1,
        categories=["Privat"],
    )
    mapped = task_to_ews(task, account=acc, folder=acc.tasks)
    mapped.value.save()
    [fetched] = list(acc.fetch(ids=[mapped.value]))
    back = task_from_ews(fetched).value
    for name in ("summary", "description", "start", "due", "status", "percent_complete", "priority", "categories"):
        assert getattr(back, name) == getattr(task, name), name
    assert any("UID" in n for n in mapped.lossy)


def test_contact_without_optional_fields(acc: Account) -> None:
    card = ContactCard(formatted_name="Nur Name", emails=[TypedValue("nur@example.test")])
    back, _ = _save_and_read_contact(acc, card)
    assert _mapped_contact_fields(back) == _mapped_contact_fields(card)


@pytest.mark.parametrize(
    ("rule", "pattern", "first"),
    [
        (RecurrenceRule("DAILY", interval=3, count=4), "DailyPattern", date(2024, 1, 9)),
        (RecurrenceRule("WEEKLY", interval=2, by_day=[(None, "TU"), (None, "FR")]), "WeeklyPattern", date(2024, 1, 9)),
        (RecurrenceRule("MONTHLY", by_month_day=[15]), "AbsoluteMonthlyPattern", date(2024, 1, 15)),
        (RecurrenceRule("MONTHLY", interval=2, by_day=[(2, "TU")]), "RelativeMonthlyPattern", date(2024, 1, 9)),
        (RecurrenceRule("MONTHLY", by_day=[(-1, "FR")]), "RelativeMonthlyPattern", date(2024, 1, 26)),
        (
            RecurrenceRule("MONTHLY", by_day=[(None, d) for d in ("MO", "TU", "WE", "TH", "FR")], by_set_pos=[-1]),
            "RelativeMonthlyPattern",
            date(2024, 1, 31),
        ),
        (RecurrenceRule("YEARLY", by_month=[1], by_month_day=[9]), "AbsoluteYearlyPattern", date(2024, 1, 9)),
        (RecurrenceRule("YEARLY", by_month=[1], by_day=[(2, "TU")]), "RelativeYearlyPattern", date(2024, 1, 9)),
        (
            RecurrenceRule("YEARLY", interval=2, by_month=[1], by_month_day=[9]),
            "AbsoluteMonthlyPattern",
            date(2024, 1, 9),
        ),
    ],
)
def test_rrule_to_exchange_pattern_and_back(rule: RecurrenceRule, pattern: str, first: date) -> None:
    start = date(2024, 1, 9)  # a Tuesday, second of the month
    recurrence, lossy = recurrence_to_ews(rule, start)
    assert recurrence is not None and lossy == []
    assert type(recurrence.pattern).__name__ == pattern
    assert recurrence_from_ews(recurrence, all_day=True) == rule
    assert occurrence_index(recurrence, first) == 1
    assert occurrence_index(recurrence, first - timedelta(days=1)) is None


def test_unmappable_rrule_is_reported() -> None:
    recurrence, lossy = recurrence_to_ews(RecurrenceRule("MONTHLY", by_day=[(-2, "MO")]), date(2024, 1, 22))
    assert recurrence is None and lossy
    mapping = event_to_ews(
        EventRecord(
            summary="x",
            start=datetime(2024, 1, 22, 9, tzinfo=BERLIN),
            rrule=RecurrenceRule("HOURLY"),
            organizer=Attendee("mailto:boss@example.test"),
        )
    )
    assert mapping.item.recurrence is None
    assert any("HOURLY" in n for n in mapping.lossy) and any("organizer" in n for n in mapping.lossy)


def test_monthly_relative_event_with_deleted_occurrence(acc: Account) -> None:
    start = datetime(2024, 1, 9, 14, tzinfo=ZoneInfo("America/New_York"))  # second Tuesday
    event = EventRecord(
        uid="monthly@example.test",
        summary="Patch Tuesday",
        start=start,
        end=start + timedelta(hours=1),
        rrule=RecurrenceRule("MONTHLY", count=6, by_day=[(2, "TU")]),
        exdates=[datetime(2024, 3, 12, 14, tzinfo=ZoneInfo("America/New_York"))],
    )
    back, lossy = _round_trip_event(acc, event)
    assert lossy == []
    assert back.rrule == event.rrule and back.exdates == event.exdates and back.start == start


@pytest.mark.parametrize("status", ["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"])
def test_every_show_as_state_travels_exchange_to_exchange(acc: Account, status: str) -> None:
    """Made with exchangelib, read into iCalendar text, written again: Exchange shows the same state."""
    from exchangelib import CalendarItem, EWSDateTime

    utc = EWSTimeZone("UTC")
    source = CalendarItem(account=acc, folder=acc.calendar, subject=f"away {status}",
                          start=EWSDateTime(2026, 3, 2, 9, 0, tzinfo=utc), end=EWSDateTime(2026, 3, 2, 17, 0, tzinfo=utc),
                          legacy_free_busy_status=status)
    source.save()
    [read] = list(acc.fetch(ids=[source]))
    text = serialize_calendar(Calendar(events=[event_from_ews(read).value]))
    [event] = parse_calendar(text).events
    mapping = event_to_ews(event, account=acc, folder=acc.calendar)
    assert mapping.lossy == []
    mapping.item.save()
    [copy] = list(acc.fetch(ids=[mapping.item]))
    assert copy.legacy_free_busy_status == status


def test_a_task_with_a_reminder_and_personal_sensitivity_travels(acc: Account) -> None:
    """Exchange answers a task's reminder in UTC; reading it used to fail the whole migration."""
    from decimal import Decimal

    from exchangelib import EWSDate, EWSDateTime, Task

    utc = EWSTimeZone("UTC")
    Task(account=acc, folder=acc.tasks, subject="remind me", sensitivity="Personal", status="InProgress",
         percent_complete=Decimal(10), due_date=EWSDate(2026, 6, 10), reminder_is_set=True,
         reminder_due_by=EWSDateTime(2026, 6, 9, 8, 0, tzinfo=utc)).save()
    [source] = list(acc.tasks.all())
    text = serialize_calendar(Calendar(tasks=[task_from_ews(source).value]))
    [task] = parse_calendar(text).tasks
    mapped = task_to_ews(task, account=acc, folder=acc.tasks)
    mapped.value.save()
    [copy] = list(acc.fetch(ids=[mapped.value]))
    assert (copy.sensitivity, copy.status, int(copy.percent_complete)) == ("Personal", "InProgress", 10)
    assert copy.reminder_is_set is True
    assert copy.reminder_due_by == EWSDateTime(2026, 6, 9, 8, 0, tzinfo=utc)


def test_contact_fields_kept_as_vcard_extensions_come_back(acc: Account) -> None:
    from exchangelib import Contact
    from exchangelib.indexed_properties import ImAddress

    Contact(account=acc, folder=acc.contacts, display_name="Ann", given_name="Ann", assistant_name="Bea, the 2nd",
            manager="Carl", spouse_name="Dan", office="Building 7", profession="Physicist",
            im_addresses=[ImAddress(label="ImAddress1", im_address="xmpp:ann@chat.example"),
                          ImAddress(label="ImAddress2", im_address="sip:ann@voip.example")]).save()
    [source] = list(acc.contacts.all())
    card = parse_vcard(serialize_vcard(contact_from_ews(source).value))
    mapped = contact_to_ews(card, account=acc, folder=acc.contacts)
    assert mapped.lossy == []
    mapped.value.save()
    [copy] = list(acc.fetch(ids=[mapped.value]))
    assert (copy.assistant_name, copy.manager, copy.spouse_name, copy.office, copy.profession) == (
        "Bea, the 2nd", "Carl", "Dan", "Building 7", "Physicist")
    assert [(i.label, i.im_address) for i in copy.im_addresses] == [("ImAddress1", "xmpp:ann@chat.example"),
                                                                   ("ImAddress2", "sip:ann@voip.example")]


@pytest.mark.parametrize("status", ["WaitingOnOthers", "Deferred"])
def test_a_waiting_or_deferred_task_keeps_its_status_exchange_to_exchange(acc: Account, status: str) -> None:
    """iCalendar has no word for either; the task used to arrive 'in progress' (waiting) or with a note
    that CANCELLED was stored as Deferred."""
    from exchangelib import Task

    Task(account=acc, folder=acc.tasks, subject=f"task {status}", status=status).save()
    [source] = list(acc.tasks.all())
    [task] = parse_calendar(serialize_calendar(Calendar(tasks=[task_from_ews(source).value]))).tasks
    mapped = task_to_ews(task, account=acc, folder=acc.tasks)
    assert not [n for n in mapped.lossy if "STATUS" in n.upper()]
    mapped.value.save()
    [copy] = list(acc.fetch(ids=[mapped.value]))
    assert copy.status == status


HTML = '<html><body><p>Agenda:</p><ul><li>Budget &amp; plan</li><li>Gr&uuml;&szlig;e</li></ul></body></html>'


def test_an_html_event_body_stays_html_exchange_to_exchange(acc: Account) -> None:
    """Outlook writes event bodies as HTML; they used to arrive as plain text showing the markup."""
    from exchangelib import CalendarItem, EWSDateTime
    from exchangelib.properties import HTMLBody

    utc = EWSTimeZone("UTC")
    CalendarItem(account=acc, folder=acc.calendar, subject="html", body=HTMLBody(HTML),
                 start=EWSDateTime(2026, 5, 4, 9, tzinfo=utc), end=EWSDateTime(2026, 5, 4, 10, tzinfo=utc)).save()
    [source] = list(acc.calendar.all())
    read = event_from_ews(source)
    assert read.lossy == []
    [event] = parse_calendar(serialize_calendar(Calendar(events=[read.value]))).events
    assert event.description == "Agenda:\nBudget & plan\nGrüße"  # the text, for readers of DESCRIPTION
    mapping = event_to_ews(event, account=acc, folder=acc.calendar)
    assert mapping.lossy == []
    mapping.item.save()
    [copy] = list(acc.fetch(ids=[mapping.item]))
    assert isinstance(copy.body, HTMLBody) and str(copy.body) == HTML


def test_an_html_task_body_stays_html_and_a_text_body_text(acc: Account) -> None:
    from exchangelib import Task
    from exchangelib.properties import Body, HTMLBody

    Task(account=acc, folder=acc.tasks, subject="h", body=HTMLBody(HTML)).save()
    Task(account=acc, folder=acc.tasks, subject="t", body=Body("plain <b>not markup</b>")).save()
    for source in acc.tasks.all():
        [task] = parse_calendar(serialize_calendar(Calendar(tasks=[task_from_ews(source).value]))).tasks
        mapped = task_to_ews(task, account=acc, folder=acc.tasks)
        mapped.value.save()
        [copy] = list(acc.fetch(ids=[mapped.value]))
        if source.subject == "h":
            assert isinstance(copy.body, HTMLBody) and str(copy.body) == HTML
        else:
            assert not isinstance(copy.body, HTMLBody) and str(copy.body) == "plain <b>not markup</b>"


def test_an_attached_item_is_reported_not_dropped_silently(acc: Account) -> None:
    """A file travels in the item's text (tests/integration/test_ews_item_attachments.py); an attached item is named."""
    from exchangelib import CalendarItem, EWSDateTime, Message
    from exchangelib.attachments import FileAttachment, ItemAttachment

    utc = EWSTimeZone("UTC")
    item = CalendarItem(account=acc, folder=acc.calendar, subject="with file",
                        start=EWSDateTime(2026, 5, 4, 9, tzinfo=utc), end=EWSDateTime(2026, 5, 4, 10, tzinfo=utc))
    item.save()
    item.attach(FileAttachment(name="agenda.pdf", content=b"%PDF-1.4 x"))
    item.attach(ItemAttachment(name="the minutes", item=Message(subject="m", body="b")))
    [source] = list(acc.calendar.all())
    assert event_from_ews(source).lossy == ["attached item 'the minutes' (an Exchange item inside the item; only "
                                            "file attachments are carried)"]


def test_a_reminder_relative_to_the_end_keeps_its_moment() -> None:
    """TRIGGER;RELATED=END:-PT2H on a 90-minute meeting rings 30 minutes before the start (it used to ring
    two hours before); one 10 minutes before the end rings after the start, which Exchange cannot: at the start."""
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:end-alarm\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20260504T090000Z\r\nDTEND:20260504T103000Z\r\nSUMMARY:x\r\n"
            "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER;RELATED=END:-PT2H\r\nEND:VALARM\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    [event] = parse_calendar(text).events
    mapping = event_to_ews(event)
    assert mapping.item.reminder_is_set is True and mapping.item.reminder_minutes_before_start == 30
    assert mapping.lossy == []
    [late] = parse_calendar(text.replace("-PT2H", "-PT10M")).events
    mapping = event_to_ews(late)
    assert mapping.item.reminder_minutes_before_start == 0 and mapping.lossy == ["alarm after the start, moved to the start"]


def test_html_contact_notes_stay_html_exchange_to_exchange(acc: Account) -> None:
    from exchangelib import Contact
    from exchangelib.properties import HTMLBody

    Contact(account=acc, folder=acc.contacts, display_name="Notiz", given_name="Notiz", body=HTMLBody(HTML)).save()
    [source] = list(acc.contacts.all())
    read = contact_from_ews(source)
    assert read.lossy == []
    card = parse_vcard(serialize_vcard(read.value))
    assert card.note == "Agenda:\nBudget & plan\nGrüße"
    mapped = contact_to_ews(card, account=acc, folder=acc.contacts)
    assert mapped.lossy == []
    mapped.value.save()
    [copy] = list(acc.fetch(ids=[mapped.value]))
    assert isinstance(copy.body, HTMLBody) and str(copy.body) == HTML


@pytest.mark.parametrize("name", ["issue_466_respect_unique_timezone.ics", "issue_165_missing_event.ics"])
def test_a_custom_zone_with_todays_eu_rule_from_1601_or_1970_keeps_its_wall_time(name: str) -> None:
    """Thunderbird writes its rules from 1970, Outlook from 1601: the zone was matched in those years, when
    no Central European zone had this rule, and the series went to Exchange in UTC, an hour off all winter
    (issue_466: every Friday 20:00 CEST/CET)."""
    [event] = parse_calendar((CORPORA / "ics" / "icalendar" / "calendars" / name).read_bytes()).events
    mapping = event_to_ews(event)
    assert not [n for n in mapping.lossy if "time zone" in n]
    zone = ZoneInfo(mapping.item.start.tzinfo.key)
    assert [zone.utcoffset(datetime(2022, m, 15)) for m in (1, 7)] == [timedelta(hours=1), timedelta(hours=2)]
    assert mapping.item.start.replace(tzinfo=None) == event.start.replace(tzinfo=None)  # the wall time kept


def test_day_31_of_every_month_keeps_exchanges_short_months_as_icalendar_says_them(acc: Account) -> None:
    """Exchange's "day 31 of every month" falls on 29 February and 30 April; iCalendar's BYMONTHDAY=31 leaves
    those months out. The series used to come out as BYMONTHDAY=31 (two occurrences lost) and go back as day 31
    silently. Expanded by vobject (dateutil), independently of the mapping."""
    import vobject
    from exchangelib import CalendarItem, EWSDateTime
    from exchangelib.recurrence import AbsoluteMonthlyPattern, Recurrence

    utc = EWSTimeZone("UTC")
    start = EWSDateTime(2024, 1, 31, 9, tzinfo=utc)
    CalendarItem(account=acc, folder=acc.calendar, subject="Monatsende", start=start, end=start + timedelta(hours=1),
                 recurrence=Recurrence(pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=31),
                                       start=date(2024, 1, 31), number=4)).save()
    [source] = list(acc.calendar.all())
    text = serialize_calendar(Calendar(events=[event_from_ews(source).value]))
    got = [d.date() for d in vobject.readOne(text).vevent.getrruleset()]
    assert got == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
    [event] = parse_calendar(text).events
    mapping = event_to_ews(event, account=acc, folder=acc.calendar)
    assert mapping.lossy == []
    assert (mapping.item.recurrence.pattern.day_of_month, mapping.item.recurrence.boundary.number) == (31, 4)


@pytest.mark.parametrize(("rule", "first", "note"), [
    (RecurrenceRule("MONTHLY", by_month_day=[31]), date(2024, 1, 31), True),
    (RecurrenceRule("MONTHLY"), date(2024, 1, 30), True),  # the day of DTSTART
    (RecurrenceRule("MONTHLY", by_month_day=[28]), date(2024, 1, 28), False),
    (RecurrenceRule("YEARLY", by_month=[2], by_month_day=[29]), date(2024, 2, 29), True),
    (RecurrenceRule("YEARLY", by_month=[1], by_month_day=[31]), date(2024, 1, 31), False),
])
def test_a_day_some_months_lack_is_reported_going_to_exchange(rule: RecurrenceRule, first: date, note: bool) -> None:
    recurrence, lossy = recurrence_to_ews(rule, first)
    assert recurrence is not None
    assert bool([n for n in lossy if "last day of shorter months" in n]) is note
