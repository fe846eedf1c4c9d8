"""Render stored items in a requested response shape (IdOnly / Default / AllProperties + AdditionalProperties)."""

from __future__ import annotations

from typing import Any

from .extended import same_property
from .shapes import Path, Shape
from .soap import T_NS, copy_el, local, sub, t_el, tq
from .store import Item, Mailbox

DEFAULT_SHAPE = {  # roughly what Exchange returns for BaseShape=Default
    "Message": (
        "Subject",
        "Attachments",
        "ResponseObjects",
        "HasAttachments",
        "IsAssociated",
        "ToRecipients",
        "CcRecipients",
        "From",
        "IsRead",
        "DateTimeReceived",
        "DateTimeSent",
    ),
    "CalendarItem": (
        "Subject",
        "Attachments",
        "HasAttachments",
        "Start",
        "End",
        "IsAllDayEvent",
        "Location",
        "Organizer",
        "CalendarItemType",
        "LegacyFreeBusyStatus",
    ),
    "Contact": (
        "Subject",
        "Attachments",
        "HasAttachments",
        "DisplayName",
        "FileAs",
        "GivenName",
        "Surname",
        "CompanyName",
        "EmailAddresses",
        "PhoneNumbers",
    ),
    "DistributionList": ("Subject", "DisplayName", "FileAs", "Members"),
    "Task": (
        "Subject",
        "Attachments",
        "HasAttachments",
        "DueDate",
        "PercentComplete",
        "Status",
        "IsComplete",
    ),
}
COMPUTED = {
    "ItemId",
    "ParentFolderId",
    "Attachments",
    "HasAttachments",
    "EffectiveRights",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "FirstOccurrence",
    "LastOccurrence",
    "CalendarItemType",
    "IsRecurring",
}


def attachment_summary(parent: Any, item: Item) -> None:
    """t:Attachments with metadata only, as in the "GetItem operation (email message)" sample."""
    if not item.attachments:
        return
    holder = sub(parent, T_NS, "Attachments")
    for att in item.attachments:
        el = sub(holder, T_NS, local(att.elem))
        sub(el, T_NS, "AttachmentId", Id=att.id)
        for tag in (
            "Name",
            "ContentType",
            "ContentId",
            "ContentLocation",
            "Size",
            "LastModifiedTime",
            "IsInline",
            "IsContactPhoto",
        ):
            src = att.elem.find(tq(tag))
            if src is not None:
                el.append(copy_el(src))


def _computed(parent: Any, name: str, item: Item, mbx: Mailbox) -> None:
    if name == "ParentFolderId":
        f = mbx.folders[item.folder_id]
        sub(parent, T_NS, "ParentFolderId", Id=f.id, ChangeKey=f.changekey)
    elif name == "Attachments":
        attachment_summary(parent, item)
    elif name == "HasAttachments":
        sub(parent, T_NS, "HasAttachments", "true" if item.attachments else "false")
    elif name == "EffectiveRights":
        er = sub(parent, T_NS, "EffectiveRights")
        for right in ("CreateAssociated", "CreateContents", "CreateHierarchy", "Delete", "Modify", "Read"):
            sub(er, T_NS, right, "true")
    elif item.kind == "CalendarItem":
        from .calendar import render_calendar_computed

        render_calendar_computed(parent, name, item, mbx)


def _indexed(parent: Any, stored: Any, paths: list[Path]) -> None:
    keys = {p.index for p in paths}
    subs = {p.sub_field for p in paths if p.sub_field}
    out = None
    for entry in stored:
        if entry.get("Key") not in keys:
            continue
        if out is None:
            out = sub(parent, T_NS, local(stored))
        e = copy_el(entry)
        if subs:
            for c in list(e):
                if local(c) not in subs:
                    e.remove(c)
        out.append(e)


def render_item(item: Item, mbx: Mailbox, shape: Shape, tag: str | None = None) -> Any:
    """An item element with ItemId and the requested properties that the item has."""
    # Shape: "GetItem operation (email message)", "GetItem operation (calendar item)", "GetItem operation
    # (contact)" and "GetItem operation (task)" samples; children are copies of what the client stored.
    el = t_el(tag or item.kind)
    sub(el, T_NS, "ItemId", Id=item.id, ChangeKey=item.changekey)
    stored = {local(c): c for c in item.elem if local(c) != "ExtendedProperty"}
    names: list[str] = []
    if shape.base == "AllProperties":
        names = [n for n in stored if n != "MimeContent"]
        names += ["ParentFolderId", "Attachments", "HasAttachments"]
    elif shape.base == "Default":
        names = list(DEFAULT_SHAPE.get(item.kind, ("Subject",)))
    if shape.include_mime:
        names.append("MimeContent")
    indexed: dict[str, list[Path]] = {}
    extended: list[Path] = []
    for p in shape.paths:
        if p.kind == "field":
            names.append(p.element)
        elif p.kind == "indexed":
            indexed.setdefault(p.element, []).append(p)
        else:
            extended.append(p)
    seen: set[str] = {"ItemId"}
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        if name in COMPUTED:
            _computed(el, name, item, mbx)
        elif name in stored:
            if name in indexed:
                continue
            el.append(copy_el(stored[name]))
    for container, paths in indexed.items():
        if container in stored:
            _indexed(el, stored[container], paths)
    for p in extended:
        for ep in item.elem.findall(tq("ExtendedProperty")):
            if same_property(ep.find(tq("ExtendedFieldURI")), p.ext):
                # Named as the request named it, so the client recognizes the property it asked for.
                out = copy_el(ep)
                out[0].attrib.clear()
                out[0].attrib.update(dict(p.ext_attrs))
                el.append(out)
    return el
