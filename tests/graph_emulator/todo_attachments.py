"""Attachments of To Do tasks: add a taskFileAttachment, list, get, `$value`, delete.

Graph takes a file under 3 MB in one POST on a task's attachments and asks for an upload session above that
(learn.microsoft.com, "Create taskFileAttachment" and "Attach files to a To Do task"); the emulator does not do
those sessions for tasks and refuses a POSTed file of 3 MB or more, as a client must not send one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from . import query, todo
from .call import Answer, Call
from .errors import GraphError, bad_request, not_found
from .ids import new_id
from .routing import Route
from .store import Attachment, Entry

MAX_POST = 3 * 1024 * 1024  # a file this size or larger goes through an upload session
KIND = "taskFileAttachment"


def _render(att: Attachment, with_content: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{KIND}", "id": att.id, **att.props}
    if with_content:
        obj["contentBytes"] = base64.b64encode(att.content).decode()
    return obj


def _find(entry: Entry, att_id: str) -> Attachment:
    for a in entry.attachments:
        if a.id == att_id:
            return a
    raise not_found()


def create(call: Call, p: dict[str, str]) -> Answer:
    entry = todo.task_of(call, p)
    body = call.json()
    kind = call.emulator.validator.check_request("attachmentBase", body)
    if kind != KIND:
        raise bad_request(f"A To Do task takes a {KIND}, not '{kind}'.", "invalidRequest")
    raw, name = body.get("contentBytes"), body.get("name")
    if not isinstance(raw, str) or not isinstance(name, str) or not name:
        raise bad_request("The properties 'name' and 'contentBytes' are required.", "invalidRequest")
    try:
        content = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("contentBytes is not base64.", "invalidRequest") from None
    if len(content) >= MAX_POST:
        raise GraphError(413, "RequestEntityTooLarge", f"A task attachment of {len(content)} bytes must be "
                         "uploaded in an upload session (a POST takes under 3 MB).")
    now = call.emulator.clock.iso()
    att = Attachment(new_id(call.mailbox.key), KIND, {
        "name": name, "contentType": body.get("contentType") or "application/octet-stream", "size": len(content),
        "lastModifiedDateTime": now}, content)
    entry.attachments.append(att)
    entry.props["hasAttachments"] = True
    entry.touch(now)
    return Answer(201, _render(att), entity_type=KIND)


def list_(call: Call, p: dict[str, str]) -> Answer:
    entry = todo.task_of(call, p)
    opts = query.parse(call.emulator.schema, KIND, call.query, frozenset({"$select", "$top", "$skip"}))
    items = [query.apply_select(_render(a, with_content=False), opts.select) for a in entry.attachments]
    return Answer(200, query.page(items, opts, 10, f"{call.user_path}/attachments", call.query),
                  entity_type="attachmentBase", collection=True)


def get(call: Call, p: dict[str, str]) -> Answer:
    return Answer(200, _render(_find(todo.task_of(call, p), p["attachment"])), entity_type=KIND)


def raw(call: Call, p: dict[str, str]) -> Answer:
    att = _find(todo.task_of(call, p), p["attachment"])
    return Answer(200, att.content, content_type=str(att.props.get("contentType") or "application/octet-stream"))


def delete(call: Call, p: dict[str, str]) -> Answer:
    entry = todo.task_of(call, p)
    entry.attachments.remove(_find(entry, p["attachment"]))
    entry.props["hasAttachments"] = bool(entry.attachments)
    entry.touch(call.emulator.clock.iso())
    return Answer(204)


_BASE = "todo/lists/{list}/tasks/{task}/attachments"
ROUTES = [
    Route("GET", _BASE, list_, "Tasks"),
    Route("POST", _BASE, create, "Tasks"),
    Route("GET", f"{_BASE}/{{attachment}}", get, "Tasks"),
    Route("GET", f"{_BASE}/{{attachment}}/$value", raw, "Tasks"),
    Route("DELETE", f"{_BASE}/{{attachment}}", delete, "Tasks"),
]
