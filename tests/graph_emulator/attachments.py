"""Attachments of messages and events: list, get, `$value`, add inline (small files), delete."""

from __future__ import annotations

import base64
from typing import Any

from . import query, render, resolve
from .call import Answer, Call
from .errors import GraphError, bad_request, not_found
from .ids import new_id
from .routing import Route
from .store import Attachment, Entry, Mailbox

MAX_POST = 3 * 1024 * 1024  # a file this size or larger goes through an upload session


def add(call: Call, entry: Entry, meta: dict[str, Any], content: bytes, odata_type: str = "fileAttachment") -> Attachment:
    return add_to(call.mailbox, call.emulator.clock.iso(), entry, meta, content, odata_type)


def add_to(mailbox: Mailbox, now: str, entry: Entry, meta: dict[str, Any], content: bytes,
           odata_type: str = "fileAttachment") -> Attachment:
    props = {
        "name": meta.get("name") or "attachment", "contentType": meta.get("contentType") or "application/octet-stream",
        "size": len(content), "isInline": bool(meta.get("isInline", False)),
        "lastModifiedDateTime": now,
    }
    if odata_type == "fileAttachment":
        props["contentId"] = meta.get("contentId")
        props["contentLocation"] = meta.get("contentLocation")
    att = Attachment(new_id(mailbox.key), odata_type, props, content)
    entry.attachments.append(att)
    return att


def add_from_json(call: Call, entry: Entry, body: dict[str, Any]) -> Attachment:
    kind = str(body.get("@odata.type", "")).removeprefix("#microsoft.graph.")
    if kind != "fileAttachment":
        raise bad_request(f"The Graph emulator stores only fileAttachment, not '{kind}'.", "ErrorInvalidRequest")
    if body.get("contentBytes") is None:
        raise bad_request("The property 'contentBytes' is required when creating a fileAttachment.",
                          "ErrorInvalidRequest")
    if not body.get("name"):
        raise bad_request("The property 'name' is required when creating an attachment.", "ErrorInvalidRequest")
    raw = body["contentBytes"]
    content = base64.b64decode(raw) if "-" not in raw and "_" not in raw else base64.urlsafe_b64decode(raw + "==")
    return add(call, entry, body, content)


def _parent(call: Call, p: dict[str, str]) -> Entry:
    if "event" in p:
        return resolve.entry(call, p["event"], "event")
    entry = resolve.entry(call, p["message"], "message")
    if "folder" in p:
        from . import mail_folders

        if entry.parent != mail_folders.folder(call, p["folder"]).id:
            raise not_found()
    return entry


def _find(entry: Entry, att_id: str) -> Attachment:
    for a in entry.attachments:
        if a.id == att_id:
            return a
    if not resolve.well_formed(att_id):
        raise resolve.malformed()
    raise not_found()


def list_(call: Call, p: dict[str, str]) -> Answer:
    entry = _parent(call, p)
    opts = query.parse(call.emulator.schema, "attachment", call.query, frozenset({"$select", "$top", "$skip"}))
    items = [query.apply_select(render.attachment(a), opts.select) for a in entry.attachments]
    return Answer(200, query.page(items, opts, 10, f"{call.user_path}/attachments", call.query),
                  entity_type="attachment", collection=True)


def get(call: Call, p: dict[str, str]) -> Answer:
    att = _find(_parent(call, p), p["attachment"])
    opts = query.parse(call.emulator.schema, "attachment", call.query, frozenset({"$select"}))
    return Answer(200, query.apply_select(render.attachment(att), opts.select), entity_type="attachment")


def raw(call: Call, p: dict[str, str]) -> Answer:
    att = _find(_parent(call, p), p["attachment"])
    return Answer(200, att.content, content_type=str(att.props.get("contentType") or "application/octet-stream"))


def create(call: Call, p: dict[str, str]) -> Answer:
    entry = _parent(call, p)
    body = call.json()
    call.emulator.validator.check_request("attachment", body)
    att = add_from_json(call, entry, body)
    if att.props["size"] >= MAX_POST:  # Graph: "limits the size of the attachment you can add to under 3 MB"
        entry.attachments.remove(att)
        raise GraphError(413, "RequestEntityTooLarge", f"An attachment of {att.props['size']} bytes must be uploaded "
                         "in an upload session (a POST takes under 3 MB).")
    entry.touch(call.emulator.clock.iso())
    return Answer(201, render.attachment(att), entity_type="attachment")


def delete(call: Call, p: dict[str, str]) -> Answer:
    entry = _parent(call, p)
    att = _find(entry, p["attachment"])
    entry.attachments.remove(att)
    entry.touch(call.emulator.clock.iso())
    return Answer(204)


def _routes(prefix: str, area: str) -> list[Route]:
    return [
        Route("GET", f"{prefix}/attachments", list_, area),
        Route("POST", f"{prefix}/attachments", create, area),
        Route("GET", f"{prefix}/attachments/{{attachment}}", get, area),
        Route("GET", f"{prefix}/attachments/{{attachment}}/$value", raw, area),
        Route("DELETE", f"{prefix}/attachments/{{attachment}}", delete, area),
    ]


ROUTES = [*_routes("messages/{message}", "Mail"), *_routes("mailFolders/{folder}/messages/{message}", "Mail"),
          *_routes("events/{event}", "Calendars")]
