"""The Graph adapter's e-mail target, item target and undo against the Graph emulator over HTTPS.

Everything is read back from the emulator with plain httpx (tests/graph_rig.py's own app), never through the
adapter; the expected folders, flags, dates, headers, cards, events, tasks, rules and settings are written
here as data.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from shared.adapters.graph.item_target import GraphItemTarget
from shared.adapters.graph.mail_target import GraphTarget
from shared.adapters.graph.session import open_client
from shared.adapters.graph.undo import GraphUndo
from shared.adapters.pim_items import pim_item
from shared.adapters.ports import Placed, WriteContext
from shared.adapters.records import MailRecord, PimRecord, Record
from shared.errors import ItemRejected, ServerRefused
from shared.events import CreatedThing, FolderRef, MailMeta
from shared.folder_map import root_token
from shared.formats.settings import AutoReply, RuleModel
from shared.ledger import LedgerEntry
from tests import graph_rig as rig
from tests.graph_emulator import GraphEmulator

pytestmark = pytest.mark.integration

ALICE = "alice@example.test"
SEP = "\x1f"
BIG = 3 * 1024 * 1024 + 12345  # above 3 MB: an upload session


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as e:
        e.add_user(ALICE)
        yield e


def client(emu: GraphEmulator) -> Any:
    app = emu.register_app(secret=rig.SECRET)
    return open_client(rig.spec(emu, ALICE), lambda: "", rig.env(emu), rig.settings(emu, app.client_id))


@dataclass
class Sink:
    placed: dict[str, tuple[Placed, list[CreatedThing], str]] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    undo: list[CreatedThing] = field(default_factory=list)

    def place(self, record: Record, where: Placed, created: Sequence[CreatedThing], note: str = "") -> None:
        self.placed[record.key] = (where, list(created), note)
        self.undo += created

    def reject(self, record: Record, error: ItemRejected, created: Sequence[CreatedThing] = ()) -> None:
        self.rejected[record.key] = str(error)
        self.undo += created

    def undoable(self, created: Sequence[CreatedThing]) -> None:
        self.undo += created


class Snapshots:
    def __init__(self) -> None:
        self.kept: dict[str, set[str]] = {}

    def keep_rules_before(self, item_keys: Any, rule_ids: Sequence[str]) -> None:
        for k in item_keys:
            self.kept.setdefault(k, set(rule_ids))

    def rules_before(self, item_key: str) -> set[str] | None:
        return self.kept.get(item_key)


def sink_of(s: Sink) -> Any:
    class _S:
        placed = s.place
        rejected = s.reject
        undoable = s.undoable
    return _S()


def ctx(written_ahead: list[CreatedThing], folders: dict[str, str] | None = None, inflight: frozenset[str] = frozenset(),
        known: dict[str, LedgerEntry] | None = None, snapshots: Snapshots | None = None) -> WriteContext:
    return WriteContext(migration_id="m1", pair_id="p1", inflight=inflight, known=known or {},
                        write_ahead=written_ahead.extend, snapshots=snapshots or Snapshots(), folders=folders or {})


def mime(subject: str, message_id: str, *, attachment: bytes | None = None, html: bool = False) -> bytes:
    m = EmailMessage()
    m["From"] = "Bob Sender <bob@example.net>"
    m["To"] = "Alice <alice@example.test>, carol@example.test"
    m["Cc"] = "dave@example.test"
    m["Subject"] = subject
    m["Date"] = "Tue, 02 Jan 2024 10:00:00 +0100"
    m["Message-ID"] = message_id
    m["Received"] = "from mx.example.net by mx.example.test; Tue, 02 Jan 2024 10:00:01 +0100"
    m["X-Custom"] = "kept?"
    if html:
        m.set_content("plain part")
        m.add_alternative("<p>Hello <b>HTML</b></p>", subtype="html")
    else:
        m.set_content(f"Body of {subject}\n")
    if attachment is not None:
        m.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="data.bin")
    return m.as_bytes()


def mail(folder: FolderRef, n: int, data: bytes, flags: list[str], when: datetime, message_id: str) -> MailRecord:
    meta = MailMeta(item_key=f"{folder.folder_id}:{n}", folder=folder, flags=flags, internaldate=when,
                    size=len(data), message_id=message_id)
    return MailRecord(meta=meta, data=data)


def test_messages_land_in_the_tree_not_as_drafts_with_state_dates_and_a_large_attachment(emu: GraphEmulator) -> None:
    inbox = FolderRef(folder_id="f1", path=["INBOX"], special_use=None)
    sent = FolderRef(folder_id="f2", path=[root_token("\\Sent", "Sent")], special_use="\\Sent")
    deep = FolderRef(folder_id="f3", path=["Projects", "2024", "Q1 / Q2"])
    archive = FolderRef(folder_id="f4", path=[root_token("\\Archive", "Archiv")], special_use="\\Archive")
    big = bytes(range(256)) * (BIG // 256) + b"tail"
    records = [
        mail(inbox, 1, mime("Quarterly", "<q@example.net>", html=True), ["\\Seen", "\\Flagged", "Red&ACA-Category"],
             datetime(2024, 1, 2, 9, 0, 5, tzinfo=UTC), "<q@example.net>"),
        mail(inbox, 2, mime("Unread", "<u@example.net>"), ["$Completed"], datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC),
             "<u@example.net>"),
        mail(sent, 3, mime("Answer", "<a@example.net>"), ["\\Seen"], datetime(2022, 1, 1, tzinfo=UTC), "<a@example.net>"),
        mail(deep, 4, mime("Large", "<l@example.net>", attachment=big), ["\\Seen"], datetime(2021, 2, 3, tzinfo=UTC),
             "<l@example.net>"),
        mail(archive, 5, mime("Draft kept", "<d@example.net>"), ["\\Draft", "\\Seen"],
             datetime(2020, 1, 1, tzinfo=UTC), "<d@example.net>"),
    ]
    target = GraphTarget(client(emu), "p1")
    names = {f.folder_id: target.folder_name(f.path) for f in (inbox, sent, deep, archive)}
    created = target.ensure_folders(list(names.values()))
    assert created == ["Projects", f"Projects{SEP}2024", f"Projects{SEP}2024{SEP}Q1 / Q2"]
    ahead: list[CreatedThing] = []
    s = Sink()
    target.write(records, ctx(ahead, names), sink_of(s))
    assert s.rejected == {}
    with rig.seeding(emu, ALICE) as g:
        ids = {n: g.get(f"/mailFolders/{n}").json()["id"] for n in ("inbox", "sentitems", "archive")}
        projects = next(f for f in g.get("/mailFolders/msgfolderroot/childFolders").json()["value"]
                        if f["displayName"] == "Projects")
        y2024 = g.get(f"/mailFolders/{projects['id']}/childFolders").json()["value"]
        assert [f["displayName"] for f in y2024] == ["2024"]
        q = g.get(f"/mailFolders/{y2024[0]['id']}/childFolders").json()["value"]
        assert [f["displayName"] for f in q] == ["Q1 / Q2"]
        select = {"$select": "subject,isRead,isDraft,flag,categories,receivedDateTime,sentDateTime,from,toRecipients,"
                             "ccRecipients,internetMessageId,body,hasAttachments,parentFolderId"}
        got = {}
        for key, (where, undo, _note) in s.placed.items():
            m = g.get(f"/messages/{where.ref}", params=select).json()
            got[key] = m
            assert undo == [CreatedThing(kind="message", target_folder=where.folder, ref=where.ref, item_key=key)]
        quarterly = got["f1:1"]
        assert (quarterly["isDraft"], quarterly["isRead"], quarterly["flag"]["flagStatus"], quarterly["categories"]) \
            == (False, True, "flagged", ["Red Category"])
        assert quarterly["parentFolderId"] == ids["inbox"]
        assert (quarterly["receivedDateTime"], quarterly["sentDateTime"]) == ("2024-01-02T09:00:05Z",
                                                                              "2024-01-02T09:00:00Z")
        assert quarterly["from"] == {"emailAddress": {"address": "bob@example.net", "name": "Bob Sender"}}
        assert [r["emailAddress"]["address"] for r in quarterly["toRecipients"]] == ["alice@example.test",
                                                                                     "carol@example.test"]
        assert [r["emailAddress"]["address"] for r in quarterly["ccRecipients"]] == ["dave@example.test"]
        assert quarterly["internetMessageId"] == "<q@example.net>"
        assert quarterly["body"] == {"contentType": "html", "content": "<p>Hello <b>HTML</b></p>\n"}
        unread = got["f1:2"]
        assert (unread["isDraft"], unread["isRead"], unread["flag"]["flagStatus"], unread["receivedDateTime"]) == \
            (False, False, "complete", "2023-05-06T07:08:09Z")
        assert got["f2:3"]["parentFolderId"] == ids["sentitems"] and got["f2:3"]["isDraft"] is False
        assert got["f4:5"]["parentFolderId"] == ids["archive"] and got["f4:5"]["isDraft"] is True
        large = got["f3:4"]
        assert large["parentFolderId"] == q[0]["id"] and large["hasAttachments"] is True
        atts = g.get(f"/messages/{s.placed['f3:4'][0].ref}/attachments").json()["value"]
        assert [(a["name"], a["size"]) for a in atts] == [("data.bin", len(big))]
        raw = g.get(f"/messages/{s.placed['f3:4'][0].ref}/attachments/{atts[0]['id']}/$value").content
        assert raw == big
        headers = g.get(f"/messages/{s.placed['f1:1'][0].ref}", params={
            "$expand": "singleValueExtendedProperties($filter=id eq 'String 0x007D')"}).json()
        block = headers["singleValueExtendedProperties"][0]["value"]
        assert block == records[0].data.split(b"\n\n", 1)[0].decode()  # the original header block, whole
        assert "\nReceived:\n from mx.example.net" in block and "\nX-Custom: kept?" in block
    assert emu.routes_served["POST messages/{message}/attachments/createUploadSession"] == 1


def test_a_retry_finds_the_messages_written_before_a_crash(emu: GraphEmulator) -> None:
    inbox = FolderRef(folder_id="f1", path=["INBOX"])
    records = [mail(inbox, n, mime(f"M{n}", f"<m{n}@example.net>"), [], datetime(2024, 1, n, tzinfo=UTC),
                    f"<m{n}@example.net>") for n in (1, 2, 3)]
    target = GraphTarget(client(emu), "p1")
    target.ensure_folders(["INBOX"])
    first = Sink()
    target.write(records[:2], ctx([], {"f1": "INBOX"}), sink_of(first))  # the answer "was lost" after two
    again = Sink()
    target.write(records, ctx([], {"f1": "INBOX"}, inflight=frozenset(r.key for r in records)), sink_of(again))
    assert {k: p.ref for k, (p, _u, _n) in again.placed.items() if k != "f1:3"} == \
        {k: p.ref for k, (p, _u, _n) in first.placed.items()}
    with rig.seeding(emu, ALICE) as g:
        subjects = sorted(m["subject"] for m in g.get("/mailFolders/inbox/messages",
                                                       params={"$select": "subject"}).json()["value"])
    assert subjects == ["M1", "M2", "M3"]  # nothing twice


WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTART;TZID=Europe/Berlin:20260105T090000\r
DTEND;TZID=Europe/Berlin:20260105T100000\r
RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=MO\r
EXDATE;TZID=Europe/Berlin:20260126T090000\r
SUMMARY:Jour fixe\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series-1\r
RECURRENCE-ID;TZID=Europe/Berlin:20260112T090000\r
DTSTART;TZID=Europe/Berlin:20260113T110000\r
DTEND;TZID=Europe/Berlin:20260113T120000\r
SUMMARY:Jour fixe (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""
ALL_DAY = WEEKLY.split("BEGIN:VEVENT")[0] + \
    "BEGIN:VEVENT\r\nUID:holiday\r\nDTSTART;VALUE=DATE:20260401\r\nDTEND;VALUE=DATE:20260402\r\n" \
    "SUMMARY:Holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
TASK = WEEKLY.split("BEGIN:VEVENT")[0] + \
    "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:File the report\r\nSTATUS:IN-PROCESS\r\nPRIORITY:1\r\n" \
    "DUE;VALUE=DATE:20260610\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
CARD = """BEGIN:VCARD\r
VERSION:3.0\r
FN:Ada Lovelace\r
N:Lovelace;Ada;;;\r
EMAIL:ada@example.test\r
EMAIL:ada2@example.test\r
EMAIL:ada3@example.test\r
EMAIL:ada4@example.test\r
TEL;TYPE=CELL:+44 77 1\r
TEL;TYPE=WORK:+44 20 1234\r
ORG:Analytical Engines\r
TITLE:Analyst\r
BDAY:1815-12-10\r
ADR;TYPE=HOME:;;12 Marylebone;London;;NW1;UK\r
END:VCARD\r
"""


def items() -> list[PimRecord]:
    rule = RuleModel(name="To archive", priority=1, enabled=True,
                     conditions={"contains_subject_strings": ["invoice"], "from_addresses": ["billing@example.net"]},
                     actions={"move_to_folder": ["Invoices"], "mark_as_read": True})
    reply = AutoReply(state="Scheduled", external_audience="Known", start="2026-07-01T00:00:00+00:00",
                      end="2026-07-15T00:00:00+00:00", internal_reply="Away", external_reply="Away (ext)")
    made = [pim_item("m1", "contacts", "c1", "vcard", "Ada", CARD),
            pim_item("m1", "calendars", "e1", "ical", "Jour fixe", WEEKLY),
            pim_item("m1", "calendars", "e2", "ical", "Holiday", ALL_DAY),
            pim_item("m1", "tasks", "t1", "ical", "File the report", TASK),
            pim_item("m1", "rules", "r1", "json", rule.name, rule.to_json()),
            pim_item("m1", "auto_reply", "oof", "json", "auto-reply", reply.to_json()),
            pim_item("m1", "contact_groups", "g1", "contact-group", "Team",
                     json.dumps({"display_name": "Team", "members": [["Ada", "ada@example.test"]]}))]
    return [PimRecord(item=i) for i in made]


def test_items_are_written_then_undo_removes_exactly_them_and_restores_the_settings(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:  # what the user had before: kept by undo
        mine = rig.created(g.post("/contacts", json={"displayName": "Mine", "givenName": "Mine"}))
        own_rule = rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "Mine", "sequence": 2, "isEnabled": True, "actions": {"markAsRead": True}}))
        before = {"status": "alwaysEnabled", "externalAudience": "all", "internalReplyMessage": "Old",
                  "externalReplyMessage": "Old ext"}
        assert g.patch("/mailboxSettings", json={"automaticRepliesSetting": before}).status_code == 200
    target = GraphItemTarget(GraphTarget(client(emu), "p1"))
    ahead: list[CreatedThing] = []
    s = Sink()
    records = items()
    k = {r.item.name: r.key for r in records}
    target.write(records, ctx(ahead), sink_of(s))
    assert set(s.rejected) == {k["Team"]} and "no contact groups" in s.rejected[k["Team"]]
    assert "1 of the emailAddresses (Graph holds 3)" in s.placed[k["Ada"]][2]
    with rig.seeding(emu, ALICE) as g:
        contact = g.get(f"/contacts/{s.placed[k['Ada']][0].ref.split(':')[1]}").json()
        assert (contact["displayName"], contact["givenName"], contact["surname"], contact["mobilePhone"],
                contact["businessPhones"], contact["companyName"], contact["jobTitle"], contact["birthday"]) == \
            ("Ada Lovelace", "Ada", "Lovelace", "+44 77 1", ["+44 20 1234"], "Analytical Engines", "Analyst",
             "1815-12-10T00:00:00Z")
        assert [e["address"] for e in contact["emailAddresses"]] == ["ada@example.test", "ada2@example.test",
                                                                     "ada3@example.test"]
        assert contact["homeAddress"]["city"] == "London"
        master_id = s.placed[k["Jour fixe"]][0].ref.split(":")[1]
        window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-03-01T00:00:00Z", "$top": "50"}
        g.headers["Prefer"] = 'outlook.timezone="Europe/Berlin"'
        occ = g.get(f"/events/{master_id}/instances", params=window).json()["value"]
        assert [(o["start"]["dateTime"][:16], o["subject"]) for o in occ] == [
            ("2026-01-05T09:00", "Jour fixe"), ("2026-01-13T11:00", "Jour fixe (moved)"),
            ("2026-01-19T09:00", "Jour fixe"), ("2026-02-02T09:00", "Jour fixe"), ("2026-02-09T09:00", "Jour fixe")]
        holiday = g.get(f"/events/{s.placed[k['Holiday']][0].ref.split(':')[1]}").json()
        assert (holiday["isAllDay"], holiday["start"]["dateTime"][:10], holiday["end"]["dateTime"][:10]) == \
            (True, "2026-04-01", "2026-04-02")
        _, lst, task_id = s.placed[k["File the report"]][0].ref.split(":")
        task = g.get(f"/todo/lists/{lst}/tasks/{task_id}").json()
        assert (task["title"], task["status"], task["importance"], task["dueDateTime"]["dateTime"][:10]) == \
            ("File the report", "inProgress", "high", "2026-06-10")
        rules = {r["displayName"]: r for r in g.get("/mailFolders/inbox/messageRules").json()["value"]}
        moved_to = g.get(f"/mailFolders/{rules['To archive']['actions']['moveToFolder']}").json()
        root = g.get("/mailFolders/msgfolderroot").json()["id"]
        assert (moved_to["displayName"], moved_to["parentFolderId"]) == ("Invoices", root)
        assert rules["To archive"]["conditions"]["subjectContains"] == ["invoice"]
        reply = g.get("/mailboxSettings/automaticRepliesSetting").json()
        assert (reply["status"], reply["externalAudience"], reply["internalReplyMessage"],
                reply["scheduledStartDateTime"]["dateTime"][:19]) == ("scheduled", "contactsOnly", "Away",
                                                                       "2026-07-01T00:00:00")
    # the previous auto-reply and the folder made for the rule were written ahead
    assert [a.kind for a in ahead] == ["folder", "setting"]
    undo = GraphUndo(client(emu))
    undo.client.sleep = lambda _s: None
    emu.faults.fail_next(2, status=429, code="ApplicationThrottled", retry_after=9, path_contains="permanentDelete")
    removed = list(undo.remove([u for u in s.undo if u.kind in ("item", "message")], 100))
    assert sum(r.removed for r in removed) == 4 and not any(r.kept for r in removed)
    assert undo.client.retried_after == [9.0]  # the $batch's two inner 429s, waited out once, sent again
    restored = list(undo.restore([u for u in [*ahead, *s.undo] if u.kind in ("rule", "setting")]))
    assert [(r.done, r.removed, r.kept) for r in restored] == [(1, 1, ()), (1, 1, ())]
    folders = list(undo.remove_folders([a for a in ahead if a.kind == "folder"]))
    assert [(r.removed, r.kept) for r in folders] == [(1, ())]
    again = list(undo.remove([u for u in s.undo if u.kind == "item"], 100))  # idempotent: done, nothing left
    assert (sum(r.done for r in again), sum(r.removed for r in again)) == (4, 0)
    with rig.seeding(emu, ALICE) as g:
        assert [c["displayName"] for c in g.get("/contacts").json()["value"]] == [mine["displayName"]]
        assert g.get("/calendar/events").json()["value"] == []
        assert g.get(f"/todo/lists/{lst}/tasks").json()["value"] == []
        assert [r["id"] for r in g.get("/mailFolders/inbox/messageRules").json()["value"]] == [own_rule["id"]]
        reply = g.get("/mailboxSettings/automaticRepliesSetting").json()
        assert {k: reply[k] for k in before} == before
        assert "Invoices" not in [f["displayName"] for f in g.get("/mailFolders/msgfolderroot/childFolders").json()["value"]]


def test_undo_keeps_a_folder_the_user_filed_mail_into_and_removes_messages_for_good(emu: GraphEmulator) -> None:
    target = GraphTarget(client(emu), "p1")
    made = target.ensure_folders([f"Work{SEP}Old"])
    ref = FolderRef(folder_id="w", path=["Work", "Old"])
    s = Sink()
    target.write([mail(ref, 1, mime("x", "<x@example.net>"), [], datetime(2024, 1, 1, tzinfo=UTC), "<x@example.net>")],
                 ctx([], {"w": f"Work{SEP}Old"}), sink_of(s))
    folders = [CreatedThing(kind="folder", target_folder=n, ref=target.folder_ref(n)) for n in made]
    with rig.seeding(emu, ALICE) as g:
        rig.message(g, target.folder_ref("Work"), "filed by the user", read=True, received="2024-02-02T00:00:00Z")
    undo = GraphUndo(client(emu))
    assert sum(r.removed for r in undo.remove(s.undo, 10)) == 1
    kept = list(undo.remove_folders(folders))
    assert [(r.removed, r.kept) for r in kept] == [(1, ()), (0, ("Work was kept: it holds 1 item that the migration "
                                                                 "did not put there",))]
    with rig.seeding(emu, ALICE) as g:
        deleted = g.get("/mailFolders/deleteditems/messages").json()["value"]
        assert deleted == []  # permanently deleted, not moved to Deleted Items


def test_mime_post_would_make_a_draft(emu: GraphEmulator) -> None:
    """Why the target does not POST MIME: Graph makes it a draft whatever PR_MESSAGE_FLAGS would say."""
    with rig.seeding(emu, ALICE) as g:
        r = g.post("/mailFolders/inbox/messages", content=base64.b64encode(mime("m", "<m@example.net>")),
                   headers={"Content-Type": "text/plain"})
        assert r.status_code == 201 and r.json()["isDraft"] is True
        r2 = g.patch(f"/messages/{r.json()['id']}", json={"singleValueExtendedProperties": [
            {"id": "Integer 0x0E07", "value": "1"}]})
        assert r2.status_code == 200
        assert g.get(f"/messages/{r.json()['id']}").json()["isDraft"] is True  # flags count only at creation


def test_a_busy_mailbox_is_waited_out(emu: GraphEmulator) -> None:
    inbox = FolderRef(folder_id="f1", path=["INBOX"])
    target = GraphTarget(client(emu), "p1")
    target.client.sleep = lambda _s: None
    target.ensure_folders(["INBOX"])
    emu.faults.fail_next(2, status=429, path_contains="/messages", retry_after=7)
    s = Sink()
    target.write([mail(inbox, 1, mime("busy", "<b@example.net>"), [], datetime(2024, 1, 1, tzinfo=UTC),
                       "<b@example.net>")], ctx([], {"f1": "INBOX"}), sink_of(s))
    assert list(s.placed) == ["f1:1"] and target.client.retried_after == [7.0, 7.0]


def test_the_emulator_takes_unknown_charsets_and_internationalized_addresses(emu: GraphEmulator) -> None:
    """Two corpus e-mails once made the emulator answer 500 (EmulatorBug): never again."""
    odd = (b"From: a@example.net\r\nSubject: odd\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nhello\r\n")
    with rig.seeding(emu, ALICE) as g:
        r = g.post("/mailFolders/inbox/messages", content=base64.b64encode(odd), headers={"Content-Type": "text/plain"})
        assert r.status_code == 201 and r.json()["body"] == {"contentType": "text", "content": "hello\r\n"}
        made = rig.created(g.post("/mailFolders/inbox/messages", json={
            "subject": "EAI", "from": {"emailAddress": {"address": "jörg@例え.jp", "name": "Jörg"}}}))
        value = g.get(f"/messages/{made['id']}/$value")
        assert value.status_code == 200 and "From: Jörg <jörg@例え.jp>".encode() in value.content


def test_a_message_whose_attachment_did_not_arrive_is_made_again_not_taken(emu: GraphEmulator) -> None:
    inbox = FolderRef(folder_id="f1", path=["INBOX"])
    big = b"\x00\x01" * (BIG // 2)
    rec = mail(inbox, 1, mime("With scan", "<s@example.net>", attachment=big), ["\\Seen"],
               datetime(2024, 1, 1, tzinfo=UTC), "<s@example.net>")
    target = GraphTarget(client(emu), "p1")
    target.ensure_folders(["INBOX"])
    emu.faults.fail_next(1, status=400, code="ErrorInvalidRequest", path_contains="createUploadSession")
    with pytest.raises(ServerRefused):
        target.write([rec], ctx([], {"f1": "INBOX"}), sink_of(Sink()))  # created, its attachment refused
    s = Sink()
    target.write([rec], ctx([], {"f1": "INBOX"}, inflight=frozenset({rec.key})), sink_of(s))  # the retry
    with rig.seeding(emu, ALICE) as g:
        listed = g.get("/mailFolders/inbox/messages", params={"$select": "subject,hasAttachments"}).json()["value"]
        assert [(m["subject"], m["hasAttachments"]) for m in listed] == [("With scan", True)]
        atts = g.get(f"/messages/{listed[0]['id']}/attachments").json()["value"]
        assert [(a["name"], a["size"]) for a in atts] == [("data.bin", len(big))]
    assert s.placed[rec.key][0].ref == listed[0]["id"]


def named(calendar_name: str, component: str) -> str:
    """An iCalendar object from another calendar or list than the default one, written here as data."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
            f"X-WR-CALNAME:{calendar_name}\r\n{component}END:VCALENDAR\r\n")


