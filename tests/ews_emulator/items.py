"""Item operations: FindItem, GetItem, CreateItem, UpdateItem, DeleteItem, MoveItem, CopyItem."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from . import itemtypes, typed
from .extended import check_property, same_property
from .folders import folder_id_children, resolve_folder
from .render import render_item
from .restrictions import parse_restriction, parse_sort
from .shapes import page, parse_paging, parse_shape
from .soap import (
    M_NS,
    T_NS,
    EwsError,
    child,
    copy_el,
    local,
    per_message,
    require,
    schema_error,
    sub,
    tq,
)
from .store import Attachment, Folder, Item, Mailbox, make_id, parse_id, version_of

if TYPE_CHECKING:
    from .server import Context

FIND_ITEM_FORBIDDEN = {
    "item:MimeContent",
    "item:Attachments",
    "item:Body",
    "item:UniqueBody",
    "item:TextBody",
    "calendar:ModifiedOccurrences",
    "calendar:DeletedOccurrences",
    "distributionlist:Members",
}
DEFAULT_TARGET = {
    "Message": "drafts",
    "Item": "drafts",
    "CalendarItem": "calendar",
    "Contact": "contacts",
    "DistributionList": "contacts",
    "Task": "tasks",
}


def resolve_item(ctx: Context, el: Any) -> tuple[Mailbox, Item]:
    """t:ItemId (or an occurrence id) -> stored item; ErrorItemNotFound / ErrorInvalidIdMalformed otherwise."""
    name = local(el)
    if name in ("OccurrenceItemId", "RecurringMasterItemId"):
        from .calendar import resolve_occurrence

        return resolve_occurrence(ctx, el)
    if name not in ("ItemId", "ParentItemId"):
        raise schema_error(f"Expected ItemId, got '{name}'.")
    kind, number = parse_id(el.get("Id"), ("I", "F"))
    if kind == "F":
        raise EwsError("ErrorCannotUseFolderIdForItemId", "Folder Id was specified for an item.")
    mbx = ctx.mailbox_by_number(number)
    item = mbx.items.get(el.get("Id"))
    if item is None:
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    return mbx, item


def item_id_children(container: Any) -> list[Any]:
    return [c for c in container if local(c) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")]


def _item_ref(msg: Any, item: Item) -> None:
    holder = sub(msg, M_NS, "Items")
    sub(sub(holder, T_NS, item.kind), T_NS, "ItemId", Id=item.id, ChangeKey=item.changekey)


def find_item(ctx: Context, op: Any) -> Any:
    # Response shape: "FindItem operation" (learn.microsoft.com) successful response sample.
    traversal = op.get("Traversal")
    if traversal not in ("Shallow", "SoftDeleted", "Associated"):
        raise schema_error("FindItem requires Traversal='Shallow', 'SoftDeleted' or 'Associated'.")
    for unsupported in ("CalendarView", "ContactsView", "GroupBy", "DistinguishedGroupBy", "QueryString"):
        if child(op, M_NS, unsupported) is not None:
            raise schema_error(f"FindItem '{unsupported}' is not implemented by the EWS emulator.")
    shape = parse_shape(child(op, M_NS, "ItemShape"))
    if shape.include_mime:
        raise EwsError(
            "ErrorInvalidPropertyRequest", "MimeContent cannot be requested in FindItem.", fault=False
        )
    paging = parse_paging(op, "IndexedPageItemView")
    restriction = parse_restriction(child(op, M_NS, "Restriction"))
    sort_key = parse_sort(child(op, M_NS, "SortOrder"))

    def one(msg: Any, fid: Any) -> None:
        bad = [p.uri for p in shape.paths if p.uri in FIND_ITEM_FORBIDDEN]
        if bad:
            raise EwsError(
                "ErrorInvalidPropertyRequest", f"Property {bad[0]} cannot be used in FindItem requests."
            )
        mbx, folder = resolve_folder(ctx, fid)
        found = [] if traversal != "Shallow" else list(folder.items.values())
        if restriction is not None:
            found = [i for i in found if restriction(i.elem)]
        if sort_key is not None:
            found = sort_key(found)
        holder, chunk = page(found, paging, sub(msg, M_NS, "RootFolder"), "Items")
        for item in chunk:
            holder.append(render_item(item, mbx, shape))

    return per_message("FindItem", one, folder_id_children(require(op, M_NS, "ParentFolderIds")))


def get_item(ctx: Context, op: Any) -> Any:
    # Response shape: "GetItem operation (email message)" (learn.microsoft.com) successful response sample.
    shape = parse_shape(child(op, M_NS, "ItemShape"))

    def one(msg: Any, iid: Any) -> None:
        mbx, item = resolve_item(ctx, iid)
        sub(msg, M_NS, "Items").append(render_item(item, mbx, shape))

    return per_message("GetItem", one, item_id_children(require(op, M_NS, "ItemIds")))


def _check_disposition(op: Any, kinds: set[str], attr: str = "MessageDisposition") -> None:
    disp = op.get(attr)
    if "Message" in kinds and disp is None:
        raise EwsError(
            "ErrorMessageDispositionRequired", "MessageDisposition is required for messages.", fault=True
        )
    if disp not in (None, "SaveOnly"):
        raise schema_error(f"{attr}='{disp}' would send mail, which the EWS emulator does not implement.")


def _take_attachments(item: Item, mbx: Mailbox) -> None:
    holder = item.elem.find(tq("Attachments"))
    if holder is not None:
        item.elem.remove(holder)
        for att in holder:
            if local(att) != "FileAttachment":
                raise schema_error(
                    f"Inline '{local(att)}' in CreateItem is not implemented by the EWS emulator."
                )
            item.attachments.append(Attachment(make_id("A", mbx.number), copy_el(att)))
    for name, ctype, payload in itemtypes.mime_attachments(item.elem):
        att = sub(item.elem.makeelement(tq("Dummy"), {}), T_NS, "FileAttachment")
        sub(att, T_NS, "Name", name)
        sub(att, T_NS, "ContentType", ctype)
        sub(att, T_NS, "Size", str(len(payload)))
        sub(att, T_NS, "IsInline", "false")
        sub(att, T_NS, "Content", base64.b64encode(payload).decode())
        item.attachments.append(Attachment(make_id("A", mbx.number), att))


def store_new_item(mbx: Mailbox, folder: Folder, src: Any) -> Item:
    kind = itemtypes.validate_item(src, folder.folder_class)
    elem = typed.normalize(copy_el(src))
    if kind == "Task":
        typed.check_percent_complete(elem)
    itemtypes.compute_properties(elem, kind)
    item = mbx.add_item(folder, elem)
    _take_attachments(item, mbx)
    if kind == "CalendarItem":
        from .calendar import on_create

        on_create(item)
    return item


def create_item(ctx: Context, op: Any) -> Any:
    # Response shape: "CreateItem operation (email message)" (learn.microsoft.com) successful response sample.
    items_el = require(op, M_NS, "Items")
    kinds = {local(i) for i in items_el}
    _check_disposition(op, kinds)
    if "CalendarItem" in kinds and op.get("SendMeetingInvitations") is None:
        raise EwsError(
            "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required.", fault=True
        )
    if op.get("SendMeetingInvitations") not in (None, "SendToNone"):
        raise schema_error(
            "Sending meeting invitations is not implemented by the EWS emulator (use SendToNone)."
        )
    target_el = child(op, M_NS, "SavedItemFolderId")
    target = None
    if target_el is not None:
        ids = folder_id_children(target_el)
        if len(ids) != 1:
            raise schema_error("SavedItemFolderId requires one FolderId or DistinguishedFolderId.")
        target = ids[0]

    def one(msg: Any, src: Any) -> None:
        if target is not None:
            mbx, folder = resolve_folder(ctx, target)
        else:
            mbx = ctx.mailbox
            folder = mbx.distinguished(DEFAULT_TARGET.get(local(src), "drafts"))
        _item_ref(msg, store_new_item(mbx, folder, src))

    return per_message("CreateItem", one, list(items_el))


def _check_change_key(item: Item, id_el: Any, mode: str, fields: list[str]) -> None:
    ck = id_el.get("ChangeKey")
    if mode == "AlwaysOverwrite":
        return
    if not ck:
        raise EwsError("ErrorChangeKeyRequiredForWriteOperations", "A ChangeKey is required for this update.")
    seen = version_of(ck)
    if seen is None:
        raise EwsError("ErrorInvalidChangeKey", "The ChangeKey is invalid.")
    if seen == item.version:
        return
    if mode == "NeverOverwrite" or any(item.field_versions.get(f, 0) > seen for f in fields):
        raise EwsError(
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        )


def apply_update(item: Item, upd: Any) -> str:
    """Apply one SetItemField/AppendToItemField/DeleteItemField; return the element name touched."""
    from .shapes import parse_path, path_elements

    action = local(upd)
    if action not in ("SetItemField", "AppendToItemField", "DeleteItemField"):
        raise schema_error(f"The element 'Updates' has invalid child element '{action}'.")
    paths = path_elements(upd)
    if len(paths) != 1:
        raise schema_error(f"{action} requires exactly one property path.")
    path = parse_path(paths[0])
    name = path.element
    allowed, _, _ = itemtypes.KINDS[item.kind]
    if name not in allowed:
        raise EwsError(
            "ErrorInvalidPropertyRequest", f"Property {path.key()} is not valid for a {item.kind}."
        )
    if name in itemtypes.READ_ONLY:
        raise EwsError("ErrorInvalidPropertySet", f"Property {name} is read-only.")
    current = item.elem.find(tq(name)) if path.kind != "extended" else _ext(item, path)
    if action == "DeleteItemField":
        if path.kind == "indexed" and current is not None:
            for e in [e for e in current if e.get("Key") == path.index]:
                current.remove(e)
        elif current is not None:
            item.elem.remove(current)
        return name
    carriers = [c for c in upd if local(c) in itemtypes.KINDS]
    if len(carriers) != 1:
        raise schema_error(f"{action} requires one item element carrying the new value.")
    carrier = typed.normalize(copy_el(carriers[0]))  # typed in its item's context (a Task's Status…)
    if item.kind == "Task":
        typed.check_percent_complete(carrier)
    new = carrier.find(tq(name))
    if path.kind == "extended":
        # The carrier holds the one property the path names, with a value that fits its type.
        sent = carrier.findall(tq("ExtendedProperty"))
        new = sent[0] if len(sent) == 1 and check_property(sent[0]) == path.ext else None
    if new is None:
        raise EwsError(
            "ErrorIncorrectUpdatePropertyCount", f"The update for {path.key()} carries no '{name}' element."
        )
    if path.kind == "extended":
        if current is not None:
            item.elem.remove(current)
        item.elem.append(copy_el(new))
    elif path.kind == "indexed" and current is not None:
        for entry in new:
            old = next((e for e in current if e.get("Key") == entry.get("Key")), None)
            if old is not None and path.sub_field:
                for c in entry:
                    prev = old.find(c.tag)
                    if prev is not None:
                        old.remove(prev)
                    old.append(copy_el(c))
            else:
                if old is not None:
                    current.remove(old)
                current.append(copy_el(entry))
    elif action == "AppendToItemField" and current is not None:
        if len(new):
            for c in new:
                current.append(copy_el(c))
        else:
            current.text = (current.text or "") + (new.text or "")
    else:
        if current is not None:
            item.elem.remove(current)
        item.elem.append(copy_el(new))
    return name


def _ext(item: Item, path: Any) -> Any:
    for ep in item.elem.findall(tq("ExtendedProperty")):
        if same_property(ep.find(tq("ExtendedFieldURI")), path.ext):
            return ep
    return None


def update_item(ctx: Context, op: Any) -> Any:
    # Response shape: "UpdateItem operation" (learn.microsoft.com) successful response sample.
    mode = op.get("ConflictResolution")
    if mode not in ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite"):
        raise schema_error("UpdateItem requires ConflictResolution.")
    _check_disposition(op, set())
    if op.get("SendMeetingInvitationsOrCancellations") not in (None, "SendToNone"):
        raise schema_error("Sending meeting updates is not implemented by the EWS emulator (use SendToNone).")

    def one(msg: Any, change: Any) -> None:
        ids = item_id_children(change)
        if len(ids) != 1:
            raise schema_error("ItemChange requires one ItemId.")
        mbx, item = resolve_item(ctx, ids[0])
        updates = list(require(change, T_NS, "Updates"))
        from .shapes import parse_path, path_elements

        touched_paths = [parse_path(p).element for u in updates for p in path_elements(u)]
        _check_change_key(item, ids[0], mode, touched_paths)
        scratch = copy_el(item.elem)
        original, item.elem = item.elem, scratch
        try:
            touched = [apply_update(item, u) for u in updates]
        except EwsError:
            item.elem = original
            raise
        item.touch(touched)
        itemtypes.compute_last_modified(item.elem)
        if item.kind == "CalendarItem":
            from .calendar import on_update

            on_update(mbx, item)
        _item_ref(msg, item)
        sub(sub(msg, M_NS, "ConflictResults"), T_NS, "Count", "0")

    return per_message("UpdateItem", one, list(require(op, M_NS, "ItemChanges")))


def delete_item(ctx: Context, op: Any) -> Any:
    # Response shape: "DeleteItem operation" (learn.microsoft.com) successful response sample.
    # Exchange does not check the ChangeKey on DeleteItem, so neither does the emulator.
    delete_type = op.get("DeleteType")
    if delete_type not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise schema_error("DeleteItem requires DeleteType.")

    def one(msg: Any, iid: Any) -> None:
        mbx, item = resolve_item(ctx, iid)
        if item.kind == "CalendarItem" and op.get("SendMeetingCancellations") is None:
            raise EwsError(
                "ErrorSendMeetingCancellationsRequired",
                "SendMeetingCancellations is required for calendar items.",
            )
        if item.kind == "Task" and op.get("AffectedTaskOccurrences") is None:
            raise EwsError(
                "ErrorAffectedTaskOccurrencesRequired", "AffectedTaskOccurrences is required for tasks."
            )
        trash = mbx.distinguished("deleteditems")
        if item.master_id:
            from .calendar import on_delete

            on_delete(mbx, item)
            mbx.remove_item(item)
        elif delete_type == "MoveToDeletedItems" and item.folder_id != trash.id:
            mbx.move_item(item, trash)
        else:
            mbx.remove_item(item)

    return per_message("DeleteItem", one, item_id_children(require(op, M_NS, "ItemIds")))


def _move_or_copy(ctx: Context, op: Any, name: str) -> Any:
    to = folder_id_children(require(op, M_NS, "ToFolderId"))
    if len(to) != 1:
        raise schema_error("ToFolderId requires one FolderId or DistinguishedFolderId.")
    tmbx, target = resolve_folder(ctx, to[0])

    def one(msg: Any, iid: Any) -> None:
        mbx, item = resolve_item(ctx, iid)
        if mbx is not tmbx:
            raise EwsError("ErrorCrossMailboxMoveCopy", "Cross-mailbox move/copy is not supported.")
        new = mbx.add_item(target, copy_el(item.elem))
        new.attachments = [Attachment(make_id("A", mbx.number), copy_el(a.elem)) for a in item.attachments]
        if name == "MoveItem":
            mbx.remove_item(item)
        _item_ref(msg, new)

    return per_message(name, one, item_id_children(require(op, M_NS, "ItemIds")))


def move_item(ctx: Context, op: Any) -> Any:
    # Response shape: "MoveItem operation" (learn.microsoft.com) successful response sample.
    return _move_or_copy(ctx, op, "MoveItem")


def copy_item(ctx: Context, op: Any) -> Any:
    # Response shape: "CopyItem operation" (learn.microsoft.com) successful response sample.
    return _move_or_copy(ctx, op, "CopyItem")


OPERATIONS = {
    "FindItem": find_item,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
    "MoveItem": move_item,
    "CopyItem": copy_item,
}
