"""The Graph adapter's Source and ItemReader against the Graph emulator over HTTPS, with the real Redis.

The mailbox is seeded through the emulator's own HTTP API with plain httpx (tests/graph_rig.py), never
through the adapter; every expected folder, flag, date, card, event, task, rule and auto-reply is written
here as data, from Graph's and the formats' documentation. Message bytes are compared with what Graph's
``$value`` gives a plain HTTP client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import icalendar
import pytest
import redis as redis_lib
import vobject

from shared.adapters.graph import sign_in
from shared.adapters.graph.delta_store import RedisDeltaStore
from shared.adapters.graph.login import check_login
from shared.adapters.graph.session import open_client
from shared.adapters.graph.settings import ConfigError, SignInApp
from shared.adapters.graph.source import GraphSource
from shared.adapters.ports import FetchLimits
from shared.errors import AddressNotAllowed, AuthenticationFailed, Throttled, TlsError
from shared.events import EndpointSpec, ExtractTask, FolderRef, ItemResults, MailChunk, MailItem, PimItem
from shared.folder_refs import folder_refs
from tests import graph_rig as rig
from tests.graph_emulator import GraphEmulator, Limits, ManualClock
from tests.servers import Process

pytestmark = pytest.mark.integration

ALICE = "alice@example.test"
WEST = "W. Europe Standard Time"
SEP = "\x1f"
LIMITS = FetchLimits(inline_limit=4096, fetch_batch_bytes=1 << 20)


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as e:
        e.add_user(ALICE)
        yield e


@pytest.fixture
def redis_url(redis_server: Process) -> str:
    return redis_server.address


def source(emu: GraphEmulator, redis_url: str = "", **settings: Any) -> GraphSource:
    app = emu.register_app(secret=rig.SECRET)
    s = rig.settings(emu, app.client_id, redis_url=redis_url, **settings)
    client = open_client(rig.spec(emu, ALICE), lambda: "", rig.env(emu), s)
    deltas = RedisDeltaStore(redis_lib.Redis.from_url(redis_url)) if redis_url else None
    return GraphSource(client, deltas)


def refs_by_name(src: GraphSource) -> dict[str, FolderRef]:
    return {ref.source_name: ref for ref, _selectable in folder_refs(src.list_folders(), "", True)}


def run_task(src: GraphSource, ref: FolderRef, refs: list[str], limits: FetchLimits = LIMITS) -> list[Any]:
    spec = EndpointSpec(type="graph", host="h", port=443, security="tls", login=ALICE, password_sealed="", auth="app")
    task = ExtractTask(migration_id="m1", task_id="t1", source=spec, folder=ref, uidvalidity=0, uids=[], refs=refs)
    return list(src.fetch(task, limits))


def assembled(out: list[Any]) -> dict[str, tuple[bytes, frozenset[str], datetime]]:
    """item key -> (bytes, flags, internaldate), chunks put back together."""
    got: dict[str, tuple[bytes, frozenset[str], datetime]] = {}
    parts: dict[str, list[MailChunk]] = {}
    for o in out:
        if isinstance(o, MailItem):
            got[o.meta.item_key] = (o.data, frozenset(o.meta.flags), o.meta.internaldate)
        elif isinstance(o, MailChunk):
            parts.setdefault(o.item_key, []).append(o)
    for key, chunks in parts.items():
        chunks.sort(key=lambda c: c.seq)
        assert chunks[-1].last and not any(c.last for c in chunks[:-1])
        meta = chunks[0].meta
        assert meta is not None
        data = b"".join(c.data for c in chunks)
        assert meta.size == len(data)
        got[key] = (data, frozenset(meta.flags), meta.internaldate)
    return got


# -- e-mail ------------------------------------------------------------------------------------------------
def test_folders_flags_dates_and_bytes(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        projects = rig.folder(g, "msgfolderroot", "Projects")
        y2024 = rig.folder(g, projects, "2024")
        accents = rig.folder(g, "inbox", "Données/Été")
        quarterly = rig.message(g, "inbox", "Quarterly numbers", read=True, received="2023-01-02T03:04:05Z",
                                flag="flagged", categories=["Red Category", "Büro"])
        done = rig.message(g, "inbox", "Done already", read=False, received="2022-12-31T23:00:00Z", flag="complete")
        sent = rig.message(g, "sentitems", "My answer", read=True, received="2023-02-01T10:00:00Z")
        posted = rig.generated_mime(3, "Posted as MIME")
        draft = rig.mime_message(g, y2024, posted)
        big_raw = rig.generated_mime(5, "A long one", size=20_000)
        big = rig.mime_message(g, accents, big_raw)
        expected_bytes = {quarterly: rig.raw_mime(g, quarterly), done: rig.raw_mime(g, done),
                          sent: rig.raw_mime(g, sent), draft: posted, big: big_raw}
    src = source(emu)
    listed = {(f.name, f.flags) for f in src.list_folders()}
    assert listed == {("INBOX", ()), (f"INBOX{SEP}Données/Été", ()), ("Sent Items", ("\\Sent",)),
                      ("Drafts", ("\\Drafts",)), ("Deleted Items", ("\\Trash",)), ("Junk Email", ("\\Junk",)),
                      ("Archive", ("\\Archive",)), ("Projects", ()), (f"Projects{SEP}2024", ())}  # no Outbox
    refs = refs_by_name(src)
    listings = src.list_items(list(refs.values()), 0)
    assert listings["INBOX"].refs == [done, quarterly]  # oldest first
    assert listings["Sent Items"].refs == [sent]
    assert listings[f"Projects{SEP}2024"].refs == [draft]
    assert listings["Drafts"].refs == [] and listings["Junk Email"].refs == []
    want = {
        quarterly: (frozenset({"\\Seen", "\\Flagged", "Red&ACA-Category", "B&APw-ro"}),
                    datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)),
        done: (frozenset({"$Completed"}), datetime(2022, 12, 31, 23, 0, tzinfo=UTC)),
        sent: (frozenset({"\\Seen"}), datetime(2023, 2, 1, 10, 0, tzinfo=UTC)),
        draft: (frozenset({"\\Seen", "\\Draft"}), None),  # a MIME post is a draft; Graph dates it itself
        big: (frozenset({"\\Seen", "\\Draft"}), None),
    }
    for name, listing in listings.items():
        if not listing.refs:
            continue
        out = run_task(src, refs[name], list(listing.refs))
        got = assembled(out)
        assert set(got) == set(listing.keys), name
        for ref_id, key in zip(listing.refs, listing.keys, strict=True):
            data, flags, when = got[key]
            assert data == expected_bytes[ref_id], name
            assert flags == want[ref_id][0], name
            if want[ref_id][1] is not None:
                assert when == want[ref_id][1]
        if name == f"INBOX{SEP}Données/Été":
            chunks = [o for o in out if isinstance(o, MailChunk)]
            assert len(chunks) == -(-len(big_raw) // LIMITS.inline_limit)  # streamed in pieces of the limit


def test_replied_and_forwarded_come_as_answered_and_forwarded(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        made = {verb: rig.message(g, "inbox", f"verb {verb}", read=True, received=f"2023-03-0{n + 1}T10:00:00Z",
                                  last_verb=verb) for n, verb in enumerate((102, 103, 104, None))}
    src = source(emu)
    refs = refs_by_name(src)
    listing = src.list_items([refs["INBOX"]], 0)["INBOX"]
    got = assembled(run_task(src, refs["INBOX"], list(listing.refs)))
    flags = {ref: got[key][1] for ref, key in zip(listing.refs, listing.keys, strict=True)}
    assert {verb: flags[ref] for verb, ref in made.items()} == {
        102: frozenset({"\\Seen", "\\Answered"}), 103: frozenset({"\\Seen", "\\Answered"}),
        104: frozenset({"\\Seen", "$Forwarded"}), None: frozenset({"\\Seen"})}


def test_a_message_gone_meanwhile_is_skipped_not_failed(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        keep = rig.message(g, "inbox", "stays", read=True, received="2023-01-01T00:00:00Z")
        gone = rig.message(g, "inbox", "goes", read=True, received="2023-01-02T00:00:00Z")
    src = source(emu)
    refs = refs_by_name(src)
    listing = src.list_items([refs["INBOX"]], 0)["INBOX"]
    with rig.seeding(emu, ALICE) as g:
        assert g.delete(f"/messages/{gone}").status_code == 204
    out = run_task(src, refs["INBOX"], list(listing.refs))
    mails = [o for o in out if isinstance(o, MailItem)]
    results = [r for o in out if isinstance(o, ItemResults) for r in o.results]
    assert [m.meta.subject for m in mails] == ["stays"]
    assert [(r.item_key, r.result) for r in results] == [(listing.keys[1], "skipped")]
    assert listing.refs[0] == keep


def test_delta_passes_list_only_changes_and_survive_a_flushed_redis(emu: GraphEmulator, redis_url: str) -> None:
    with rig.seeding(emu, ALICE) as g:
        first = rig.message(g, "inbox", "one", read=True, received="2023-01-01T00:00:00Z")
        second = rig.message(g, "inbox", "two", read=True, received="2023-01-02T00:00:00Z")
        rig.message(g, "sentitems", "three", read=True, received="2023-01-03T00:00:00Z")
    src = source(emu, redis_url)
    refs = refs_by_name(src)
    folders = list(refs.values())
    assert src.list_items(folders, 0)["INBOX"].refs == [first, second]
    assert src.listed_changes == 3  # a first pass reads a full round
    with rig.seeding(emu, ALICE) as g:
        third = rig.message(g, "inbox", "four", read=False, received="2023-01-04T00:00:00Z")
        assert g.delete(f"/messages/{first}").status_code == 204
    src.listed_changes = 0
    again = src.list_items(folders, 0)
    assert again["INBOX"].refs == [second, third]
    assert src.listed_changes == 2  # one new, one removed: nothing else was read
    src.listed_changes = 0
    assert src.list_items(folders, 0)["INBOX"].refs == [second, third]
    assert src.listed_changes == 0
    redis_lib.Redis.from_url(redis_url).flushdb()  # Redis is a view: a lost checkpoint means a full round
    assert src.list_items(folders, 0)["INBOX"].refs == [second, third]
    assert src.listed_changes == 3


# -- other items ---------------------------------------------------------------------------------------------
def _pim(src: GraphSource, operation: str) -> list[PimItem]:
    return [i for i in src.read(operation, "m1") if isinstance(i, PimItem)]


def test_contacts_as_vcards(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        rig.created(g.post("/contacts", json={
            "givenName": "Ada", "surname": "Lovelace", "displayName": "Ada Lovelace", "title": "Lady",
            "emailAddresses": [{"address": "ada@example.test", "name": "Ada"}], "businessPhones": ["+44 20 1234"],
            "mobilePhone": "+44 77 1", "companyName": "Analytical Engines", "department": "Research",
            "jobTitle": "Analyst", "birthday": "1815-12-10T00:00:00Z", "personalNotes": "Wrote the first program",
            "businessAddress": {"street": "1 St James's Square", "city": "London", "postalCode": "SW1Y",
                                "countryOrRegion": "UK"},
            "imAddresses": ["sip:ada@example.test"], "categories": ["VIP"], "initials": "A.L."}))
        friends = rig.created(g.post("/contactFolders", json={"displayName": "Friends"}))
        rig.created(g.post(f"/contactFolders/{friends['id']}/contacts", json={
            "givenName": "Charles", "surname": "Babbage", "emailAddresses": [{"address": "cb@example.test"}]}))
    items = sorted(_pim(source(emu), "contacts"), key=lambda i: i.name)
    assert [(i.name, i.item_type, i.format) for i in items] == [
        ("Ada Lovelace", "contact", "vcard"), ("Charles Babbage", "contact", "vcard")]
    ada = vobject.readOne(items[0].payload)
    assert ada.fn.value == "Ada Lovelace"
    assert (ada.n.value.family, ada.n.value.given, ada.n.value.prefix) == ("Lovelace", "Ada", "Lady")
    assert [e.value for e in ada.contents["email"]] == ["ada@example.test"]
    phones = {(t.value, tuple(sorted(x.lower() for x in t.params.get("TYPE", [])))) for t in ada.contents["tel"]}
    assert phones == {("+44 20 1234", ("work",)), ("+44 77 1", ("cell",))}
    assert ada.org.value == ["Analytical Engines", "Research"] and ada.title.value == "Analyst"
    assert ada.bday.value in ("1815-12-10", "18151210")
    assert ada.note.value == "Wrote the first program"
    adr = ada.adr.value
    assert (adr.street, adr.city, adr.code, adr.country) == ("1 St James's Square", "London", "SW1Y", "UK")
    assert ada.impp.value == "sip:ada@example.test" and ada.categories.value == ["VIP"]
    assert items[0].lossy == ["initials 'A.L.'"]
    babbage = vobject.readOne(items[1].payload)
    assert [e.value for e in babbage.contents["email"]] == ["cb@example.test"]


def _components(payload: str) -> list[icalendar.Component]:
    cal = icalendar.Calendar.from_ical(payload)
    return [c for c in cal.walk() if c.name in ("VEVENT", "VTODO")]


def test_calendar_single_all_day_and_a_series_with_changes(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        rig.created(g.post("/events", json={
            "subject": "Planning", "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-03-10T10:30:00", "timeZone": WEST}, "showAs": "tentative",
            "sensitivity": "private", "importance": "high", "categories": ["Blue"],
            "location": {"displayName": "Room 1"}, "isReminderOn": True, "reminderMinutesBeforeStart": 15,
            "attendees": [{"emailAddress": {"address": "bob@example.test", "name": "Bob"}, "type": "optional"}]}))
        rig.created(g.post("/events", json={
            "subject": "Holiday", "isAllDay": True, "start": {"dateTime": "2026-04-01T00:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-04-03T00:00:00", "timeZone": WEST}}))
        master = rig.created(g.post("/events", json={
            "subject": "Jour fixe", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": WEST},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"],
                                       "firstDayOfWeek": "monday"},
                           "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 5}}}))
        window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-02-01T00:00:00Z"}
        occurrences = g.get(f"/events/{master['id']}/instances", params=window).json()["value"]
        moved = g.patch(f"/events/{occurrences[1]['id']}", json={
            "subject": "verschoben", "start": {"dateTime": "2026-01-08T14:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-01-08T15:00:00", "timeZone": WEST}})
        assert moved.status_code == 200, moved.text
        assert g.delete(f"/events/{occurrences[2]['id']}").status_code == 204
    items = {i.name: i for i in _pim(source(emu), "calendars")}
    assert sorted(items) == ["Holiday", "Jour fixe", "Planning"]
    berlin = "Europe/Berlin"

    [planning] = _components(items["Planning"].payload)
    assert planning["DTSTART"].dt.replace(tzinfo=None) == datetime(2026, 3, 10, 9, 0)
    assert str(planning["DTSTART"].dt.tzinfo) == berlin
    assert planning["DTEND"].dt.replace(tzinfo=None) == datetime(2026, 3, 10, 10, 30)
    assert str(planning["LOCATION"]) == "Room 1" and str(planning["CLASS"]) == "PRIVATE"
    assert int(planning["PRIORITY"]) == 1 and planning["CATEGORIES"].cats == ["Blue"]
    assert str(planning["X-MICROSOFT-CDO-BUSYSTATUS"]) == "TENTATIVE"
    attendee = planning["ATTENDEE"]
    assert str(attendee) == "mailto:bob@example.test" and attendee.params["ROLE"] == "OPT-PARTICIPANT"
    [alarm] = [c for c in planning.subcomponents if c.name == "VALARM"]
    assert alarm["TRIGGER"].dt.total_seconds() == -15 * 60

    [holiday] = _components(items["Holiday"].payload)
    assert holiday["DTSTART"].dt == date(2026, 4, 1) and holiday["DTEND"].dt == date(2026, 4, 3)
    # the days belong to Berlin: a target anchors them there (a timed event needs no such line)
    assert icalendar.Calendar.from_ical(items["Holiday"].payload)["X-WR-TIMEZONE"] == berlin
    assert "X-WR-TIMEZONE" not in icalendar.Calendar.from_ical(items["Planning"].payload)

    series = _components(items["Jour fixe"].payload)
    [main] = [c for c in series if "RECURRENCE-ID" not in c]
    [changed] = [c for c in series if "RECURRENCE-ID" in c]
    rule = main["RRULE"]
    assert (rule["FREQ"], rule["COUNT"], rule["BYDAY"]) == (["WEEKLY"], [5], ["MO", "WE"])
    assert main["DTSTART"].dt.replace(tzinfo=None) == datetime(2026, 1, 5, 9, 0)
    exdates = [d.dt for x in ([main["EXDATE"]] if not isinstance(main["EXDATE"], list) else main["EXDATE"])
               for d in x.dts]
    assert [(d.replace(tzinfo=None), str(d.tzinfo)) for d in exdates] == [(datetime(2026, 1, 12, 9, 0), berlin)]
    assert changed["RECURRENCE-ID"].dt.replace(tzinfo=None) == datetime(2026, 1, 7, 9, 0)
    assert str(changed["SUMMARY"]) == "verschoben"
    assert changed["DTSTART"].dt.replace(tzinfo=None) == datetime(2026, 1, 8, 14, 0)
    assert str(changed["UID"]) == str(main["UID"])


def test_to_do_tasks_from_every_list(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        lists = g.get("/todo/lists").json()["value"]
        default = next(x for x in lists if x["wellknownListName"] == "defaultList")
        rig.created(g.post(f"/todo/lists/{default['id']}/tasks", json={
            "title": "Steuer", "importance": "high", "status": "inProgress", "categories": ["Amt"],
            "dueDateTime": {"dateTime": "2026-05-31T00:00:00", "timeZone": "UTC"},
            "body": {"contentType": "text", "content": "Belege sammeln"}}))
        shop = rig.created(g.post("/todo/lists", json={"displayName": "Einkauf"}))
        rig.created(g.post(f"/todo/lists/{shop['id']}/tasks", json={"title": "Milch", "status": "completed"}))
    items = {i.name: i for i in _pim(source(emu), "tasks")}
    assert sorted(items) == ["Milch", "Steuer"]
    [steuer] = _components(items["Steuer"].payload)
    assert str(steuer["STATUS"]) == "IN-PROCESS" and int(steuer["PRIORITY"]) == 1
    assert steuer["DUE"].dt == date(2026, 5, 31) and str(steuer["DESCRIPTION"]) == "Belege sammeln"
    assert items["Steuer"].lossy == []
    [milch] = _components(items["Milch"].payload)
    assert str(milch["STATUS"]) == "COMPLETED" and int(milch["PERCENT-COMPLETE"]) == 100
    assert items["Milch"].lossy == []
    assert icalendar.Calendar.from_ical(items["Milch"].payload)["X-WR-CALNAME"] == "Einkauf"  # its list, by name
    assert "X-WR-CALNAME" not in icalendar.Calendar.from_ical(items["Steuer"].payload)  # the default list


def _text(value: str) -> str:
    """An iCalendar TEXT value unescaped (RFC 5545 3.3.11)."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def test_events_of_every_calendar_name_their_calendar(emu: GraphEmulator) -> None:
    times = {"start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"}}
    with rig.seeding(emu, ALICE) as g:
        rig.created(g.post("/calendar/events", json={"subject": "Default one", **times}))
        for name in ("Urlaub; Reisen", "Team"):
            cal = rig.created(g.post("/calendars", json={"name": name}))
            for n in range(2):
                rig.created(g.post(f"/calendars/{cal['id']}/events", json={"subject": f"{name} #{n}", **times}))
        shared = emu.share_calendar(ALICE, "bob@example.test", "Bob's calendar")  # Bob's, not Alice's: left
        rig.created(g.post(f"/calendars/{shared}/events", json={"subject": "Bob's meeting", **times}))
    items = {i.name: i for i in _pim(source(emu), "calendars")}
    assert sorted(items) == ["Default one", "Team #0", "Team #1", "Urlaub; Reisen #0", "Urlaub; Reisen #1"]
    raw = {subject: icalendar.Calendar.from_ical(i.payload).get("X-WR-CALNAME") for subject, i in items.items()}
    names = {s: _text(str(v)) if v is not None else None for s, v in raw.items()}
    assert names == {"Default one": None, "Team #0": "Team", "Team #1": "Team", "Urlaub; Reisen #0": "Urlaub; Reisen",
                     "Urlaub; Reisen #1": "Urlaub; Reisen"}