def test_events_and_tasks_go_into_calendars_and_lists_of_their_names_and_undo_removes_what_it_made(
        emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:  # the user already has a calendar "Family" with an event of their own
        family = rig.created(g.post("/calendars", json={"name": "Family"}))
        rig.created(g.post(f"/calendars/{family['id']}/events", json={
            "subject": "Mine", "start": {"dateTime": "2026-02-01T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-02-01T11:00:00", "timeZone": "UTC"}}))
    event = ("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\n"
             "SUMMARY:{subject}\r\nEND:VEVENT\r\n")
    made = [pim_item("m1", "calendars", "e1", "ical", "Sprint review",
                     named("Projekte", event.format(uid="a", subject="Sprint review"))),
            pim_item("m1", "calendars", "e2", "ical", "Zoo", named("family", event.format(uid="b", subject="Zoo"))),
            pim_item("m1", "calendars", "e3", "ical", "Plain", WEEKLY.split("BEGIN:VEVENT")[0]
                     + event.format(uid="c", subject="Plain") + "END:VCALENDAR\r\n"),
            pim_item("m1", "tasks", "t1", "ical", "Milch",
                     named("Einkauf\\, Wochenende", "BEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Milch\r\nEND:VTODO\r\n"))]
    records = [PimRecord(item=i) for i in made]
    ahead: list[CreatedThing] = []
    s = Sink()
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(records, ctx(ahead), sink_of(s))
    assert s.rejected == {} and len(s.placed) == 4
    with rig.seeding(emu, ALICE) as g:
        cals = {c["name"]: c["id"] for c in g.get("/calendars").json()["value"]}
        assert sorted(cals) == ["Calendar", "Family", "Projekte"]  # "family" went into the user's "Family"
        subjects = {n: sorted(e["subject"] for e in g.get(f"/calendars/{cid}/events").json()["value"])
                    for n, cid in cals.items()}
        assert subjects == {"Calendar": ["Plain"], "Family": ["Mine", "Zoo"], "Projekte": ["Sprint review"]}
        lists = {x["displayName"]: x["id"] for x in g.get("/todo/lists").json()["value"]}
        assert sorted(lists) == ["Einkauf, Wochenende", "Tasks"]
        assert [t["title"] for t in g.get(f"/todo/lists/{lists['Einkauf, Wochenende']}/tasks").json()["value"]] == [
            "Milch"]
    # only what was made is recorded, ahead of its items: the calendar "Projekte" and the list
    assert sorted((a.kind, a.ref) for a in ahead) == [("folder", f"calendar:{cals['Projekte']}"),
                                                      ("folder", f"todolist:{lists['Einkauf, Wochenende']}")]
    again = Sink()  # a retry of the same batch after a crash: found by their markers, nothing made twice
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(
        records[:3], ctx([], inflight=frozenset(r.key for r in records[:3])), sink_of(again))
    assert {k: v[0].ref for k, v in again.placed.items()} == {k: v[0].ref for k, v in s.placed.items() if k in again.placed}
    undo = GraphUndo(client(emu))
    removed = list(undo.remove([u for u in s.undo if u.kind == "item"], 100))
    assert sum(r.removed for r in removed) == 4
    folders = list(undo.remove_folders(ahead))
    assert [(r.removed, r.kept) for r in folders] == [(1, ()), (1, ())]
    with rig.seeding(emu, ALICE) as g:
        assert sorted(c["name"] for c in g.get("/calendars").json()["value"]) == ["Calendar", "Family"]
        assert [e["subject"] for e in g.get(f"/calendars/{family['id']}/events").json()["value"]] == ["Mine"]
        assert [x["displayName"] for x in g.get("/todo/lists").json()["value"]] == ["Tasks"]


def test_undo_keeps_a_calendar_it_made_once_the_user_put_an_event_into_it(emu: GraphEmulator) -> None:
    item = pim_item("m1", "calendars", "e1", "ical", "Kickoff", named("Team", (
        "BEGIN:VEVENT\r\nUID:k\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\nSUMMARY:Kickoff\r\n"
        "END:VEVENT\r\n")))
    ahead: list[CreatedThing] = []
    s = Sink()
    GraphItemTarget(GraphTarget(client(emu), "p1")).write([PimRecord(item=item)], ctx(ahead), sink_of(s))
    [team] = [a.ref.split(":")[1] for a in ahead]
    with rig.seeding(emu, ALICE) as g:
        rig.created(g.post(f"/calendars/{team}/events", json={
            "subject": "Added later", "start": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-02T11:00:00", "timeZone": "UTC"}}))
    undo = GraphUndo(client(emu))
    assert sum(r.removed for r in undo.remove(s.undo, 100)) == 1
    [kept] = list(undo.remove_folders(ahead))
    assert (kept.removed, kept.kept) == (0, ("the calendar 'Team' was kept: it holds items that the migration did "
                                             "not put there",))
    with rig.seeding(emu, ALICE) as g:
        assert [e["subject"] for e in g.get(f"/calendars/{team}/events").json()["value"]] == ["Added later"]
