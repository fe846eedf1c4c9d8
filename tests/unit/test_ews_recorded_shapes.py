"""Exchange items in the shapes real servers answer with, read as the EWS source reads them.

The items in tests/data/ews are written after recorded answers (see SOURCES.md there): zones given by
definition only, attendees and members with X.500 addresses, server-computed elements, other namespace
prefixes. exchangelib parses each one as it parses a GetItem answer; mailferry's readers map it. Every
expected value is written here from the XML, not produced by a converter.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from exchangelib import CalendarItem, Contact, DistributionList, Task
from lxml.etree import fromstring

from shared.adapters.ews.mapping import contact_from_ews, event_from_ews, group_from_ews, task_from_ews
from shared.adapters.ews.zones import zone_of_definition
from shared.formats.calendar_zone import calendar_zone, with_zone
from shared.formats.ical import Calendar

DATA = Path(__file__).resolve().parents[1] / "data" / "ews"
FORMER = ("/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/"
          "CN=8D84A3F4CBB34D48838A3AECF99795C0-FORMER")


def load(cls: Any, name: str) -> Any:
    return cls.from_xml(fromstring((DATA / name).read_bytes()), account=None)


def test_an_all_day_event_in_a_zone_known_by_its_definition_keeps_its_day() -> None:
    ev = load(CalendarItem, "custom_zone_all_day.xml")  # 2026-07-01T22:00Z = 2 July 00:00 in Central Europe
    mapped = event_from_ews(ev)
    assert (mapped.value.start, mapped.value.end) == (date(2026, 7, 2), date(2026, 7, 3))
    assert calendar_zone(with_zone(Calendar(events=[mapped.value]), ev._start_timezone)) == "Europe/Berlin"
    assert mapped.lossy == []


def test_a_weekly_meeting_in_a_customized_zone_keeps_its_wall_clock() -> None:
    ev = load(CalendarItem, "customized_zone_weekly.xml")  # 17:00Z on 2 March = 09:00 Pacific standard time
    mapped = event_from_ews(ev)
    rec = mapped.value
    assert rec.start == datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert rec.end == datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert str(rec.start.tzinfo) == "America/Los_Angeles"  # so every Monday after 8 March stays at 09:00
    assert rec.rrule is not None
    assert (rec.rrule.freq, rec.rrule.count, rec.rrule.by_day) == ("WEEKLY", 6, [(None, "MO")])
    assert rec.summary == "Weekly sync  (Zürich ⇄ Seattle)"


def test_an_attendee_known_only_by_an_x500_address_is_reported_not_written_as_mail() -> None:
    mapped = event_from_ews(load(CalendarItem, "customized_zone_weekly.xml"))
    assert [(a.uri, a.name, a.status) for a in mapped.value.attendees] == [
        ("mailto:sadie@contoso.example", "Sadie Daniels", "ACCEPTED")]
    assert mapped.lossy == [f"attendee 'Former Colleague': Exchange gives only its EX address {FORMER!r}, "
                            "no e-mail address"]


def test_a_contact_group_with_every_kind_of_member() -> None:
    mapped = group_from_ews(load(DistributionList, "distribution_list.xml"))
    assert mapped.value.display_name == "Projekt Ærø"
    assert mapped.value.members == [("Ann Lee", "ann@contoso.example"), ("Bo Ørsted", "bo@partner.example"),
                                    ("Cem", "cem@one-off.example")]
    assert mapped.lossy == [
        f"member 'Former Colleague': Exchange gives only its EX address {FORMER!r}, no e-mail address",
        "member 'Nested list' has no e-mail address (store reference only)"]


def test_a_contact_with_server_computed_elements() -> None:
    mapped = contact_from_ews(load(Contact, "contact.xml"))
    card = mapped.value
    assert (card.formatted_name, card.given_name, card.family_name) == ("Tanja Plate", "Tanja", "Plate")
    assert (card.organization, card.title, card.note) == ("Northwind Traders", "Project Manager", None)
    assert [e.value for e in card.emails] == ["tplate@northwind.example", "tanja@home.example"]
    assert [(p.value, p.types) for p in card.phones] == [("5625550199", ["work"])]  # the empty entry: no phone
    assert [(a.street, a.locality, a.region, a.postal_code, a.country, a.pref) for a in card.addresses] == [
        ("12345 67th Ave", "Whittier", "CA", "90601", "USA", 1)]
    assert card.birthday == date(1980, 5, 17)
    assert "IMPP:sip:tplate@northwind.example" in card.extra and "X-ASSISTANT:Ivo" in card.extra
    assert mapped.lossy == ["children ['Lina']", "companies ['Contoso']", "initials 'T.P.'"]


def test_a_regenerating_task_says_what_its_recurrence_was() -> None:
    mapped = task_from_ews(load(Task, "task_regenerating.xml"))
    rec = mapped.value
    assert (rec.summary, rec.start, rec.due, rec.status, rec.percent_complete) == (
        "Water the plants", date(2026, 6, 3), date(2026, 6, 3), "IN-PROCESS", 25)
    assert rec.rrule is None
    assert mapped.lossy == ["task recurrence: a new task 3 day(s) after each one is completed (Outlook's "
                            "'regenerate') has no iCalendar form"]


@pytest.mark.parametrize(("bias", "std", "dlt", "expected"), [
    ("-PT1H", ("10", "-1", "PT3H"), ("3", "-1", "PT2H"), "Europe/Berlin"),
    ("PT5H", ("11", "1", "PT2H"), ("3", "2", "PT2H"), "America/New_York"),
    ("-PT10H", ("4", "1", "PT3H"), ("10", "1", "PT2H"), "Australia/Sydney"),
])
def test_definitions_of_zones_with_daylight_time(bias: str, std: tuple[str, str, str], dlt: tuple[str, str, str],
                                                 expected: str) -> None:
    hours = int(bias.strip("-PTH")) * (-1 if bias.startswith("-") else 1)
    dlt_bias = f"-PT{-(hours - 1)}H" if hours - 1 < 0 else f"PT{hours - 1}H"

    def transition(to: str, rule: tuple[str, str, str]) -> str:
        return (f"<t:RecurringDayTransition><t:To Kind='Period'>{to}</t:To><t:TimeOffset>{rule[2]}</t:TimeOffset>"
                f"<t:Month>{rule[0]}</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek><t:Occurrence>{rule[1]}"
                "</t:Occurrence></t:RecurringDayTransition>")

    xml = ("<t:StartTimeZone xmlns:t='http://schemas.microsoft.com/exchange/services/2006/types' "
           "Id='Customized Time Zone'><t:Periods>"
           f"<t:Period Bias='{bias}' Name='Standard' Id='S'/><t:Period Bias='{dlt_bias}' Name='Daylight' Id='D'/>"
           "</t:Periods><t:TransitionsGroups><t:TransitionsGroup Id='0'>"
           f"{transition('D', dlt)}{transition('S', std)}</t:TransitionsGroup></t:TransitionsGroups>"
           "<t:Transitions><t:Transition><t:To Kind='Group'>0</t:To></t:Transition></t:Transitions>"
           "</t:StartTimeZone>")
    assert zone_of_definition(fromstring(xml)) == expected


def test_a_definition_without_daylight_time_and_one_that_fits_no_zone() -> None:
    fixed = ("<StartTimeZone xmlns='http://schemas.microsoft.com/exchange/services/2006/types' Id='X'>"
             "<Periods><Period Bias='-PT5H30M' Name='Standard' Id='S'/></Periods><TransitionsGroups>"
             "<TransitionsGroup Id='0'><Transition><To Kind='Period'>S</To></Transition></TransitionsGroup>"
             "</TransitionsGroups><Transitions><Transition><To Kind='Group'>0</To></Transition></Transitions>"
             "</StartTimeZone>")
    assert zone_of_definition(fromstring(fixed)) == "Asia/Calcutta"
    odd = fixed.replace("-PT5H30M", "-PT5H17M")
    assert zone_of_definition(fromstring(odd)) is None
