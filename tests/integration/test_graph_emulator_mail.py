"""The Graph emulator's mail side over real HTTP (httpx): folders, messages, strictness, drafts, MAPI
properties at creation, paging, moves, attachments, upload sessions and delta. Expected values are written
here from Microsoft's documentation, not taken from the emulator."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.graph_emulator import GraphEmulator, ManualClock
from tests.graph_emulator.testing import app_token, graph, graph_error, http

pytestmark = pytest.mark.integration

ALICE = "alice@example.test"
SECRET = "app-secret-value"
FLAGS = "Integer 0x0E07"
DELIVERY = "SystemTime 0x0E06"
SUBMIT = "SystemTime 0x0039"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_780_000_000.0)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[GraphEmulator]:
    with GraphEmulator(clock=clock) as e:
        e.add_user(ALICE)
        yield e


@pytest.fixture
def g(emu: GraphEmulator) -> Iterator[httpx.Client]:
    app = emu.register_app(secret=SECRET)
    with graph(emu, app_token(emu, app.client_id, SECRET), ALICE) as c:
        yield c




def _new(g: httpx.Client, folder: str = "inbox", **body: Any) -> dict[str, Any]:
    r = g.post(f"/mailFolders/{folder}/messages", json={"subject": "s", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


# -- folders ------------------------------------------------------------------------------------------
def test_well_known_folders_children_and_conflicts(g: httpx.Client) -> None:
    inbox = g.get("/mailFolders/inbox").json()
    assert inbox["displayName"] == "Inbox"
    names = {f["displayName"] for f in g.get("/mailFolders").json()["value"]}
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive"} <= names
    r = g.post("/mailFolders/inbox/childFolders", json={"displayName": "Projekte \u2013 \u00c4rger"})
    assert r.status_code == 201
    child = r.json()
    assert child["parentFolderId"] == inbox["id"]
    graph_error(g.post("/mailFolders/inbox/childFolders", json={"displayName": "PROJEKTE \u2013 \u00e4rger"}), 409,
           "ErrorFolderExists")
    grandchild = g.post(f"/mailFolders/{child['id']}/childFolders", json={"displayName": "2024"}).json()
    nested = g.get(f"/mailFolders/inbox/childFolders/{child['id']}/childFolders/{grandchild['id']}/messages")
    assert nested.status_code == 200 and nested.json()["value"] == []
    assert g.get(f"/mailFolders/{child['id']}").json()["childFolderCount"] == 1
    graph_error(g.delete("/mailFolders/inbox"), 400, "ErrorDeleteDistinguishedFolder")
    graph_error(g.get("/mailFolders/not-a-folder"), 400, "ErrorInvalidIdMalformed")
    assert g.delete(f"/mailFolders/{child['id']}").status_code == 204
    graph_error(g.get(f"/mailFolders/{grandchild['id']}"), 404, "ErrorItemNotFound")


def test_error_body_is_shaped_like_graphs(g: httpx.Client) -> None:
    r = g.get("/mailFolders/inbox/messages/AAMkAGI2AAA=", headers={"client-request-id": "my-request-1"})
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "innerError"}
    assert body["error"]["code"] == "ErrorItemNotFound"
    inner = body["error"]["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert inner["client-request-id"] == "my-request-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", inner["date"])
    assert graph_error(g.get("/mailFolders/inbox/nosuchthing"), 400, "BadRequest") == \
        "Resource not found for the segment 'nosuchthing'."


# -- strictness against the metadata ---------------------------------------------------------------
@pytest.mark.parametrize(("body", "message"), [
    ({"subjekt": "x"}, "The property 'subjekt' does not exist on type 'microsoft.graph.message'. Make sure to only "
                       "use property names that are defined by the type or mark the type as open type."),
    ({"isRead": "yes"}, "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'."),
    ({"importance": "urgent"}, "Requested value 'urgent' was not found."),
    ({"flag": {"flagStatus": "flagged", "colour": "red"}}, "The property 'colour' does not exist on type "
                                                           "'microsoft.graph.followupFlag'. Make sure to only use "
                                                           "property names that are defined by the type or mark the "
                                                           "type as open type."),
    ({"flag": {"flagStatus": "maybe"}}, "Requested value 'maybe' was not found."),
    ({"toRecipients": {"emailAddress": {"address": "a@b.test"}}},
     "An unexpected 'StartObject' node was found when reading from the JSON reader. A 'StartArray' node was "
     "expected."),
    ({"subject": ["a"]}, "An unexpected 'StartArray' node was found when reading from the JSON reader. A "
                         "'PrimitiveValue' node was expected."),
    ({"categories": None}, "A null value was found for the property named 'categories', which has the expected type "
                           "'Collection(Edm.String)[Nullable=False]'. The expected type "
                           "'Collection(Edm.String)[Nullable=False]' does not allow null values."),
    ({"sentDateTime": "2024-01-01 10:00"}, "Cannot convert the literal '2024-01-01 10:00' to the expected type "
                                           "'Edm.DateTimeOffset'."),
])
def test_bodies_graph_refuses_are_refused_and_nothing_is_created(g: httpx.Client, body: dict[str, Any],
                                                                 message: str) -> None:
    r = g.post("/mailFolders/inbox/messages", json=body)
    assert graph_error(r, 400, "RequestBodyRead") == message
    assert g.get("/mailFolders/inbox/messages").json()["value"] == []


def test_odata_type_must_name_the_type_or_a_derived_one(g: httpx.Client) -> None:
    graph_error(g.post("/messages", json={"@odata.type": "#microsoft.graph.event", "subject": "x"}), 400,
           "RequestBodyRead")
    ok = g.post("/messages", json={"@odata.type": "#microsoft.graph.message", "subject": "x",
                                   "toRecipients": [{"@odata.type": "#microsoft.graph.attendee",
                                                     "emailAddress": {"address": "a@b.test"}}]})
    assert ok.status_code == 201
    msg = g.get(f"/messages/{ok.json()['id']}").json()
    graph_error(g.post(f"/messages/{msg['id']}/attachments", json={"name": "a.txt", "contentBytes": "YQ=="}), 400,
           "RequestBodyRead")  # attachment is abstract: the body must say which kind


def test_json_content_type_and_syntax_are_required(g: httpx.Client) -> None:
    msg = ("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid "
           "JSON format.")
    assert graph_error(g.post("/mailFolders", content=b'{"displayName": "x"', headers={"Content-Type": "application/json"}),
                  400, "BadRequest") == msg
    assert graph_error(g.post("/mailFolders", content=b'{"displayName": "x"}',
                         headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "BadRequest") == msg


# -- drafts, MIME and the MAPI properties honoured only at creation ----------------------------------
def test_a_json_message_without_flags_is_a_draft(g: httpx.Client) -> None:
    msg = _new(g, isDraft=False, receivedDateTime="2001-01-01T00:00:00Z")  # read-only: ignored, as Graph does
    assert msg["isDraft"] is True
    assert msg["receivedDateTime"] != "2001-01-01T00:00:00Z"


@pytest.mark.parametrize(("flags", "draft", "read"), [("1", False, True), ("0", False, False), ("9", True, True),
                                                      ("8", True, False)])
def test_message_flags_at_creation_decide_draft_and_read(g: httpx.Client, flags: str, draft: bool,
                                                         read: bool) -> None:
    msg = _new(g, singleValueExtendedProperties=[{"id": FLAGS, "value": flags}])
    assert (msg["isDraft"], msg["isRead"]) == (draft, read)


def test_delivery_and_submit_times_at_creation(g: httpx.Client) -> None:
    msg = _new(g, singleValueExtendedProperties=[
        {"id": FLAGS, "value": "1"}, {"id": DELIVERY, "value": "2019-03-04T05:06:07Z"},
        {"id": SUBMIT, "value": "2019-03-04T05:00:00+01:00"}])
    assert msg["receivedDateTime"] == "2019-03-04T05:06:07Z"
    assert msg["sentDateTime"] == "2019-03-04T04:00:00Z"
    got = g.get(f"/messages/{msg['id']}", params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{FLAGS}' or id eq '{DELIVERY}')"}).json()
    assert {p["id"].lower(): p["value"] for p in got["singleValueExtendedProperties"]} == {
        "integer 0xe07": "1", "systemtime 0xe06": "2019-03-04T05:06:07Z"}


def test_extended_flags_after_creation_change_nothing(g: httpx.Client) -> None:
    msg = _new(g)
    r = g.patch(f"/messages/{msg['id']}", json={"singleValueExtendedProperties": [
        {"id": FLAGS, "value": "1"}, {"id": DELIVERY, "value": "2019-03-04T05:06:07Z"}]})
    assert r.status_code == 200
    again = g.get(f"/messages/{msg['id']}").json()
    assert again["isDraft"] is True
    assert again["receivedDateTime"] == msg["receivedDateTime"]


def test_bad_extended_property_values_are_refused(g: httpx.Client) -> None:
    graph_error(g.post("/messages", json={"singleValueExtendedProperties": [{"id": FLAGS, "value": "one"}]}), 400,
           "ErrorInvalidExtendedPropertyValue")
    graph_error(g.post("/messages", json={"singleValueExtendedProperties": [{"id": "Integer 0xZZ", "value": "1"}]}), 400,
           "ErrorInvalidProperty")


def test_updates_after_creation(g: httpx.Client) -> None:
    msg = _new(g, singleValueExtendedProperties=[{"id": FLAGS, "value": "0"}])
    r = g.patch(f"/messages/{msg['id']}", json={"isRead": True, "categories": ["Rot", "Blau"],
                                                "flag": {"flagStatus": "flagged"}})
    assert r.status_code == 200
    got = r.json()
    assert (got["isRead"], got["categories"], got["flag"]["flagStatus"]) == (True, ["Rot", "Blau"], "flagged")
    assert got["changeKey"] != msg["changeKey"]
    assert graph_error(g.patch(f"/messages/{msg['id']}", json={"subject": "new"}), 400, "ErrorInvalidPropertySet") == \
        "Message is not draft."
    draft = _new(g)
    assert g.patch(f"/messages/{draft['id']}", json={"subject": "new"}).json()["subject"] == "new"


MIME = (b"From: Ann Example <ann@example.org>\r\nTo: bob@example.net\r\nCc: Carl <carl@example.net>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Tue, 02 Jan 2024 10:11:12 +0100\r\n"
        b"Message-ID: <abc.123@example.org>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"hello\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n")


def test_mime_post_makes_a_draft_and_value_gives_the_mime(g: httpx.Client) -> None:
    r = g.post("/mailFolders/inbox/messages", content=base64.b64encode(MIME), headers={"Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    msg = r.json()
    assert msg["isDraft"] is True
    assert msg["subject"] == "Grüße"
    assert msg["from"]["emailAddress"] == {"name": "Ann Example", "address": "ann@example.org"}
    assert [x["emailAddress"]["address"] for x in msg["toRecipients"]] == ["bob@example.net"]
    assert msg["internetMessageId"] == "<abc.123@example.org>"
    assert msg["sentDateTime"] == "2024-01-02T09:11:12Z"
    assert msg["hasAttachments"] is True
    atts = g.get(f"/messages/{msg['id']}/attachments").json()["value"]
    assert [(a["name"], a["contentType"], base64.b64decode(a["contentBytes"])) for a in atts] == [
        ("r.pdf", "application/pdf", b"%PDF-1.4\n")]
    value = g.get(f"/messages/{msg['id']}/$value")
    assert value.status_code == 200 and value.content == MIME
    graph_error(g.post("/messages", content=b"not base64 at all!", headers={"Content-Type": "text/plain"}), 400,
           "ErrorMimeContentInvalidBase64String")
    assert g.post("/messages", content=MIME, headers={"Content-Type": "text/html"}).status_code == 415


def test_value_of_a_json_message_is_mime(g: httpx.Client) -> None:
    msg = _new(g, subject="Hallo", body={"contentType": "text", "content": "Inhalt"},
               toRecipients=[{"emailAddress": {"address": "x@example.net"}}])
    raw = g.get(f"/messages/{msg['id']}/$value").content
    assert b"Subject: Hallo" in raw and b"To: x@example.net" in raw and b"Inhalt" in raw


# -- listing -------------------------------------------------------------------------------------------
def test_paging_select_and_limits(g: httpx.Client, emu: GraphEmulator) -> None:
    made = {_new(g, subject=f"m{i}")["id"] for i in range(25)}
    seen: list[str] = []
    url: str | None = "/mailFolders/inbox/messages?$top=10&$select=subject"
    pages = 0
    while url:
        page = g.get(url).json()
        pages += 1
        for m in page["value"]:
            assert set(m) == {"@odata.etag", "id", "subject"}
        seen += [m["id"] for m in page["value"]]
        url = page.get("@odata.nextLink")
    assert pages == 3 and sorted(seen) == sorted(made)
    assert len(g.get("/mailFolders/inbox/messages").json()["value"]) == 10  # Graph's default page size
    assert graph_error(g.get("/mailFolders/inbox/messages", params={"$top": "1001"}), 400, "BadRequest") == \
        "The limit of '1000' for Top query has been exceeded. The value from the incoming request is '1001'."
    graph_error(g.get("/mailFolders/inbox/messages", params={"$select": "subject,nosuch"}), 400, "BadRequest")
    graph_error(g.get("/mailFolders/inbox/messages", params={"$filter": "isRead eq false"}), 400, "BadRequest")
    graph_error(g.get("/mailFolders/inbox/messages?$top=1&$top=2"), 400, "BadRequest")


def test_ids_are_opaque_and_a_move_changes_them(g: httpx.Client) -> None:
    a, b = _new(g), _new(g)
    for ident in (a["id"], b["id"]):
        assert len(ident) > 100 and re.fullmatch(r"[A-Za-z0-9_\-]+=*", ident)
    assert a["id"] != b["id"] and a["changeKey"] != b["changeKey"]
    archive = g.get("/mailFolders/archive").json()
    r = g.post(f"/messages/{a['id']}/move", json={"destinationId": "archive"})
    assert r.status_code == 201
    moved = r.json()
    assert moved["id"] != a["id"] and moved["parentFolderId"] == archive["id"]
    graph_error(g.get(f"/messages/{a['id']}"), 404, "ErrorItemNotFound")
    assert g.get(f"/mailFolders/archive/messages/{moved['id']}").status_code == 200
    graph_error(g.get(f"/mailFolders/inbox/messages/{moved['id']}"), 404, "ErrorItemNotFound")
    graph_error(g.post(f"/messages/{b['id']}/move", json={"destinationId": "archive", "extra": 1}), 400,
           "RequestBodyRead")


def test_immutable_ids_survive_a_move(g: httpx.Client) -> None:
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    msg = g.post("/messages", json={"subject": "keep"}, headers=prefer).json()
    moved = g.post(f"/messages/{msg['id']}/move", json={"destinationId": "inbox"}, headers=prefer).json()
    assert moved["id"] == msg["id"]
    assert g.get(f"/messages/{msg['id']}", headers=prefer).json()["subject"] == "keep"


def test_delete_and_if_match(g: httpx.Client) -> None:
    msg = _new(g)
    graph_error(g.delete(f"/messages/{msg['id']}", headers={"If-Match": 'W/"stale"'}), 412, "ErrorIrresolvableConflict")
    assert g.delete(f"/messages/{msg['id']}", headers={"If-Match": msg["@odata.etag"]}).status_code == 204
    graph_error(g.get(f"/messages/{msg['id']}"), 404, "ErrorItemNotFound")


# -- attachments -----------------------------------------------------------------------------------------
def test_small_attachments_inline(g: httpx.Client) -> None:
    msg = _new(g)
    content = bytes(range(256)) * 10
    r = g.post(f"/messages/{msg['id']}/attachments", json={
        "@odata.type": "#microsoft.graph.fileAttachment", "name": "data.bin", "contentType": "application/octet-stream",
        "contentBytes": base64.b64encode(content).decode()})
    assert r.status_code == 201
    att = r.json()
    assert att["size"] == 2560 and att["isInline"] is False
    assert g.get(f"/messages/{msg['id']}/attachments/{att['id']}/$value").content == content
    assert g.get(f"/messages/{msg['id']}").json()["hasAttachments"] is True
    graph_error(g.post(f"/messages/{msg['id']}/attachments", json={"@odata.type": "#microsoft.graph.itemAttachment",
                                                              "name": "x"}), 400, "ErrorInvalidRequest")
    big = base64.b64encode(b"x" * (3 * 1024 * 1024 + 200_000)).decode()
    r = g.post(f"/messages/{msg['id']}/attachments", json={"@odata.type": "#microsoft.graph.fileAttachment",
                                                           "name": "big.bin", "contentBytes": big})
    assert r.status_code == 413


def _session(g: httpx.Client, msg_id: str, size: int) -> dict[str, Any]:
    r = g.post(f"/messages/{msg_id}/attachments/createUploadSession", json={"AttachmentItem": {
        "attachmentType": "file", "name": "big.bin", "size": size, "contentType": "application/octet-stream"}})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_upload_session_of_a_10_mb_attachment(g: httpx.Client, emu: GraphEmulator) -> None:
    content = hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32)
    msg = _new(g)
    session = _session(g, msg["id"], len(content))
    assert session["nextExpectedRanges"] == ["0-"]
    url = session["uploadUrl"]
    chunk = 4 * 1024 * 1024
    with http(emu) as raw:
        too_big = raw.put(url, content=content[:chunk + 1],
                          headers={"Content-Range": f"bytes 0-{chunk}/{len(content)}"})
        assert too_big.status_code == 413
        with_auth = raw.put(url, content=content[:10], headers={"Content-Range": f"bytes 0-9/{len(content)}",
                                                                  "Authorization": g.headers["Authorization"]})
        assert with_auth.status_code == 401
        forged = raw.put(url.split("authtoken=")[0] + "authtoken=forged", content=content[:10],
                         headers={"Content-Range": f"bytes 0-9/{len(content)}"})
        assert forged.status_code == 401
        last = None
        for start in range(0, len(content), chunk):
            part = content[start:start + chunk]
            last = raw.put(url, content=part,
                           headers={"Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(content)}"})
            if start + chunk < len(content):
                assert last.status_code == 200, last.text
                assert last.json()["NextExpectedRanges"] == [str(start + len(part))]
                gap = raw.put(url, content=b"x", headers={"Content-Range": f"bytes 1-1/{len(content)}"})
                assert gap.status_code == 416
        assert last is not None
        assert last.status_code == 201, last.text
        att_id = re.search(r"Attachments\('([^']+)'\)", last.headers["Location"])
        assert att_id is not None
    data = g.get(f"/messages/{msg['id']}/attachments/{att_id.group(1)}/$value").content
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(content).hexdigest()
    assert g.get(f"/messages/{msg['id']}/attachments").json()["value"][0]["size"] == len(content)


def test_upload_session_expires(g: httpx.Client, emu: GraphEmulator, clock: ManualClock) -> None:
    msg = _new(g)
    session = _session(g, msg["id"], 5_000_000)
    clock.advance(emu.upload_session_lifetime + 1)
    with http(emu) as raw:
        r = raw.put(session["uploadUrl"], content=b"x" * 100, headers={"Content-Range": "bytes 0-99/5000000"})
    assert r.status_code == 404


# -- delta -----------------------------------------------------------------------------------------------
def _delta_round(g: httpx.Client, url: str, page_size: int = 2) -> tuple[list[dict[str, Any]], str, int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = g.get(url, headers={"Prefer": f"odata.maxpagesize={page_size}"}).json()
        pages += 1
        items += page["value"]
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"], pages
        url = page["@odata.nextLink"]


def test_delta_pages_changes_and_removals(g: httpx.Client) -> None:
    a, b, c = _new(g, subject="a"), _new(g, subject="b"), _new(g, subject="c")
    items, link, pages = _delta_round(g, "/mailFolders/inbox/messages/delta")
    assert pages == 2 and sorted(i["id"] for i in items) == sorted([a["id"], b["id"], c["id"]])
    assert "$deltatoken=" in link
    g.patch(f"/messages/{a['id']}", json={"isRead": False})
    g.delete(f"/messages/{b['id']}")
    moved = g.post(f"/messages/{c['id']}/move", json={"destinationId": "archive"}).json()
    d = _new(g, subject="d")
    items, link, _ = _delta_round(g, link)
    removed = {i["id"]: i["@removed"] for i in items if "@removed" in i}
    assert removed == {b["id"]: {"reason": "deleted"}, c["id"]: {"reason": "deleted"}}
    changed = {i["id"]: i for i in items if "@removed" not in i}
    assert set(changed) == {a["id"], d["id"]} and changed[a["id"]]["isRead"] is False
    items, _, _ = _delta_round(g, link)
    assert items == []
    archived, _, _ = _delta_round(g, "/mailFolders/archive/messages/delta")
    assert [i["id"] for i in archived] == [moved["id"]]
    assert g.get("/mailFolders/inbox/messages/delta?$deltatoken=forged").status_code == 410


def test_delta_select_and_refused_options(g: httpx.Client) -> None:
    _new(g, subject="x")
    page = g.get("/mailFolders/inbox/messages/delta", params={"$select": "subject,isRead"}).json()
    assert set(page["value"][0]) == {"@odata.etag", "id", "subject", "isRead"}
    graph_error(g.get("/mailFolders/inbox/messages/delta", params={"$orderby": "subject"}), 400, "BadRequest")


def test_folder_tree_delta(g: httpx.Client) -> None:
    first, link, _ = _delta_round(g, "/mailFolders/delta", page_size=50)
    names = {f["displayName"] for f in first}
    assert {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive"} <= names
    assert "Top of Information Store" not in names
    sub = g.post("/mailFolders/inbox/childFolders", json={"displayName": "Neu"}).json()
    items, link, _ = _delta_round(g, link)
    assert [(i["id"], i["displayName"]) for i in items] == [(sub["id"], "Neu")]
    g.delete(f"/mailFolders/{sub['id']}")
    items, _, _ = _delta_round(g, link)
    assert items == [{"@odata.type": "#microsoft.graph.mailFolder", "id": sub["id"], "@removed": {"reason": "deleted"}}]


def test_body_as_text_when_preferred(g: httpx.Client) -> None:
    msg = _new(g, body={"contentType": "html", "content": "<p>Hallo&nbsp;<b>Welt</b></p><p>zweite</p>"})
    plain = g.get(f"/messages/{msg['id']}", headers={"Prefer": 'outlook.body-content-type="text"'}).json()
    assert plain["body"] == {"contentType": "text", "content": "Hallo\xa0Welt\nzweite"}
    assert g.get(f"/messages/{msg['id']}").json()["body"]["contentType"] == "html"
