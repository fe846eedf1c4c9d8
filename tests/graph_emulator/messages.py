"""Messages: list, get, `$value`, create from JSON or from MIME (a draft), update, delete, move, copy.

What Exchange Online does and the emulator copies: a MIME POST always makes a draft; the MAPI properties
PR_MESSAGE_FLAGS (0x0E07), PR_MESSAGE_DELIVERY_TIME (0x0E06) and PR_CLIENT_SUBMIT_TIME (0x0039) count only
when sent with the creating POST; read-only properties in a body are ignored; a move gives a new id.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from . import attachments, extended, mail_folders, mime, query, render, resolve
from .call import Answer, Call
from .clock import iso_utc
from .errors import GraphError, bad_request
from .ids import new_guid, opaque_token
from .routing import Route
from .schema import load_schema
from .store import Entry

INLINE_CREATE = frozenset({"attachments", "singleValueExtendedProperties", "multiValueExtendedProperties"})
INLINE_UPDATE = frozenset({"singleValueExtendedProperties", "multiValueExtendedProperties"})
READ_ONLY = load_schema().read_only("message")
DRAFT_ONLY = frozenset({"bccRecipients", "body", "ccRecipients", "from", "importance", "internetMessageId",
                        "replyTo", "sender", "subject", "toRecipients", "internetMessageHeaders"})
_QUERY = frozenset({"$select", "$top", "$skip", "$expand"})


def message(call: Call, key: str, folder_key: str | None = None) -> Entry:
    entry = resolve.entry(call, key, "message")
    if folder_key is not None and entry.parent != mail_folders.folder(call, folder_key).id:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return entry


def _listing(call: Call, entries: list[Entry], link: str) -> Answer:
    entries = sorted(entries, key=lambda e: str(e.props.get("receivedDateTime", "")), reverse=True)
    return render.listing(call, "message", entries, link, allowed=_QUERY)


def list_all(call: Call, p: dict[str, str]) -> Answer:
    return _listing(call, call.mailbox.all_of("message"), f"{call.user_path}/messages")


def list_folder(call: Call, p: dict[str, str]) -> Answer:
    f = mail_folders.folder(call, p["folder"])
    return _listing(call, call.mailbox.children(f.id, "message"), f"{call.user_path}/mailFolders('{f.id}')/messages")


def get(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    opts = query.parse(call.emulator.schema, "message", call.query, frozenset({"$select", "$expand"}))
    return Answer(200, render.entity(call, entry, opts), entity_type="message")


def value(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    raw = entry.mime
    if raw is None:
        raw = mime.build(entry.props, [(a.props, a.content) for a in entry.attachments])
    return Answer(200, raw, content_type="text/plain")


def _defaults(call: Call, now: str) -> dict[str, Any]:
    return {
        "createdDateTime": now, "lastModifiedDateTime": now, "receivedDateTime": now, "sentDateTime": now,
        "categories": [], "subject": "", "importance": "normal", "inferenceClassification": "focused",
        "isRead": True, "isDraft": True, "isReadReceiptRequested": False, "isDeliveryReceiptRequested": False,
        "body": {"contentType": "text", "content": ""}, "toRecipients": [], "ccRecipients": [],
        "bccRecipients": [], "replyTo": [], "flag": {"flagStatus": "notFlagged"},
        "conversationId": "AAQkA" + opaque_token(40), "conversationIndex": base64.b64encode(b"\x01" * 22).decode(),
        "internetMessageId": f"<{new_guid().replace('-', '')}@emulator.prod.outlook.com>",
        "webLink": "https://outlook.office365.com/owa/?ItemID=" + opaque_token(24),
    }


def _check_headers(props: dict[str, Any]) -> None:
    for h in props.get("internetMessageHeaders") or []:
        name = str(h.get("name") or "")
        if not name.lower().startswith("x-"):
            raise bad_request(f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                              "InvalidInternetMessageHeader")


def _apply_creation_properties(props: dict[str, Any], ext: dict[str, str], explicit_read: bool) -> None:
    """Exchange reads these MAPI properties at creation only (MS-OXCMSG: the flags are read-only after the
    first save)."""
    if extended.PR_MESSAGE_FLAGS in ext:
        flags = int(ext[extended.PR_MESSAGE_FLAGS])
        props["isDraft"] = bool(flags & extended.MSGFLAG_UNSENT)
        if not explicit_read:
            props["isRead"] = bool(flags & extended.MSGFLAG_READ)
    for pid, target in ((extended.PR_MESSAGE_DELIVERY_TIME, "receivedDateTime"),
                        (extended.PR_CLIENT_SUBMIT_TIME, "sentDateTime")):
        if pid in ext:
            when = datetime.fromisoformat(ext[pid].replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            props[target] = iso_utc(when.timestamp())


def _create_json(call: Call, folder: Entry) -> Entry:
    body = call.json()
    call.emulator.validator.check_request("message", body, INLINE_CREATE)
    _check_headers(body)
    now = call.emulator.clock.iso()
    props = _defaults(call, now)
    props.update({k: v for k, v in body.items() if k not in READ_ONLY and k not in INLINE_CREATE and "@" not in k})
    ext = extended.parse_list(body.get("singleValueExtendedProperties") or [])
    _apply_creation_properties(props, ext, explicit_read="isRead" in body)
    props["bodyPreview"] = mime.preview(props["body"])
    entry = call.mailbox.new_entry("message", folder.id, props)
    entry.extended = ext
    entry.multi_extended = {extended.normalize_id(str(m["id"])): list(m.get("value") or [])
                            for m in body.get("multiValueExtendedProperties") or []}
    for att in body.get("attachments") or []:
        attachments.add_from_json(call, entry, att)
    return entry


def _create_mime(call: Call, folder: Entry) -> Entry:
    if len(call.body) > 4 * 1024 * 1024:
        raise GraphError(413, "RequestEntityTooLarge", "The MIME content exceeds the maximum request size of 4 MB.")
    try:
        raw = base64.b64decode(call.body.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise bad_request("Invalid base64 string for MIME content.", "ErrorMimeContentInvalidBase64String") from e
    try:
        parsed, parts = mime.parse(raw)
    except ValueError as e:
        raise bad_request("The MIME content could not be converted to a message.",
                          "ErrorMimeContentConversionFailed") from e
    now = call.emulator.clock.iso()
    props = _defaults(call, now)
    props.update(parsed)
    props["isDraft"] = True  # whatever the MIME says: a message created from MIME is a draft
    props["bodyPreview"] = mime.preview(props["body"])
    entry = call.mailbox.new_entry("message", folder.id, props)
    entry.mime = raw
    for meta, content in parts:
        attachments.add(call, entry, meta, content)
    return entry


def create(call: Call, p: dict[str, str]) -> Answer:
    """POST to a folder's messages; POST /messages creates in Drafts."""
    folder = mail_folders.folder(call, p.get("folder", "drafts"))
    ctype = call.content_type()
    if ctype == "text/plain":
        entry = _create_mime(call, folder)
    elif ctype == "application/json":
        entry = _create_json(call, folder)
    else:
        raise GraphError(415, "UnsupportedMediaType", f"Content-Type '{ctype}' is not supported: send JSON, or "
                                                      "base64 MIME as text/plain.")
    return Answer(201, render.entity(call, entry), entity_type="message")