def test_rules_and_automatic_replies_as_their_models(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:
        archive = g.get("/mailFolders/archive").json()["id"]
        projects = rig.folder(g, "inbox", "Projekte")
        rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "Newsletter", "sequence": 2, "isEnabled": True,
            "conditions": {"senderContains": ["news@"], "withinSizeRange": {"minimumSize": 0, "maximumSize": 100}},
            "exceptions": {"importance": "high"},
            "actions": {"moveToFolder": archive, "markAsRead": True, "stopProcessingRules": True}}))
        rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "Projects", "sequence": 1, "isEnabled": False,
            "conditions": {"fromAddresses": [{"emailAddress": {"address": "boss@example.test"}}],
                           "messageActionFlag": "followUp"},
            "actions": {"copyToFolder": projects, "assignCategories": ["Work"], "markImportance": "low",
                        "forwardTo": [{"emailAddress": {"address": "me@example.net", "name": "Me"}}]}}))
        r = g.patch("/mailboxSettings", json={"automaticRepliesSetting": {
            "status": "scheduled", "externalAudience": "contactsOnly", "internalReplyMessage": "<p>Urlaub</p>",
            "externalReplyMessage": "Away",
            "scheduledStartDateTime": {"dateTime": "2026-07-01T08:00:00", "timeZone": WEST},
            "scheduledEndDateTime": {"dateTime": "2026-07-15T18:00:00", "timeZone": WEST}}})
        assert r.status_code == 200, r.text
    src = source(emu)
    rules = {i.name: json.loads(i.payload) for i in _pim(src, "rules")}
    assert rules == {
        "Newsletter": {"name": "Newsletter", "priority": 2, "enabled": True, "lossy": [],
                       "conditions": {"contains_sender_strings": ["news@"],
                                      "within_size_range": {"minimum_size": 0, "maximum_size": 100}},
                       "exceptions": {"importance": "High"},
                       "actions": {"move_to_folder": ["\\Archive:Archive"], "mark_as_read": True,
                                   "stop_processing_rules": True}},
        "Projects": {"name": "Projects", "priority": 1, "enabled": False, "lossy": [], "exceptions": {},
                     "conditions": {"from_addresses": ["boss@example.test"], "flagged_for_action": "FollowUp"},
                     "actions": {"copy_to_folder": ["INBOX", "Projekte"], "assign_categories": ["Work"],
                                 "mark_importance": "Low", "forward_to_recipients": ["me@example.net"]}},
    }
    [reply] = _pim(src, "auto_reply")
    assert (reply.item_type, reply.format) == ("auto_reply", "json")
    assert json.loads(reply.payload) == {"state": "Scheduled", "external_audience": "Known",
                                         "start": "2026-07-01T06:00:00+00:00", "end": "2026-07-15T16:00:00+00:00",
                                         "internal_reply": "<p>Urlaub</p>", "external_reply": "Away"}


