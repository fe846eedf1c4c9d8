"""Other calendars and task folders of an Exchange mailbox, against the EWS emulator: the source names each item's
folder (X-WR-CALNAME), the target puts an item naming one into the folder of that name below its default one
(made where missing, recorded for undo first), and undo deletes what it made once empty. Read back with exchangelib
alone; the iCalendar the target gets is written here as data.

An all-day event keeps its days in its own zone likewise: Exchange anchors one to midnight in a zone, and Outlook
shows one anchored elsewhere than the reader's zone as spanning two days. The source names the event's zone
(X-WR-TIMEZONE) and the target anchors its days there; an .ics that names its zone the same way (as Google
exports do) is read the same way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import icalendar
import pytest
from exchangelib import Account, CalendarItem, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.folders import SHALLOW, Calendar, FolderCollection, Tasks
from exchangelib.items import Task

from shared.adapters.ews import item_source
from shared.adapters.ews.item_target import EwsItemTarget
from shared.adapters.ews.mail_target import EwsTarget
from shared.adapters.ews.undo import EwsUndo
from shared.adapters.pim_items import pim_item
from shared.adapters.ports import PimRecord
from shared.events import CreatedThing
from tests.ews_emulator import EwsEmulator
from tests.integration.test_ews_undo import PW, TARGET, connect
from tests.integration.test_graph_target import Sink, ctx, sink_of

pytestmark = pytest.mark.integration

UTC = EWSTimeZone("UTC")


@pytest.fixture
def account() -> Iterator[Account]:
    with EwsEmulator() as emu:
        emu.add_mailbox(TARGET, PW)
        yield connect(emu)


def children(acc: Account, parent: Any) -> dict[str, Any]:
    return {f.name: f for f in FolderCollection(account=acc, folders=[parent]).find_folders(depth=SHALLOW)}


def named(name: str, component: str) -> str:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nX-WR-CALNAME:{name}\r\n{component}END:VCALENDAR\r\n"


def test_the_source_names_the_calendar_and_task_folder_of_each_item(account: Account) -> None:
    team = Calendar(parent=account.calendar, name="Team")
    team.save()
    shop = Tasks(parent=account.tasks, name="Einkauf")
    shop.save()
    when = {"start": EWSDateTime(2026, 3, 2, 9, tzinfo=UTC), "end": EWSDateTime(2026, 3, 2, 10, tzinfo=UTC)}
    CalendarItem(account=account, folder=account.calendar, subject="Mine", **when).save()
    CalendarItem(account=account, folder=team, subject="Retro", **when).save()
    Task(account=account, folder=shop, subject="Milch").save()
    Task(account=account, folder=account.tasks, subject="Steuer").save()
    got = {}
    for op in ("calendars", "tasks"):
        for item in item_source.read(account, op, "m1", dict):
            got[item.name] = icalendar.Calendar.from_ical(item.payload).get("X-WR-CALNAME")
    assert {k: (str(v) if v is not None else None) for k, v in got.items()} == {
        "Mine": None, "Retro": "Team", "Milch": "Einkauf", "Steuer": None}


def test_contacts_and_groups_of_a_contact_folder_below_contacts_are_read_and_said_to_move(account: Account) -> None:
    from exchangelib import Contact, DistributionList
    from exchangelib.folders import Contacts
    from exchangelib.properties import Mailbox, Member

    clients = Contacts(parent=account.contacts, name="Kunden")  # Outlook's "new contact folder"
    clients.save()
    Contact(account=account, folder=account.contacts, display_name="Ann", given_name="Ann").save()
    Contact(account=account, folder=clients, display_name="Kim", given_name="Kim").save()
    DistributionList(account=account, folder=clients, display_name="Key accounts", members=[
        Member(mailbox=Mailbox(name="Kim", email_address="kim@client.example", routing_type="SMTP"))]).save()
    contacts = {i.name: i.lossy for i in item_source.read(account, "contacts", "m1", dict)}
    groups = {i.name: i.lossy for i in item_source.read(account, "contact_groups", "m1", dict)}
    moved = ["from the contact folder 'Kunden': the target keeps it in its Contacts"]
    assert contacts == {"Ann": [], "Kim": moved}
    assert groups == {"Key accounts": moved}


def test_the_target_fills_folders_of_those_names_and_undo_removes_the_ones_it_made(account: Account) -> None:
    own = Calendar(parent=account.calendar, name="Family")  # the user's own: used, never removed
    own.save()
    event = ("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nSUMMARY:{s}\r\n"
             "END:VEVENT\r\n")
    items = [pim_item("m1", "calendars", "e1", "ical", "Retro", named("Team", event.format(uid="a", s="Retro"))),
             pim_item("m1", "calendars", "e2", "ical", "Zoo", named("family", event.format(uid="b", s="Zoo"))),
             pim_item("m1", "tasks", "t1", "ical", "Milch",
                      named("Einkauf", "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Milch\r\nEND:VTODO\r\n"))]
    ahead: list[CreatedThing] = []
    s = Sink()
    EwsItemTarget(EwsTarget(account)).write([PimRecord(i) for i in items], ctx(ahead), sink_of(s))
    assert s.rejected == {}
    assert [p[2] for p in s.placed.values()] == ["", "", "UID (Exchange tasks have none)"]  # no note on the folder
    cals, lists = children(account, account.calendar), children(account, account.tasks)
    assert sorted(cals) == ["Family", "Team"] and sorted(lists) == ["Einkauf"]
    assert [e.subject for e in cals["Team"].all()] == ["Retro"]
    assert [e.subject for e in cals["Family"].all()] == ["Zoo"]
    assert [t.subject for t in lists["Einkauf"].all()] == ["Milch"]
    assert list(account.calendar.all()) == [] and list(account.tasks.all()) == []
    assert sorted(a.target_folder for a in ahead) == ["Calendar\x1fTeam", "Tasks\x1fEinkauf"]
    undo = EwsUndo(account)
    assert sum(r.removed for r in undo.remove([u for u in s.undo if u.kind == "item"], 100)) == 3
    assert [(r.removed, r.kept) for r in undo.remove_folders(ahead)] == [(1, ()), (1, ())]
    assert sorted(children(account, account.calendar)) == ["Family"] and children(account, account.tasks) == {}


BERLIN = EWSTimeZone("Europe/Berlin")


def write(account: Account, key: str, ics: str) -> None:
    """One calendar item through the Exchange item target, as the loader writes it."""
    s = Sink()
    ahead: list[CreatedThing] = []
    EwsItemTarget(EwsTarget(account)).write([PimRecord(pim_item("m1", "calendars", key, "ical", key, ics))],
                                            ctx(ahead), sink_of(s))
    assert s.rejected == {}


def copies(account: Account, subject: str) -> list[CalendarItem]:
    return [i for i in account.calendar.all() if i.subject == subject]


def test_an_all_day_event_from_berlin_stays_anchored_in_berlin(account: Account) -> None:
    item = CalendarItem(account=account, folder=account.calendar, subject="Feiertag", is_all_day=True,
                        start=EWSDate(2026, 5, 1), end=EWSDate(2026, 5, 1))
    item._start_timezone = item._end_timezone = BERLIN
    item.save()
    [payload] = [i for i in item_source.read(account, "calendars", "m1", dict) if i.name == "Feiertag"]
    assert str(icalendar.Calendar.from_ical(payload.payload).get("X-WR-TIMEZONE")) == "Europe/Berlin"
    write(account, "copy", payload.payload.replace("SUMMARY:Feiertag", "SUMMARY:Feiertag (copy)"))
    [copy] = copies(account, "Feiertag (copy)")
    assert copy.is_all_day and copy._start_timezone.key == "Europe/Berlin"
    assert (copy.start, copy.end) == (EWSDate(2026, 5, 1), EWSDate(2026, 5, 1))


def test_an_ics_naming_its_zone_anchors_all_day_and_floating_events_there(account: Account) -> None:
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
           "X-WR-TIMEZONE:America/New_York\r\n"
           "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260704\r\n"
           "DTEND;VALUE=DATE:20260705\r\nSUMMARY:Fourth\r\nEND:VEVENT\r\n"
           "BEGIN:VEVENT\r\nUID:b@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260704T180000\r\n"
           "DTEND:20260704T190000\r\nSUMMARY:Fireworks\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    write(account, "g", ics)
    [day] = copies(account, "Fourth")
    assert day.is_all_day and day._start_timezone.key == "America/New_York" and day.start == EWSDate(2026, 7, 4)
    [evening] = copies(account, "Fireworks")
    assert evening.start.astimezone(EWSTimeZone("UTC")).hour == 22  # 18:00 EDT
