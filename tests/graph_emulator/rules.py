"""Inbox rules (`mailFolders/inbox/messageRules`): conditions, exceptions and actions typed by the model;
folder ids in actions must name existing folders; at least one action is needed."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from . import mail_folders, query, resolve
from .call import Answer, Call
from .errors import GraphError, bad_request, not_found
from .routing import Route
from .schema import load_schema
from .store import Entry

READ_ONLY = load_schema().read_only("messageRule")


def _inbox(call: Call, p: dict[str, str]) -> Entry:
    folder = mail_folders.folder(call, p["folder"])
    if folder.well_known != "inbox":
        raise bad_request("Message rules exist only on the Inbox folder.", "ErrorInvalidRequest")
    return folder


def _rule(call: Call, p: dict[str, str]) -> Entry:
    inbox = _inbox(call, p)
    entry = call.mailbox.entries.get(p["rule"])
    if entry is None or entry.kind != "messageRule" or entry.parent != inbox.id:
        raise not_found()
    return entry


def _render(entry: Entry) -> dict[str, Any]:
    return {"id": entry.id, **entry.props}


def _check(call: Call, props: dict[str, Any]) -> None:
    if not isinstance(props.get("displayName"), str) or not props["displayName"].strip():
        raise bad_request("The rule's displayName is required.", "ErrorInvalidRequest")
    if not isinstance(props.get("sequence"), int) or props["sequence"] < 1:
        raise bad_request("The rule's sequence is required and must be 1 or more.", "ErrorInvalidRequest")
    actions = props.get("actions")
    if not isinstance(actions, dict) or not any(v not in (None, False, []) for v in actions.values()):
        raise bad_request("A rule needs at least one action.", "ErrorInvalidRequest")
    for key in ("moveToFolder", "copyToFolder"):
        if actions.get(key) is not None:
            try:
                resolve.entry(call, str(actions[key]), "mailFolder")  # a folder id: names are not taken here
            except GraphError as e:
                raise bad_request(f"The folder '{actions[key]}' of action {key} does not exist.",
                                  "ErrorInvalidRequest") from e
    for key in ("conditions", "exceptions"):
        size = (props.get(key) or {}).get("withinSizeRange")
        if size and size.get("minimumSize", 0) > size.get("maximumSize", 2**31):
            raise bad_request("withinSizeRange.minimumSize is larger than maximumSize.", "ErrorInvalidRequest")


def list_rules(call: Call, p: dict[str, str]) -> Answer:
    inbox = _inbox(call, p)
    opts = query.parse(call.emulator.schema, "messageRule", call.query, frozenset({"$select", "$top", "$skip"}))
    rules = sorted(call.mailbox.children(inbox.id, "messageRule"), key=lambda r: r.props["sequence"])
    items = [query.apply_select(_render(r), opts.select) for r in rules]
    return Answer(200, query.page(items, opts, 100, f"{call.user_path}/mailFolders/inbox/messageRules", call.query),
                  entity_type="messageRule", collection=True)


def get_rule(call: Call, p: dict[str, str]) -> Answer:
    return Answer(200, _render(_rule(call, p)), entity_type="messageRule")


def create_rule(call: Call, p: dict[str, str]) -> Answer:
    inbox = _inbox(call, p)
    body = call.json()
    call.emulator.validator.check_request("messageRule", body)
    props: dict[str, Any] = {"isEnabled": True, "hasError": False, "isReadOnly": False}
    props.update({k: v for k, v in body.items() if k not in READ_ONLY and "@" not in k})
    _check(call, props)
    entry = call.mailbox.new_entry("messageRule", inbox.id, props)
    # rule ids are short in Exchange (a base64 rule number), unlike item ids
    call.mailbox.entries.pop(entry.id)
    entry.id = base64.b64encode(b"\x01\x00\x00\x00" + secrets.token_bytes(4)).decode()
    call.mailbox.entries[entry.id] = entry
    call.mailbox.immutable[entry.immutable_id] = entry.id
    return Answer(201, _render(entry), entity_type="messageRule")


def update_rule(call: Call, p: dict[str, str]) -> Answer:
    entry = _rule(call, p)
    body = call.json()
    call.emulator.validator.check_request("messageRule", body)
    merged = {**entry.props, **{k: v for k, v in body.items() if k not in READ_ONLY and "@" not in k}}
    _check(call, merged)
    entry.props = merged
    return Answer(200, _render(entry), entity_type="messageRule")


def delete_rule(call: Call, p: dict[str, str]) -> Answer:
    call.mailbox.remove(_rule(call, p))
    return Answer(204)


ROUTES = [
    Route("GET", "mailFolders/{folder}/messageRules", list_rules, "MailboxSettings"),
    Route("POST", "mailFolders/{folder}/messageRules", create_rule, "MailboxSettings"),
    Route("GET", "mailFolders/{folder}/messageRules/{rule}", get_rule, "MailboxSettings"),
    Route("PATCH", "mailFolders/{folder}/messageRules/{rule}", update_rule, "MailboxSettings"),
    Route("DELETE", "mailFolders/{folder}/messageRules/{rule}", delete_rule, "MailboxSettings"),
]
