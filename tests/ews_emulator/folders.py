"""Folder operations: GetFolder, FindFolder, CreateFolder, DeleteFolder, UpdateFolder, MoveFolder, EmptyFolder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .shapes import Shape, bool_text, effective_rights, page, parse_paging, parse_shape
from .soap import (
    M_NS,
    T_NS,
    EwsError,
    child,
    local,
    m_el,
    per_message,
    require,
    schema_error,
    sub,
    t_el,
    text_of,
)
from .store import Folder, Mailbox, parse_id
from .wellknown import DISTINGUISHED_IDS

if TYPE_CHECKING:
    from .server import Context

FOLDER_ELEMENTS = ("Folder", "CalendarFolder", "ContactsFolder", "TasksFolder", "SearchFolder")
FOLDER_FIELDS = {
    "folder:FolderId",
    "folder:ParentFolderId",
    "folder:DisplayName",
    "folder:FolderClass",
    "folder:TotalCount",
    "folder:ChildFolderCount",
    "folder:UnreadCount",
    "folder:EffectiveRights",
    "folder:DistinguishedFolderId",
    "folder:PermissionSet",
    "folder:ManagedFolderInformation",
    "folder:SearchParameters",
    "folder:SharingEffectiveRights",
    "folder:PolicyTag",
    "folder:ArchiveTag",
    "folder:ReplicaList",
}


def tag_for_class(folder_class: str | None) -> str:
    fc = folder_class or ""
    for prefix, tag in (
        ("IPF.Appointment", "CalendarFolder"),
        ("IPF.Contact", "ContactsFolder"),
        ("IPF.Task", "TasksFolder"),
    ):
        if fc == prefix or fc.startswith(prefix + "."):
            return tag
    return "Folder"


def resolve_folder(ctx: Context, el: Any) -> tuple[Mailbox, Folder]:
    """A t:FolderId or t:DistinguishedFolderId element -> (mailbox, folder); ErrorFolderNotFound otherwise."""
    name = local(el)
    if name == "DistinguishedFolderId":
        dist = el.get("Id")
        if dist not in DISTINGUISHED_IDS:
            raise schema_error(
                f"The 'Id' attribute is invalid - The value '{dist}' is invalid according to its datatype."
            )
        mbx_el = child(el, T_NS, "Mailbox")
        smtp = text_of(mbx_el, T_NS, "EmailAddress") if mbx_el is not None else None
        mbx = ctx.resolve_mailbox(smtp)
        return mbx, mbx.distinguished(dist)
    if name == "FolderId":
        kind, number = parse_id(el.get("Id"), ("F", "I"))
        if kind == "I":
            raise EwsError("ErrorCannotUseItemIdForFolderId", "Item Id was specified for a folder.")
        mbx = ctx.mailbox_by_number(number)
        folder = mbx.folders.get(el.get("Id"))
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
        return mbx, folder
    raise schema_error(f"Expected FolderId or DistinguishedFolderId, got '{name}'.")


def folder_id_children(container: Any) -> list[Any]:
    return [c for c in container if local(c) in ("FolderId", "DistinguishedFolderId")]


def folder_xml(mbx: Mailbox, f: Folder, shape: Shape) -> Any:
    """A folder element in the shape of the published "GetFolder operation" response sample."""
    el = t_el(f.tag)
    sub(el, T_NS, "FolderId", Id=f.id, ChangeKey=f.changekey)
    full = shape.base in ("Default", "AllProperties")
    wanted = {p.uri for p in shape.paths if p.kind == "field"}
    for uri in wanted - FOLDER_FIELDS:
        if uri.startswith("folder:"):
            raise schema_error(f"The FieldURI '{uri}' is not a valid folder property.")

    def want(uri: str) -> bool:
        return shape.base == "AllProperties" or uri in wanted

    if want("folder:ParentFolderId") and f.parent_id:
        parent = mbx.folders[f.parent_id]
        sub(el, T_NS, "ParentFolderId", Id=parent.id, ChangeKey=parent.changekey)
    if want("folder:FolderClass") and f.folder_class:
        sub(el, T_NS, "FolderClass", f.folder_class)
    if full or want("folder:DisplayName"):
        sub(el, T_NS, "DisplayName", f.name)
    if full or want("folder:TotalCount"):
        sub(el, T_NS, "TotalCount", str(len(f.items)))
    if full or want("folder:ChildFolderCount"):
        sub(el, T_NS, "ChildFolderCount", str(len(mbx.children(f.id))))
    if want("folder:EffectiveRights"):
        effective_rights(el)
    if want("folder:DistinguishedFolderId") and f.distinguished:
        sub(el, T_NS, "DistinguishedFolderId", f.distinguished)
    if (full or want("folder:UnreadCount")) and f.tag in ("Folder", "TasksFolder", "SearchFolder"):
        unread = sum(
            1 for i in f.items.values() if (i.text("IsRead") or "false") == "false" and i.kind == "Message"
        )
        sub(el, T_NS, "UnreadCount", str(unread))
    return el


# -- operations ----------------------------------------------------------------


def get_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "GetFolder operation" (learn.microsoft.com) successful response sample.
    shape = parse_shape(child(op, M_NS, "FolderShape"))

    def one(msg: Any, fid: Any) -> None:
        mbx, f = resolve_folder(ctx, fid)
        sub(msg, M_NS, "Folders").append(folder_xml(mbx, f, shape))

    return per_message("GetFolder", one, folder_id_children(require(op, M_NS, "FolderIds")))


def find_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "FindFolder operation" (learn.microsoft.com) successful response sample.
    from .restrictions import parse_restriction

    traversal = op.get("Traversal")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise schema_error("FindFolder requires Traversal='Shallow', 'Deep' or 'SoftDeleted'.")
    shape = parse_shape(child(op, M_NS, "FolderShape"))
    paging = parse_paging(op, "IndexedPageFolderView")
    restriction = parse_restriction(child(op, M_NS, "Restriction"))

    def one(msg: Any, fid: Any) -> None:
        mbx, parent = resolve_folder(ctx, fid)
        if traversal == "Deep":
            found = mbx.descendants(parent.id)
        elif traversal == "Shallow":
            found = mbx.children(parent.id)
        else:
            found = []
        entries = [folder_xml(mbx, f, Shape("AllProperties")) for f in found]
        if restriction is not None:
            found = [f for f, e in zip(found, entries, strict=True) if restriction(e)]
        holder, chunk = page(found, paging, sub(msg, M_NS, "RootFolder"), "Folders")
        for f in chunk:
            holder.append(folder_xml(mbx, f, shape))

    return per_message("FindFolder", one, folder_id_children(require(op, M_NS, "ParentFolderIds")))


def _check_name(mbx: Mailbox, parent: Folder, name: str, exclude: Folder | None = None) -> None:
    for sibling in mbx.children(parent.id):
        if sibling is not exclude and sibling.name.lower() == name.lower():
            raise EwsError("ErrorFolderExists", "A folder with the specified name already exists.")


#: The longest folder name the emulator takes, in UTF-16 code units (a .NET string's length): exchangelib's
#: limit for a folder name, counted as Exchange counts; README, "Folder names refused", says what is assumed.
MAX_FOLDER_NAME = 255


def utf16_length(text: str) -> int:
    """A character outside the BMP (an emoji) counts twice, as in .NET."""
    return len(text.encode("utf-16-le")) // 2


def display_name_refused() -> EwsError:
    """A DisplayName the store will not save, as the "CreateFolderPath operation" error sample answers it."""
    return EwsError("ErrorFolderSavePropertyError",
                    "The folder save operation failed due to invalid property values.",
                    field_uri="folder:DisplayName")


def create_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "CreateFolder operation" (learn.microsoft.com) successful response sample.
    parent_el = require(op, M_NS, "ParentFolderId")
    ids = folder_id_children(parent_el)
    if len(ids) != 1:
        raise schema_error("ParentFolderId must contain exactly one FolderId or DistinguishedFolderId.")
    mbx, parent = resolve_folder(ctx, ids[0])

    def one(msg: Any, fe: Any) -> None:
        if local(fe) not in FOLDER_ELEMENTS:
            raise schema_error(f"The element 'Folders' has invalid child element '{local(fe)}'.")
        for c in fe:
            if local(c) not in ("DisplayName", "FolderClass", "PermissionSet", "ExtendedProperty"):
                raise schema_error(
                    f"CreateFolder: element '{local(c)}' is not supported by the EWS emulator."
                )
        name = text_of(fe, T_NS, "DisplayName")
        if not name or utf16_length(name) > MAX_FOLDER_NAME:
            raise display_name_refused()
        folder_class = text_of(fe, T_NS, "FolderClass")
        if folder_class is None and local(fe) != "Folder":
            folder_class = {
                "CalendarFolder": "IPF.Appointment",
                "ContactsFolder": "IPF.Contact",
                "TasksFolder": "IPF.Task",
            }.get(local(fe))
        _check_name(mbx, parent, name)
        f = mbx.add_folder(parent.id, name, folder_class or "IPF.Note", tag_for_class(folder_class))
        parent.version += 1
        out = sub(sub(msg, M_NS, "Folders"), T_NS, f.tag)
        sub(out, T_NS, "FolderId", Id=f.id, ChangeKey=f.changekey)

    return per_message("CreateFolder", one, require(op, M_NS, "Folders"))


def _drop_folder(mbx: Mailbox, f: Folder) -> None:
    for d in [*mbx.descendants(f.id), f]:
        for item in list(d.items.values()):
            mbx.remove_item(item)
        mbx.folders.pop(d.id, None)


def delete_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "DeleteFolder operation" (learn.microsoft.com) successful response sample.
    delete_type = op.get("DeleteType")
    if delete_type not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise schema_error(
            "DeleteFolder requires DeleteType='HardDelete', 'SoftDelete' or 'MoveToDeletedItems'."
        )

    def one(msg: Any, fid: Any) -> None:
        mbx, f = resolve_folder(ctx, fid)
        if f.distinguished:
            raise EwsError("ErrorDeleteDistinguishedFolder", "Distinguished folders cannot be deleted.")
        trash = mbx.distinguished("deleteditems")
        if delete_type == "MoveToDeletedItems" and f.parent_id != trash.id:
            _check_name(mbx, trash, f.name)
            f.parent_id = trash.id
            f.version += 1
        else:
            _drop_folder(mbx, f)

    return per_message("DeleteFolder", one, folder_id_children(require(op, M_NS, "FolderIds")))


def update_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "UpdateFolder operation" (learn.microsoft.com) successful response sample.
    def one(msg: Any, change: Any) -> None:
        ids = folder_id_children(change)
        if len(ids) != 1:
            raise schema_error("FolderChange requires one FolderId or DistinguishedFolderId.")
        mbx, f = resolve_folder(ctx, ids[0])
        for upd in require(change, T_NS, "Updates"):
            if local(upd) != "SetFolderField":
                raise schema_error(f"UpdateFolder: '{local(upd)}' is not supported by the EWS emulator.")
            uri = child(upd, T_NS, "FieldURI")
            field = uri.get("FieldURI") if uri is not None else None
            value_el = next((c for c in upd if local(c) in FOLDER_ELEMENTS), None)
            if value_el is None or field not in ("folder:DisplayName", "folder:FolderClass"):
                raise EwsError(
                    "ErrorInvalidPropertySet",
                    f"Cannot set folder property {field!r} in the EWS emulator.",
                )
            value = text_of(value_el, T_NS, field.split(":")[1]) or ""
            if field == "folder:DisplayName":
                if f.distinguished:
                    raise EwsError("ErrorAccessDenied", "Distinguished folders cannot be renamed.")
                if not value or utf16_length(value) > MAX_FOLDER_NAME:
                    raise display_name_refused()
                if f.parent_id:
                    _check_name(mbx, mbx.folders[f.parent_id], value, exclude=f)
                f.name = value
            else:
                f.folder_class = value
        f.version += 1
        out = sub(sub(msg, M_NS, "Folders"), T_NS, f.tag)
        sub(out, T_NS, "FolderId", Id=f.id, ChangeKey=f.changekey)

    return per_message("UpdateFolder", one, require(op, M_NS, "FolderChanges"))


def move_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "MoveFolder operation" (learn.microsoft.com) successful response sample.
    to_ids = folder_id_children(require(op, M_NS, "ToFolderId"))
    if len(to_ids) != 1:
        raise schema_error("ToFolderId requires one FolderId or DistinguishedFolderId.")
    tmbx, target = resolve_folder(ctx, to_ids[0])

    def one(msg: Any, fid: Any) -> None:
        mbx, f = resolve_folder(ctx, fid)
        if mbx is not tmbx:
            raise EwsError("ErrorCrossMailboxMoveCopy", "Cross-mailbox moves are not supported.")
        if f.distinguished:
            raise EwsError("ErrorMoveDistinguishedFolder", "Distinguished folders cannot be moved.")
        if target is f or target in mbx.descendants(f.id):
            raise EwsError("ErrorMoveCopyFailed", "Cannot move a folder into itself.")
        _check_name(mbx, target, f.name)
        f.parent_id = target.id
        f.version += 1
        out = sub(sub(msg, M_NS, "Folders"), T_NS, f.tag)
        sub(out, T_NS, "FolderId", Id=f.id, ChangeKey=f.changekey)

    return per_message("MoveFolder", one, folder_id_children(require(op, M_NS, "FolderIds")))


def empty_folder(ctx: Context, op: Any) -> Any:
    # Response shape: "EmptyFolder operation" (learn.microsoft.com) successful response sample.
    delete_sub = bool_text(True) == (op.get("DeleteSubFolders") or "false").lower()

    def one(msg: Any, fid: Any) -> None:
        mbx, f = resolve_folder(ctx, fid)
        for item in list(f.items.values()):
            mbx.remove_item(item)
        if delete_sub:
            for c in mbx.children(f.id):
                _drop_folder(mbx, c)
        f.version += 1

    return per_message("EmptyFolder", one, folder_id_children(require(op, M_NS, "FolderIds")))


OPERATIONS = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "CreateFolder": create_folder,
    "DeleteFolder": delete_folder,
    "UpdateFolder": update_folder,
    "MoveFolder": move_folder,
    "EmptyFolder": empty_folder,
}

__all__ = ["OPERATIONS", "folder_id_children", "m_el", "resolve_folder"]
