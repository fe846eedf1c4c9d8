"""File attachments of Exchange contacts, calendar items and tasks, both ways.

Read: each FileAttachment (not the contact photo, which is the vCard's PHOTO) with its bytes — exchangelib fetches
them with GetAttachment — name, content type, content id and inline mark. An attached item (ItemAttachment: a
message, contact or event inside the item) is named in the report instead: its bytes would be Exchange's own
item, which no neutral format holds. Written: each attachment becomes a FileAttachment of the new item, created
with CreateAttachment right after the item (exchangelib does both in ``save``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib.attachments import FileAttachment

from shared.formats.item_attachments import ItemAttachment, media_type, safe_name


def files_from_ews(item: Any) -> list[ItemAttachment]:
    """The item's file attachments other than a contact photo, bytes included."""
    out = []
    for att in item.attachments or []:
        if not isinstance(att, FileAttachment) or att.is_contact_photo:
            continue
        name = safe_name(att.name)
        out.append(ItemAttachment(name, media_type(att.content_type, name), bytes(att.content or b""),
                                  content_id=(att.content_id or "").strip("<> ") or None, inline=bool(att.is_inline)))
    return out


def attached_items(item: Any) -> list[str]:
    """Report notes for the attached items (not files) no neutral format carries."""
    return [f"attached item {getattr(a, 'name', None) or '(no name)'!r} (an Exchange item inside the item; only "
            "file attachments are carried)" for a in item.attachments or [] if not isinstance(a, FileAttachment)]


def attach_to_ews(item: Any, files: Sequence[ItemAttachment]) -> list[str]:
    """Each file attached to the unsaved item; returns notes for those Exchange cannot hold (links)."""
    lossy = []
    for f in files:
        if f.data is None:
            lossy.append(f"attachment {f.name!r} by reference ({f.uri}): Exchange 2016's EWS holds no links")
            continue
        item.attach(FileAttachment(name=f.name, content=f.data, content_type=f.content_type,
                                   content_id=f.content_id, is_inline=f.inline))
    return lossy
