"""Attachment operations: CreateAttachment, GetAttachment, DeleteAttachment."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from .itemtypes import now_iso
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
from .store import Attachment, make_id, parse_id
from .typed import normalize

if TYPE_CHECKING:
    from .server import Context

ATTACHMENT_CHILDREN = {
    "FileAttachment": {
        "AttachmentId",
        "Name",
        "ContentType",
        "ContentId",
        "ContentLocation",
        "Size",
        "LastModifiedTime",
        "IsInline",
        "IsContactPhoto",
        "Content",
    },
    "ItemAttachment": {
        "AttachmentId",
        "Name",
        "ContentType",
        "ContentId",
        "ContentLocation",
        "Size",
        "LastModifiedTime",
        "IsInline",
        "Item",
        "Message",
        "CalendarItem",
        "Contact",
        "Task",
        "MeetingMessage",
        "MeetingRequest",
        "MeetingResponse",
        "MeetingCancellation",
        "PostItem",
    },
}


def _root_id(el: Any, item: Any) -> None:
    el.set("RootItemId", item.id)
    el.set("RootItemChangeKey", item.changekey)


def create_attachment(ctx: Context, op: Any) -> Any:
    # Response shape: "CreateAttachment operation" (learn.microsoft.com) successful response sample.
    from .items import resolve_item

    mbx, item = resolve_item(ctx, require(op, M_NS, "ParentItemId"))

    def one(msg: Any, src: Any) -> None:
        kind = local(src)
        if kind not in ATTACHMENT_CHILDREN:
            raise schema_error(f"The element 'Attachments' has invalid child element '{kind}'.")
        for c in src:
            if local(c) not in ATTACHMENT_CHILDREN[kind]:
                raise schema_error(f"The element '{kind}' has invalid child element '{local(c)}'.")
        if kind == "FileAttachment" and src.find(tq("Content")) is None:
            raise EwsError("ErrorInvalidAttachmentSubfilter", "A FileAttachment requires Content.")
        stored = normalize(copy_el(src))
        content = stored.findtext(tq("Content"))
        if stored.find(tq("Size")) is None:
            size = len(base64.b64decode(content)) if content else len(str(stored))
            sub(stored, T_NS, "Size", str(size))
        if stored.find(tq("LastModifiedTime")) is None:
            sub(stored, T_NS, "LastModifiedTime", now_iso())
        att = Attachment(make_id("A", mbx.number), stored)
        item.attachments.append(att)
        item.touch(["Attachments", "HasAttachments"])
        out = sub(sub(msg, M_NS, "Attachments"), T_NS, kind)
        _root_id(sub(out, T_NS, "AttachmentId", Id=att.id), item)

    return per_message("CreateAttachment", one, require(op, M_NS, "Attachments"))


def _lookup(ctx: Context, el: Any) -> tuple[Any, Attachment]:
    if local(el) != "AttachmentId":
        raise schema_error(f"Expected AttachmentId, got '{local(el)}'.")
    _, number = parse_id(el.get("Id"), ("A",))
    mbx = ctx.mailbox_by_number(number)
    return mbx.find_attachment(str(el.get("Id")))


def get_attachment(ctx: Context, op: Any) -> Any:
    # Response shape: "GetAttachment operation" (learn.microsoft.com) successful response sample.
    shape = child(op, M_NS, "AttachmentShape")
    if shape is not None:
        for c in shape:
            if local(c) not in (
                "IncludeMimeContent",
                "BodyType",
                "FilterHtmlContent",
                "AdditionalProperties",
            ):
                raise schema_error(
                    f"AttachmentShape child '{local(c)}' is not implemented by the EWS emulator."
                )

    def one(msg: Any, aid: Any) -> None:
        item, att = _lookup(ctx, aid)
        out = sub(sub(msg, M_NS, "Attachments"), T_NS, local(att.elem))
        _root_id(sub(out, T_NS, "AttachmentId", Id=att.id), item)
        for c in att.elem:
            if local(c) != "AttachmentId":
                out.append(copy_el(c))

    return per_message("GetAttachment", one, require(op, M_NS, "AttachmentIds"))


def delete_attachment(ctx: Context, op: Any) -> Any:
    # Response shape: "DeleteAttachment operation" (learn.microsoft.com) successful response sample.
    def one(msg: Any, aid: Any) -> None:
        item, att = _lookup(ctx, aid)
        item.attachments.remove(att)
        item.touch(["Attachments", "HasAttachments"])
        _root_id(sub(msg, M_NS, "RootItemId"), item)

    return per_message("DeleteAttachment", one, require(op, M_NS, "AttachmentIds"))


OPERATIONS = {
    "CreateAttachment": create_attachment,
    "GetAttachment": get_attachment,
    "DeleteAttachment": delete_attachment,
}