def test_contact_groups_are_not_offered() -> None:
    from shared.adapters import registry

    assert "contact_groups" not in registry.system("graph").readers
    assert "contact_groups" not in registry.runnable("graph", "ews")


# -- limits -------------------------------------------------------------------------------------------------
def _seed_many(emu: GraphEmulator, n: int) -> None:
    with rig.seeding(emu, ALICE) as g:
        for i in range(n):
            rig.message(g, "inbox", f"m{i}", read=bool(i % 2), received=f"2023-01-{1 + i % 28:02d}T00:00:00Z")


def _fetch_in_threads(sources: list[GraphSource], throttled_again: int = 0) -> list[int]:
    """Each session fetches the Inbox at the same time; the messages each got. ``throttled_again``: a fetch
    that still met Graph's limit after its own retries (``Throttled``) is run again that many times, as the
    extractor runs a throttled batch again after the host's back-off."""
    counts = [0] * len(sources)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        for again in range(throttled_again + 1):
            try:
                refs = refs_by_name(sources[i])
                listing = sources[i].list_items([refs["INBOX"]], 0)["INBOX"]
                got = assembled(run_task(sources[i], refs["INBOX"], list(listing.refs)))
                counts[i] = len(got)
                return
            except Throttled as exc:
                if again == throttled_again:
                    errors.append(exc)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return counts


