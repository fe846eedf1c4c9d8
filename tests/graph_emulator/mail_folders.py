"""mailFolders: the well-known folders, childFolders, create, rename, move, delete (409 on a name taken)."""

from __future__ import annotations

from typing import Any

from . import folder_tree, query, render, resolve
from .call import Answer, Call
from .errors import GraphError, bad_request
from .routing import Route
from .store import Entry

_INLINE: frozenset[str] = frozenset()


def folder(call: Call, key: str) -> Entry:
    return resolve.entry(call, key, "mailFolder", well_known=True)


def list_children(call: Call, p: dict[str, str]) -> Answer:
    """Children of a folder; without one, of the root (what GET /mailFolders lists)."""
    parent = folder(call, p.get("folder", "msgfolderroot"))
    include_hidden = call.query.get("includeHiddenFolders", "").lower() == "true"
    folders = [f for f in call.mailbox.children(parent.id, "mailFolder") if include_hidden or not f.props.get("isHidden")]
    return render.listing(call, "mailFolder", folders, f"{call.user_path}/mailFolders('{parent.id}')/childFolders")


def get(call: Call, p: dict[str, str]) -> Answer:
    opts = query.parse(call.emulator.schema, "mailFolder", call.query, frozenset({"$select"}))
    return Answer(200, render.entity(call, folder(call, p["folder"]), opts), entity_type="mailFolder")


def create_child(call: Call, p: dict[str, str]) -> Answer:
    parent = folder(call, p.get("folder", "msgfolderroot"))
    body = call.json()
    call.emulator.validator.check_request("mailFolder", body, _INLINE)
    name = folder_tree.display_name(body)
    assert name is not None
    folder_tree.ensure_free(call.mailbox.children(parent.id, "mailFolder"), name)
    entry = call.mailbox.new_entry("mailFolder", parent.id, {"displayName": name,
                                                             "isHidden": bool(body.get("isHidden", False))})
    return Answer(201, render.entity(call, entry), entity_type="mailFolder")


def update(call: Call, p: dict[str, str]) -> Answer:
    entry = folder(call, p["folder"])
    body = call.json()
    call.emulator.validator.check_request("mailFolder", body, _INLINE)
    name = folder_tree.display_name(body, required=False)
    if name is not None:
        if entry.well_known:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Distinguished folders cannot be renamed.")
        assert entry.parent is not None
        folder_tree.ensure_free(call.mailbox.children(entry.parent, "mailFolder"), name, exclude=entry.id)
        entry.props["displayName"] = name
    return Answer(200, render.entity(call, entry), entity_type="mailFolder")


def delete(call: Call, p: dict[str, str]) -> Answer:
    folder_tree.delete(call.mailbox, folder(call, p["folder"]))
    return Answer(204)


def move(call: Call, p: dict[str, str]) -> Answer:
    entry = folder(call, p["folder"])
    params = _operation_params(call, "move", "mailFolder")
    dest = folder(call, str(params["DestinationId"]))
    if entry.well_known:
        raise bad_request("Distinguished folders cannot be moved.", "ErrorMoveDistinguishedFolder")
    if dest.id in {e.id for e in folder_tree.subtree(call.mailbox, entry)}:
        raise bad_request("A folder cannot be moved into itself or one of its subfolders.", "ErrorMoveCopyFailed")
    folder_tree.ensure_free(call.mailbox.children(dest.id, "mailFolder"), str(entry.props["displayName"]))
    entry.parent = dest.id
    return Answer(201, render.entity(call, entry), entity_type="mailFolder")


def folders_delta(call: Call, p: dict[str, str]) -> Answer:
    """Every folder below the root, as a delta round (what a folder-tree sync reads)."""
    from . import delta

    delta.params(call)
    root = folder(call, "msgfolderroot")
    below = [e for e in folder_tree.subtree(call.mailbox, root) if e.kind == "mailFolder" and e is not root]
    return delta.answer(call, ("mailFolders",), render.delta_items(call, below), f"{call.user_path}/mailFolders/delta",
                        "mailFolder")


def _operation_params(call: Call, name: str, binding: str) -> dict[str, Any]:
    op = call.emulator.schema.operation(name, binding, False)
    assert op is not None, f"{name} on {binding} is not in the emulator's Graph model"
    return call.emulator.validator.check_parameters(op.parameters, call.json())


ROUTES = [
    Route("GET", "mailFolders/delta", folders_delta, "Mail"),
    Route("GET", "mailFolders", list_children, "Mail"),
    Route("POST", "mailFolders", create_child, "Mail"),
    Route("GET", "mailFolders/{folder}", get, "Mail"),
    Route("PATCH", "mailFolders/{folder}", update, "Mail"),
    Route("DELETE", "mailFolders/{folder}", delete, "Mail"),
    Route("GET", "mailFolders/{folder}/childFolders", list_children, "Mail"),
    Route("POST", "mailFolders/{folder}/childFolders", create_child, "Mail"),
    Route("POST", "mailFolders/{folder}/move", move, "Mail"),
]
operation_params = _operation_params
