"""Attachments of events, To Do tasks and contacts written into Microsoft 365, against the Graph emulator over HTTPS:
an event's files by POST (under 3 MB) and through an upload session (above), a task's as taskFileAttachments,
a link, a task file of 3 MB or more and a contact's files named in the report; a retry after a crash adds nothing
twice; undo removes the items with their attachments. The iCalendar and vCard texts are written here by hand and
everything is read back with plain HTTP (tests/graph_rig.py), never through the adapter.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import icalendar
import pytest

from shared.adapters.graph.item_target import GraphItemTarget
from shared.adapters.graph.mail_target import GraphTarget
from shared.adapters.graph.source import GraphSource
from shared.adapters.graph.undo import GraphUndo
from shared.adapters.pim_items import pim_item
from shared.adapters.records import PimRecord
from shared.events import CreatedThing, PimItem
from tests import graph_rig as rig
from tests.graph_emulator import GraphEmulator
from tests.integration.test_graph_target import ALICE, Sink, client, ctx, sink_of

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7\n\x00\xff" * 100
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
BIG = bytes(range(256)) * (3 * 1024 * 4 + 100)  # 3.1 MB: an upload session
PLAN = "Grüße\r\n".encode()


@pytest.fixture
def emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as e:
        e.add_user(ALICE)
        yield e


def attach(name: str, ctype: str, data: bytes, params: str = "", prop: str = "ATTACH") -> str:
    return f"{prop};FMTTYPE={ctype};ENCODING=BASE64;VALUE=BINARY;X-FILENAME={name}{params}:" \
           f"{base64.b64encode(data).decode()}\r\n"


def calendar(component: str) -> str:
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{component}END:VCALENDAR\r\n"


EVENT = calendar("BEGIN:VEVENT\r\nUID:ev1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260504T090000Z\r\n"
                 "DTEND:20260504T100000Z\r\nSUMMARY:Review\r\n"
                 + attach('"Agenda; 2026.pdf"', "application/pdf", PDF)
                 + attach("logo.png", "image/png", PNG, ";X-MAILFERRY-CONTENT-ID=logo@mail;X-MAILFERRY-INLINE=TRUE")
                 + attach("big.bin", "application/octet-stream", BIG)
                 + "ATTACH;FMTTYPE=application/msword:http://example.com/agenda.doc\r\nEND:VEVENT\r\n")
TASK = calendar("BEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Plan\r\nDUE;VALUE=DATE:20260610\r\n"
                + attach("plan.txt", "text/plain", PLAN) + attach("huge.bin", "application/octet-stream", BIG)
                + "END:VTODO\r\n")
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nN:;Ada;;;\r\n"
        + attach("cv.pdf", "application/pdf", PDF, prop="X-MAILFERRY-ATTACH") + "END:VCARD\r\n")


def records() -> list[PimRecord]:
    return [PimRecord(pim_item("m1", "calendars", "e", "ical", "Review", EVENT)),
            PimRecord(pim_item("m1", "tasks", "t", "ical", "Plan", TASK)),
            PimRecord(pim_item("m1", "contacts", "c", "vcard", "Ada", CARD))]


def attachments(g: Any, path: str) -> dict[str, tuple[str, bool, str | None, bytes]]:
    """name → (content type, inline, content id, bytes), read with plain HTTP."""
    out = {}
    for a in g.get(f"{path}/attachments").json()["value"]:
        raw = g.get(f"{path}/attachments/{a['id']}/$value").content
        out[a["name"]] = (a["contentType"], bool(a.get("isInline")), a.get("contentId"), raw)
    return out


def test_files_arrive_links_and_what_graph_cannot_hold_are_named_a_retry_adds_nothing_and_undo_removes_all(
        emu: GraphEmulator) -> None:
    s = Sink()
    ahead: list[CreatedThing] = []
    recs = records()
    key = {r.item.name: r.key for r in recs}
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(recs, ctx(ahead), sink_of(s))
    assert s.rejected == {} and len(s.placed) == 3  # every item accounted for
    event_id = s.placed[key["Review"]][0].ref.split(":")[1]
    _, lst, task_id = s.placed[key["Plan"]][0].ref.split(":")
    assert "attachment 'agenda.doc' (by reference: Graph's events take files only)" in s.placed[key["Review"]][2]
    assert "attachment 'huge.bin' (3 MB or more" in s.placed[key["Plan"]][2]
    assert "attachment 'cv.pdf' (Graph's contacts have no attachments)" in s.placed[key["Ada"]][2]
    expected_event = {"Agenda; 2026.pdf": ("application/pdf", False, None, PDF),
                      "logo.png": ("image/png", True, "logo@mail", PNG),
                      "big.bin": ("application/octet-stream", False, None, BIG)}
    expected_task = {"plan.txt": ("text/plain", False, None, PLAN)}
    task_path = f"/todo/lists/{lst}/tasks/{task_id}"
    with rig.seeding(emu, ALICE) as g:
        assert attachments(g, f"/events/{event_id}") == expected_event
        assert {k: (v[0], v[3]) for k, v in attachments(g, task_path).items()} == \
            {k: (v[0], v[3]) for k, v in expected_task.items()}
        assert g.get(task_path).json()["hasAttachments"] is True
    # a crash after the writes: the same records again, in flight, find the items and add no attachment twice
    again = Sink()
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(
        records(), ctx([], inflight=frozenset(key.values())), sink_of(again))
    assert {k: v[0].ref for k, v in again.placed.items()} == {k: v[0].ref for k, v in s.placed.items()}
    with rig.seeding(emu, ALICE) as g:
        assert sorted(attachments(g, f"/events/{event_id}")) == sorted(expected_event)
        assert sorted(attachments(g, task_path)) == sorted(expected_task)
        ids = [(f"/events/{event_id}", a["id"]) for a in g.get(f"/events/{event_id}/attachments").json()["value"]]
        ids += [(task_path, a["id"]) for a in g.get(f"{task_path}/attachments").json()["value"]]
    # the Graph source reads the task's file back (its bytes from $value)
    [task] = [i for i in GraphSource(client(emu)).read("tasks", "m1") if isinstance(i, PimItem)]
    [vtodo] = icalendar.Calendar.from_ical(task.payload).walk("VTODO")
    attach = vtodo["ATTACH"]
    assert (attach.params["X-FILENAME"], attach.params["FMTTYPE"], base64.b64decode(attach.to_ical())) == \
        ("plan.txt", "text/plain", PLAN)
    undo = GraphUndo(client(emu))
    removed = list(undo.remove([u for u in s.undo if u.kind == "item"], 100))
    assert sum(r.removed for r in removed) == 3 and not any(r.kept for r in removed)
    with rig.seeding(emu, ALICE) as g:
        assert g.get("/calendar/events").json()["value"] == [] and g.get("/contacts").json()["value"] == []
        for parent, att in ids:
            assert g.get(f"{parent}/attachments/{att}").status_code == 404


def test_the_emulator_refuses_a_posted_file_of_3_mb_as_graph_does(emu: GraphEmulator) -> None:
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(records()[:2], ctx([]), sink_of(s := Sink()))
    event_id = s.placed[records()[0].key][0].ref.split(":")[1]
    _, lst, task_id = s.placed[records()[1].key][0].ref.split(":")
    body = {"name": "x.bin", "contentBytes": base64.b64encode(b"\x00" * (3 * 1024 * 1024)).decode()}
    with rig.seeding(emu, ALICE) as g:
        answer = g.post(f"/events/{event_id}/attachments", json={"@odata.type": "#microsoft.graph.fileAttachment",
                                                                 **body})
        assert answer.status_code == 413
        answer = g.post(f"/todo/lists/{lst}/tasks/{task_id}/attachments",
                        json={"@odata.type": "#microsoft.graph.taskFileAttachment", **body})
        assert answer.status_code == 413
        answer = g.post(f"/todo/lists/{lst}/tasks/{task_id}/attachments",
                        json={"@odata.type": "#microsoft.graph.fileAttachment", "name": "x.bin",
                              "contentBytes": "AAAA"})
        assert answer.status_code == 400  # a task takes its own attachment type only
        # Graph creates no attachment given in an event's create request; the emulator refuses it
        answer = g.post("/events", json={
            "subject": "x", "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"},
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a", "contentBytes": "AAAA"}]})
        assert answer.status_code == 400


def test_the_graph_source_reads_an_events_files_and_names_an_attached_item(emu: GraphEmulator) -> None:
    with rig.seeding(emu, ALICE) as g:  # the user's event and its attachments, made with plain HTTP
        made = rig.created(g.post("/events", json={
            "subject": "Review", "start": {"dateTime": "2026-05-04T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-05-04T10:00:00", "timeZone": "UTC"}}))
        for body in ({"name": "../Agenda.pdf", "contentType": "application/pdf", "isInline": False},
                     {"name": "logo.png", "contentType": "image/png", "isInline": True, "contentId": "logo@mail"}):
            data = PDF if body["contentType"] == "application/pdf" else PNG
            assert g.post(f"/events/{made['id']}/attachments", json={
                "@odata.type": "#microsoft.graph.fileAttachment", **body,
                "contentBytes": base64.b64encode(data).decode()}).status_code == 201
    [item] = list(GraphSource(client(emu)).read("calendars", "m1"))
    assert isinstance(item, PimItem) and item.lossy == []
    [vevent] = icalendar.Calendar.from_ical(item.payload).walk("VEVENT")
    got = {(a.params["X-FILENAME"], a.params["FMTTYPE"], a.params.get("X-MAILFERRY-CONTENT-ID"),
            a.params.get("X-MAILFERRY-INLINE"), base64.b64decode(a.to_ical())) for a in vevent["ATTACH"]}
    assert got == {("_Agenda.pdf", "application/pdf", None, None, PDF),
                   ("logo.png", "image/png", "logo@mail", "TRUE", PNG)}


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))


def test_a_contacts_photo_is_put_and_read_back(emu: GraphEmulator) -> None:
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace\r\nN:Hopper;Grace;;;\r\n"
            f"PHOTO;ENCODING=b;TYPE=JPEG:{base64.b64encode(JPEG).decode()}\r\nEND:VCARD\r\n")
    tiff = card.replace("FN:Grace", "FN:Tiff").replace("TYPE=JPEG", "TYPE=TIFF")
    recs = [PimRecord(pim_item("m1", "contacts", k, "vcard", k, text)) for k, text in (("g", card), ("t", tiff))]
    s = Sink()
    GraphItemTarget(GraphTarget(client(emu), "p1")).write(recs, ctx([]), sink_of(s))
    assert s.rejected == {} and len(s.placed) == 2
    grace, tiff_placed = (s.placed[r.key] for r in recs)
    assert grace[2] == "" and tiff_placed[2] == "the photo (image/tiff: Graph takes JPEG, PNG, GIF or BMP)"
    with rig.seeding(emu, ALICE) as g:
        answer = g.get(f"/contacts/{grace[0].ref.split(':')[1]}/photo/$value")
        assert (answer.status_code, answer.headers["content-type"], answer.content) == (200, "image/jpeg", JPEG)
        assert g.get(f"/contacts/{tiff_placed[0].ref.split(':')[1]}/photo/$value").status_code == 404
    # the Graph source reads it back into the card; a contact without a photo has none
    read = {i.name: i for i in GraphSource(client(emu)).read("contacts", "m1") if isinstance(i, PimItem)}
    assert f"PHOTO;ENCODING=b;TYPE=JPEG:{base64.b64encode(JPEG).decode()}" in \
        read["Grace"].payload.replace("\r\n ", "").split("\r\n")
    assert "PHOTO" not in read["Tiff"].payload
