"""From an HTTP request to a Graph answer: auth, mailbox, route, permission, throttle, handler, error body."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import routing
from .call import Answer, Call, split_keys
from .errors import GraphError, access_denied, bad_request, error_body, invalid_token, new_request_id
from .routing import Route
from .store import Mailbox

if TYPE_CHECKING:
    from .emulator import GraphEmulator

log = logging.getLogger(__name__)
OPERATION_NAMES = ("delta", "move", "copy", "createUploadSession", "permanentDelete", "instances")


@dataclass
class Prepared:
    call: Call
    route: Route
    params: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.call.principal.client_id, self.call.mailbox.upn)


def _segments(path: str) -> list[str]:
    out = []
    for raw in path.strip("/").split("/"):
        seg = unquote(raw)
        for prefix in ("microsoft.graph.",):
            if seg.startswith(prefix):
                seg = seg[len(prefix):]
        if seg.endswith("()") and seg[:-2] in OPERATION_NAMES:
            seg = seg[:-2]
        out.append(seg)
    return out


def prepare(emu: GraphEmulator, method: str, path: str, query: dict[str, str], headers: dict[str, str],
            body: bytes) -> Prepared:
    """Authenticate and route; raises GraphError for anything refused before the handler runs."""
    emu.faults.check(path)
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer":
        raise invalid_token("Access token is empty.")
    try:
        principal = emu.tenant.check_access_token(token.strip())
    except ValueError as e:
        raise invalid_token(str(e)) from e
    segs = _segments(path)
    if not segs or segs[0] != "v1.0":
        raise bad_request(f"Invalid version: {segs[0] if segs else ''}. The Graph emulator serves v1.0 only.")
    segs = split_keys(segs[1:])
    if segs[:1] == ["me"]:
        if principal.user is None:
            raise bad_request("/me request is only valid with delegated authentication flow.")
        mailbox, owner, rest = emu.mailboxes[principal.user], "me", segs[1:]
    elif segs[:1] == ["users"] and len(segs) >= 2:
        found = emu.find_mailbox(segs[1])
        if found is None:
            if len(segs) == 2:
                raise GraphError(404, "Request_ResourceNotFound", f"Resource '{segs[1]}' does not exist or one of "
                                                                  "its queried reference-property objects are not "
                                                                  "present.")
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{segs[1]}' is invalid.")
        mailbox, owner, rest = found, f"users/{segs[1]}", segs[2:]
    else:
        raise bad_request(f"Resource not found for the segment '{segs[0] if segs else ''}'.")
    if principal.user is not None and principal.user != mailbox.upn:
        raise access_denied()
    call = Call(emu, method, [], query, headers, body, principal, mailbox, emu.base_url + "/v1.0", owner)
    rest = routing.collapse_children(rest, lambda i: _parent_of(mailbox, i),
                                   lambda k: _resolve(mailbox, k))
    call.segments = rest
    route, params = routing.find(emu.routes, method, rest)
    if not routing.allowed(route.area, method, principal.permissions, principal.is_app):
        raise access_denied()
    return Prepared(call, route, params)


def _resolve(mailbox: Mailbox, key: str) -> str | None:
    entry = mailbox.get(key)
    return entry.id if entry is not None else mailbox.well_known.get(key.lower())


def _parent_of(mailbox: Mailbox, key: str) -> str | None:
    entry = mailbox.get(key)
    return entry.parent if entry is not None else None


def execute(emu: GraphEmulator, prepared: Prepared) -> Answer:
    emu.faults.maybe_hold(prepared.route.method, prepared.route.pattern)
    with emu.lock:
        answer = prepared.route.handler(prepared.call, prepared.params)
        emu.routes_served[f"{prepared.route.method} {prepared.route.pattern}"] += 1
    return answer


def serve(emu: GraphEmulator, method: str, path: str, query: dict[str, str], headers: dict[str, str],
          body: bytes) -> Answer:
    """One Graph request, start to end, as an Answer (errors included)."""
    try:
        if path.rstrip("/") == "/v1.0/$batch":
            from . import batch

            return batch.serve(emu, method, query, headers, body)
        prepared = prepare(emu, method, path, query, headers, body)
        upload = len(body) if method in ("POST", "PUT", "PATCH") else 0
        emu.throttle.enter(prepared.key, upload)
        try:
            answer = execute(emu, prepared)
        finally:
            emu.throttle.leave(prepared.key)
        emu.record(answer)
        return answer
    except GraphError as e:
        return error_answer(emu, e, headers)
    except Exception as e:  # an emulator bug: say so instead of pretending
        log.exception("Graph emulator failure")
        return error_answer(emu, GraphError(500, "EmulatorBug", f"{type(e).__name__}: {e}"), headers)


def error_answer(emu: GraphEmulator, err: GraphError, headers: dict[str, str]) -> Answer:
    emu.errors_answered[err.code] += 1
    client_id = next((v for k, v in headers.items() if k.lower() == "client-request-id"), None)
    body = json.loads(error_body(err, new_request_id(), client_id, emu.clock.now()))
    extra = dict(err.headers)
    if err.status == 401:
        extra["WWW-Authenticate"] = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                                     'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"')
    return Answer(err.status, body, extra, content_type="application/json")


def encode(answer: Answer) -> tuple[bytes, str]:
    if answer.body is None:
        return b"", ""
    if isinstance(answer.body, bytes | bytearray):
        return bytes(answer.body), answer.content_type
    return json.dumps(answer.body, ensure_ascii=False).encode("utf-8"), answer.content_type


