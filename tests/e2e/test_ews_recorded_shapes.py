"""Exchange items in the shapes real servers keep, migrated Exchange to Exchange and read back field by field.

The source items are those of tests/data/ews (written after recorded answers, see SOURCES.md there), created
with raw CreateItem as other clients write them: zones given by their definition only, an attendee and a
group member known only by an X.500 address, members of every kind. Expected values are written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from exchangelib import CalendarItem, DistributionList, EWSTimeZone

from mailferry.stack import StackInfo
from tests.e2e.flows import start, wait_final
from tests.e2e.test_ews_mail import endpoint, new_mailbox
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator
from tests.ews_emulator.pim_seed import as_created, create_raw

FORMER = ("/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/"
          "CN=8D84A3F4CBB34D48838A3AECF99795C0-FORMER")
SOURCE_ITEMS = (("calendar", "custom_zone_all_day.xml"), ("calendar", "customized_zone_weekly.xml"),
                ("contacts", "distribution_list.xml"))


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def utc(dt: object) -> str:
    return datetime.fromtimestamp(dt.timestamp(), UTC).strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]


def test_items_other_clients_wrote_exchange_to_exchange(running_stack: StackInfo, emulator: EwsEmulator) -> None:
    src, src_pw = new_mailbox(emulator, "shapes-a")
    dst, dst_pw = new_mailbox(emulator, "shapes-b")
    for folder, name in SOURCE_ITEMS:
        answer = create_raw(emulator.url, src, src_pw, folder, as_created(name))
        assert 'ResponseClass="Success"' in answer, answer
    ops = ["calendars", "contact_groups"]
    mid = start(running_stack, endpoint(emulator, src, src_pw), endpoint(emulator, dst, dst_pw), options=ops)
    st = wait_final(running_stack, mid, src)
    assert st["state"] == "completed", json.dumps(st)
    assert {op: (st["items"][op]["done"], st["items"][op]["failed"]) for op in ops} == {
        "calendars": (2, 0), "contact_groups": (1, 0)}
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src},
                       timeout=30).json()["items"]
    assert sorted((r["item_type"], r["subject"], r["reason"]) for r in report) == [
        ("calendar", "Weekly sync  (Zürich ⇄ Seattle)",
         f"attendee 'Former Colleague': Exchange gives only its EX address {FORMER!r}, no e-mail address"),
        ("contact_group", "Projekt Ærø",
         f"member 'Former Colleague': Exchange gives only its EX address {FORMER!r}, no e-mail address; "
         "member 'Nested list' has no e-mail address (store reference only)")]

    acc = emulator_account(emulator.url, dst, dst_pw, timezone=EWSTimeZone("UTC"))
    events = {e.subject: e for e in acc.calendar.all() if type(e) is CalendarItem}
    assert sorted(events) == ["Betriebsausflug", "Weekly sync  (Zürich ⇄ Seattle)"]
    outing = events["Betriebsausflug"]  # 2 July in Central Europe, not 1 July as UTC would have it
    assert (outing.is_all_day, str(outing.start), str(outing.end)) == (True, "2026-07-02", "2026-07-02")
    assert outing._start_timezone.key == "Europe/Berlin"
    assert outing.legacy_free_busy_status == "Free"
    weekly = events["Weekly sync  (Zürich ⇄ Seattle)"]
    assert (utc(weekly.start), utc(weekly.end)) == ("2026-03-02 17:00", "2026-03-02 17:30")
    assert weekly._start_timezone.key == "America/Los_Angeles"
    assert (str(weekly.body), weekly.location) == ("Agenda in the doc.", "Teams")
    assert [(a.mailbox.name, a.mailbox.email_address) for a in weekly.required_attendees] == [
        ("Sadie Daniels", "sadie@contoso.example")]
    pattern, boundary = weekly.recurrence.pattern, weekly.recurrence.boundary
    assert (type(pattern).__name__, pattern.interval, [int(d) for d in pattern.weekdays]) == (
        "WeeklyPattern", 1, [1])
    assert (type(boundary).__name__, str(boundary.start)[:10], boundary.number) == (
        "NumberedPattern", "2026-03-02", 6)
    last = weekly.occurrence(index=6)  # after the switch to daylight time: still 09:00 in Seattle
    last.refresh()
    assert utc(last.start) == "2026-04-06 16:00"

    [group] = [x for x in acc.contacts.all() if type(x) is DistributionList]
    assert group.display_name == "Projekt Ærø"
    assert sorted((m.mailbox.name, m.mailbox.email_address) for m in group.members) == [
        ("Ann Lee", "ann@contoso.example"), ("Bo Ørsted", "bo@partner.example"), ("Cem", "cem@one-off.example")]
