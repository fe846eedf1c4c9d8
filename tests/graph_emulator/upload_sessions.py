"""Upload sessions for large attachments: createUploadSession, then PUTs of byte ranges to a pre-authenticated
URL shaped like Outlook's (`/api/v2.0/Users('..')/Messages('..')/AttachmentSessions('..')?authtoken=..`)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import attachments, mail_folders, resolve
from .call import Answer, Call
from .errors import GraphError, bad_request
from .ids import opaque_token
from .routing import Route

if TYPE_CHECKING:
    from .emulator import GraphEmulator

MAX_CHUNK = 4 * 1024 * 1024  # bytes in one PUT
MAX_SIZE = 150 * 1024 * 1024  # largest attachment an upload session takes
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_PATH = re.compile(r"^/api/v2\.0/Users\('([^']+)'\)/(Messages|Events)\('([^']+)'\)/AttachmentSessions\('([^']+)'\)$")


@dataclass
class UploadSession:
    id: str
    token: str
    app: str
    upn: str
    item_id: str
    meta: dict[str, Any]
    size: int
    expires: float
    data: bytearray = field(default_factory=bytearray)


def create(call: Call, p: dict[str, str]) -> Answer:
    kind = "event" if "event" in p else "message"
    item = resolve.entry(call, p[kind], kind)
    if "folder" in p and item.parent != mail_folders.folder(call, p["folder"]).id:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    op = call.emulator.schema.operation("createUploadSession", "attachment", True)
    assert op is not None
    params = call.emulator.validator.check_parameters(op.parameters, call.json())
    meta = dict(params["AttachmentItem"])
    if meta.get("attachmentType") not in (None, "file"):
        raise bad_request("Only attachmentType 'file' can be uploaded in a session.", "ErrorInvalidRequest")
    if not meta.get("name"):
        raise bad_request("AttachmentItem.name is required.", "ErrorInvalidRequest")
    size = meta.get("size")
    if not isinstance(size, int) or size <= 0:
        raise bad_request("AttachmentItem.size must be a positive number of bytes.", "ErrorInvalidRequest")
    if size > MAX_SIZE:
        raise GraphError(413, "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize",
                         f"The attachment size {size} exceeds the maximum of {MAX_SIZE} bytes.")
    emu = call.emulator
    session = UploadSession(opaque_token(24), opaque_token(64), call.principal.client_id, call.mailbox.upn, item.id,
                            meta, size, emu.clock.now() + emu.upload_session_lifetime)
    emu.upload_sessions[session.id] = session
    coll = "Events" if kind == "event" else "Messages"
    url = (f"{emu.base_url}/api/v2.0/Users('{call.mailbox.user_id}@{emu.tenant.tenant_id}')/{coll}('{item.id}')"
           f"/AttachmentSessions('{session.id}')?authtoken={session.token}")
    body = {"@odata.context": f"{call.base}/$metadata#microsoft.graph.uploadSession", "uploadUrl": url,
            "expirationDateTime": emu.clock.iso(emu.upload_session_lifetime), "nextExpectedRanges": ["0-"]}
    return Answer(201, body, entity_type="uploadSession")


def _outlook_error(status: int, code: str, message: str) -> GraphError:
    return GraphError(status, code, message)


def put(emu: GraphEmulator, method: str, path: str, query: dict[str, str], headers: dict[str, str],
        body: bytes) -> Answer:
    """A PUT (or DELETE, to cancel) on an upload URL; no bearer token: the URL carries its own."""
    m = _PATH.match(path)
    session = emu.upload_sessions.get(m.group(4)) if m else None
    if m is None or session is None or session.item_id != m.group(3):
        raise _outlook_error(404, "ErrorItemNotFound", "The upload session was not found.")
    if not hmac.compare_digest(query.get("authtoken", ""), session.token):
        raise _outlook_error(401, "InvalidAuthenticationToken", "The authtoken of the upload URL is not valid.")
    if "authorization" in {k.lower() for k in headers}:
        raise _outlook_error(401, "InvalidAuthenticationToken", "An upload URL is pre-authenticated: the request "
                                                                "must not carry an Authorization header.")
    if emu.clock.now() > session.expires:
        del emu.upload_sessions[session.id]
        raise _outlook_error(404, "ErrorItemNotFound", "The upload session has expired.")
    if method == "DELETE":
        del emu.upload_sessions[session.id]
        return Answer(204)
    key = (session.app, session.upn)
    emu.throttle.enter(key, len(body))
    try:
        with emu.lock:  # one range at a time per emulator: two PUTs racing on one session cannot interleave bytes
            return _put_range(emu, session, headers, body)
    finally:
        emu.throttle.leave(key)


def _put_range(emu: GraphEmulator, session: UploadSession, headers: dict[str, str], body: bytes) -> Answer:
    rng = next((v for k, v in headers.items() if k.lower() == "content-range"), "")
    rm = _RANGE.match(rng.strip())
    if rm is None:
        raise bad_request("The Content-Range header is missing or not 'bytes START-END/TOTAL'.", "InvalidContentRange")
    start, end, total = (int(g) for g in rm.groups())
    if total != session.size:
        raise bad_request(f"The total size {total} in Content-Range differs from the session's {session.size}.",
                          "InvalidContentRange")
    if end < start or end >= total or end - start + 1 != len(body):
        raise bad_request("The Content-Range does not match the bytes sent.", "InvalidContentRange")
    if len(body) > MAX_CHUNK:
        raise GraphError(413, "RequestEntityTooLarge", f"A range of {len(body)} bytes exceeds the maximum of "
                                                       f"{MAX_CHUNK} bytes per request.")
    if start != len(session.data):
        raise GraphError(416, "InvalidRange", f"The range starts at {start}; the next expected byte is "
                                              f"{len(session.data)}.")
    session.data.extend(body)
    if len(session.data) < session.size:
        return Answer(200, {"ExpirationDateTime": emu.clock.iso(session.expires - emu.clock.now()),
                            "NextExpectedRanges": [str(len(session.data))]})
    del emu.upload_sessions[session.id]
    mailbox = emu.mailboxes[session.upn]
    item = mailbox.get(session.item_id)
    if item is None:
        raise _outlook_error(404, "ErrorItemNotFound", "The item of the upload session no longer exists.")
    with emu.lock:
        att = attachments.add_to(mailbox, emu.clock.iso(), item, session.meta, bytes(session.data))
    kind = "Events" if item.kind == "event" else "Messages"
    location = f"{emu.base_url}/api/v2.0/Users('{mailbox.user_id}')/{kind}('{item.id}')/Attachments('{att.id}')"
    return Answer(201, None, headers={"Location": location})


ROUTES = [
    Route("POST", "messages/{message}/attachments/createUploadSession", create, "Mail"),
    Route("POST", "mailFolders/{folder}/messages/{message}/attachments/createUploadSession", create, "Mail"),
    Route("POST", "events/{event}/attachments/createUploadSession", create, "Calendars"),
]