def update(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    _check_etag(call, entry)
    body = call.json()
    call.emulator.validator.check_request("message", body, INLINE_UPDATE)
    writable = {k: v for k, v in body.items() if k not in READ_ONLY and k not in INLINE_UPDATE and "@" not in k}
    if not entry.props.get("isDraft"):
        for key in writable:
            if key in DRAFT_ONLY:
                raise bad_request("Message is not draft.", "ErrorInvalidPropertySet")
    _check_headers(writable)
    entry.props.update(writable)
    if "body" in writable:
        entry.props["bodyPreview"] = mime.preview(entry.props["body"])
    for pid, val in extended.parse_list(body.get("singleValueExtendedProperties") or []).items():
        if pid not in extended.CREATION_ONLY:  # read-only once the item exists: accepted and not applied
            entry.extended[pid] = val
    entry.touch(call.emulator.clock.iso())
    return Answer(200, render.entity(call, entry), entity_type="message")


def _check_etag(call: Call, entry: Entry) -> None:
    wanted = next((v for k, v in call.headers.items() if k.lower() == "if-match"), None)
    if wanted is not None and wanted.strip() not in ("*", f'W/"{entry.change_key}"', entry.change_key):
        raise GraphError(412, "ErrorIrresolvableConflict", "The send or update operation could not be performed "
                                                           "because the change key passed in the request does not "
                                                           "match the current change key for the item.")


def delete(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    _check_etag(call, entry)
    call.mailbox.remove(entry)
    return Answer(204)


def move(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    params = mail_folders.operation_params(call, "move", "message")
    dest = mail_folders.folder(call, str(params["DestinationId"]))
    entry.parent = dest.id
    call.mailbox.rekey(entry)
    entry.touch(call.emulator.clock.iso())
    return Answer(201, render.entity(call, entry), entity_type="message")


def copy(call: Call, p: dict[str, str]) -> Answer:
    entry = message(call, p["message"], p.get("folder"))
    params = mail_folders.operation_params(call, "copy", "message")
    dest = mail_folders.folder(call, str(params["DestinationId"]))
    clone = call.mailbox.new_entry("message", dest.id, dict(entry.props))
    clone.extended, clone.mime = dict(entry.extended), entry.mime
    for a in entry.attachments:
        attachments.add(call, clone, dict(a.props), a.content, a.odata_type)
    return Answer(201, render.entity(call, clone), entity_type="message")


def _both(method: str, tail: str, handler: Any) -> list[Route]:
    return [Route(method, f"messages/{{message}}{tail}", handler, "Mail"),
            Route(method, f"mailFolders/{{folder}}/messages/{{message}}{tail}", handler, "Mail")]


ROUTES = [
    Route("GET", "messages", list_all, "Mail"),
    Route("POST", "messages", create, "Mail"),
    Route("GET", "mailFolders/{folder}/messages", list_folder, "Mail"),
    Route("POST", "mailFolders/{folder}/messages", create, "Mail"),
    *_both("GET", "", get),
    *_both("PATCH", "", update),
    *_both("DELETE", "", delete),
    *_both("GET", "/$value", value),
    *_both("POST", "/move", move),
    *_both("POST", "/copy", copy),
]


def delta_folder(call: Call, p: dict[str, str]) -> Answer:
    from . import delta

    f = mail_folders.folder(call, p["folder"])
    delta.params(call)
    current = render.delta_items(call, call.mailbox.children(f.id, "message"))
    return delta.answer(call, ("messages", f.id), current, f"{call.user_path}/mailFolders('{f.id}')/messages/delta",
                        "message")


DELTA_ROUTES = [Route("GET", "mailFolders/{folder}/messages/delta", delta_folder, "Mail")]