def test_the_shared_budget_keeps_sessions_within_graphs_concurrency(emu: GraphEmulator, redis_url: str) -> None:
    _seed_many(emu, 30)
    app = emu.register_app(secret=rig.SECRET)
    s = rig.settings(emu, app.client_id, redis_url=redis_url)
    sources = [GraphSource(open_client(rig.spec(emu, ALICE), lambda: "", rig.env(emu), s)) for _ in range(6)]
    assert _fetch_in_threads(sources) == [30] * 6
    key = (app.client_id, ALICE)
    assert emu.throttle.throttled == {}  # never over the limit
    assert 1 <= emu.throttle.peak_in_flight[key] <= 4


def test_over_the_limit_graphs_retry_after_is_honoured(emu: GraphEmulator, redis_url: str) -> None:
    """An adapter told to send more at once than Graph takes (8 > 4) meets 429s and waits them out."""
    _seed_many(emu, 30)
    app = emu.register_app(secret=rig.SECRET)
    s = rig.settings(emu, app.client_id, redis_url=redis_url, concurrency=8)
    sources = [GraphSource(open_client(rig.spec(emu, ALICE), lambda: "", rig.env(emu), s)) for _ in range(8)]
    # Four reads are held in flight (Graph's four slots taken), so the other sessions' requests meet the limit
    # whatever the machine's timing; once one was refused, the held ones go on.
    gate = emu.faults.hold(4, "GET", "messages/{message}/$value")

    def release() -> None:
        gate.wait_held(4, timeout=60)
        deadline = time.monotonic() + 60
        while emu.throttle.throttled["MailboxConcurrency"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.release()

    releaser = threading.Thread(target=release)
    releaser.start()
    # On a busy machine eight sessions may meet the limit more often than the client's own retries allow.
    assert _fetch_in_threads(sources, throttled_again=3) == [30] * 8
    releaser.join()
    emu.faults.gate = None
    assert emu.throttle.throttled["MailboxConcurrency"] > 0
    assert any(src.client.retried_after for src in sources)
    assert {w for src in sources for w in src.client.retried_after} == {1.0}  # the emulator's Retry-After


def test_the_request_budget_per_window_is_kept() -> None:
    limits = Limits(requests=25, window=2.0)
    with GraphEmulator(tls=True, limits=limits) as emu:
        emu.add_user(ALICE)
        _seed_many(emu, 12)
        app = emu.register_app(secret=rig.SECRET)
        s = rig.settings(emu, app.client_id, requests=25, window=2.0)
        src = GraphSource(open_client(rig.spec(emu, ALICE), lambda: "", rig.env(emu), s))
        for _ in range(3):  # about 10 requests a pass: more than one window's budget in all
            assert len(_fetch_in_threads([src])) == 1
        assert emu.throttle.throttled == {}
        assert src.client.budget.waited > 0


def test_inner_batch_429s_are_sent_again(emu: GraphEmulator) -> None:
    _seed_many(emu, 5)
    src = source(emu)
    refs = refs_by_name(src)
    listing = src.list_items([refs["INBOX"]], 0)["INBOX"]
    emu.faults.fail_next(2, status=503, path_contains="/messages/")
    got = assembled(run_task(src, refs["INBOX"], list(listing.refs)))
    assert len(got) == 5


# -- sign-in and tokens -------------------------------------------------------------------------------------
def test_an_expired_app_token_is_renewed() -> None:
    clock = ManualClock(1_780_000_000.0)
    with GraphEmulator(tls=True, clock=clock, token_lifetime=600) as emu:
        emu.add_user(ALICE)
        _seed_many(emu, 3)
        src = source(emu)
        refs = refs_by_name(src)
        listing = src.list_items([refs["INBOX"]], 0)["INBOX"]
        issued = emu.tenant.tokens_issued
        clock.advance(3600)  # the adapter's token has expired on Graph's clock: a $batch's inner answers are 401
        assert len(assembled(run_task(src, refs["INBOX"], list(listing.refs)))) == 3
        assert emu.tenant.tokens_issued == issued + 1
        clock.advance(3600)  # and a plain request's answer
        assert src.list_items([refs["INBOX"]], 0)["INBOX"].refs == listing.refs
        assert emu.tenant.tokens_issued == issued + 2


def _pkce_bundle(emu: GraphEmulator, client_id: str, redirect: str) -> str:
    """A user's tokens got by hand (authorization code with PKCE over plain HTTP), as a sign-in leaves them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    scope = "https://graph.microsoft.com/Mail.ReadWrite offline_access openid"
    with rig_http(emu) as h:
        r = h.get(f"{emu.authority}/oauth2/v2.0/authorize", params={
            "client_id": client_id, "response_type": "code", "redirect_uri": redirect, "scope": scope,
            "code_challenge": challenge, "code_challenge_method": "S256", "login_hint": ALICE, "state": "s"})
        code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
        tokens = h.post(emu.token_url, data={"grant_type": "authorization_code", "client_id": client_id,
                                             "code": code, "redirect_uri": redirect, "code_verifier": verifier,
                                             "scope": scope}).json()
    return json.dumps({"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                       "expires_at": time.time() + tokens["expires_in"], "lifetime": tokens["expires_in"],
                       "scope": tokens["scope"]})


def rig_http(emu: GraphEmulator) -> httpx.Client:
    from tests.graph_emulator.testing import http

    return http(emu)


def test_a_users_sign_in_reads_their_own_mailbox_and_is_refreshed() -> None:
    clock = ManualClock(1_780_000_000.0)
    redirect = "http://localhost/callback"
    with GraphEmulator(tls=True, clock=clock, token_lifetime=900) as emu:
        emu.add_user(ALICE)
        _seed_many(emu, 2)
        public = emu.register_app(public_client=True, redirect_uris={redirect})
        s = rig.settings(emu, "unused", sign_in=SignInApp(client_id=public.client_id, tenant="organizations"))
        bundle = _pkce_bundle(emu, public.client_id, redirect)
        client = open_client(rig.spec(emu, ALICE, auth="oauth2"), lambda: bundle, rig.env(emu), s)
        src = GraphSource(client)
        refs = refs_by_name(src)
        assert len(src.list_items([refs["INBOX"]], 0)["INBOX"].refs) == 2
        clock.advance(2000)  # past the access token's life on Graph's clock: Graph answers 401, the adapter renews
        assert len(src.list_items([refs["INBOX"]], 0)["INBOX"].refs) == 2
        assert client.tokens.renewed == 1  # type: ignore[attr-defined]
        emu.tenant.revoke_refresh_tokens(ALICE)
        clock.advance(2000)
        with pytest.raises(AuthenticationFailed, match="sign in again"):
            src.list_items([refs["INBOX"]], 0)


def test_the_sign_in_flow_with_pkce() -> None:
    with GraphEmulator(tls=True) as emu:
        emu.add_user(ALICE)
        redirect = "https://mailferry.example/api/v1/sign-in/graph/redirect"
        public = emu.register_app(public_client=True, redirect_uris={redirect})
        s = rig.settings(emu, "unused", sign_in=SignInApp(client_id=public.client_id, tenant="organizations"))
        url, flow = sign_in.start(rig.env(emu).connect, ALICE, redirect, s)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["login_hint"] == [ALICE]
        with rig_http(emu) as h:
            answer = h.get(url)
        assert answer.status_code == 302
        back = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}
        bundle, login = sign_in.finish(rig.env(emu).connect, flow, back, s)
        assert login == ALICE
        assert set(json.loads(bundle)) == {"access_token", "refresh_token", "expires_at", "lifetime", "scope"}
        with pytest.raises(AuthenticationFailed):  # a code is redeemed once
            sign_in.finish(rig.env(emu).connect, flow, back, s)


# -- login check and connection rules -----------------------------------------------------------------------
def test_login_checks_say_what_is_wrong(emu: GraphEmulator) -> None:
    app = emu.register_app(secret=rig.SECRET)
    good = rig.settings(emu, app.client_id)
    check_login(rig.spec(emu, ALICE), "", rig.env(emu), good)  # a token and a GET of the mailbox
    with pytest.raises(AuthenticationFailed, match=r"Microsoft 365 has no mailbox nobody@example\.test"):
        check_login(rig.spec(emu, "nobody@example.test"), "", rig.env(emu), good)
    wrong = rig.settings(emu, emu.register_app(secret="another").client_id)
    with pytest.raises(AuthenticationFailed, match=r"invalid_client \(AADSTS7000215\)"):
        check_login(rig.spec(emu, ALICE), "", rig.env(emu), wrong)
    no_mail = emu.register_app(secret=rig.SECRET, application_permissions={"Contacts.Read"})
    with pytest.raises(AuthenticationFailed, match="lacks a permission"):
        check_login(rig.spec(emu, ALICE), "", rig.env(emu), rig.settings(emu, no_mail.client_id))
    with pytest.raises(ConfigError, match=r"no Microsoft 365 app is configured for elsewhere\.test"):
        check_login(rig.spec(emu, "bob@elsewhere.test"), "", rig.env(emu), good)


def test_every_connection_passes_the_network_guard_and_tls_checks(emu: GraphEmulator) -> None:
    app = emu.register_app(secret=rig.SECRET)
    s = rig.settings(emu, app.client_id)
    with pytest.raises(AddressNotAllowed):
        check_login(rig.spec(emu, ALICE), "", rig.env(emu, allow=""), s)
    untrusted = rig.env(emu)
    untrusted = type(untrusted)(connect=type(untrusted.connect)(untrusted.connect.allow, ca_file=""))
    with pytest.raises(TlsError):
        check_login(rig.spec(emu, ALICE), "", untrusted, s)
