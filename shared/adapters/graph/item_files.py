"""File attachments of events and To Do tasks in Microsoft 365, as Graph gives and takes them.

Read (the source): an event's file attachments with their bytes, name, type, content id and inline mark, and a To Do
task's (name, type, bytes from ``$value``), listed when Graph says it has some (``hasAttachments``); an attached item
or a link is named in the report.

Written: Graph creates an event without attachments (none can go in the create request) and takes each afterwards:
below 3 MB with one ``POST /events/{id}/attachments`` (a fileAttachment, its bytes in base64: Graph refuses a
request body over 4 MB), larger ones through an upload session (``createUploadSession``, then byte ranges), as for
e-mail. A series' master gets them; Graph has no attachments on a single occurrence created by a patch. A To Do task
takes a ``taskFileAttachment`` the same way below 3 MB; its upload sessions (3 to 25 MB) are not done in this
version, and such a file is named in the report (an item arrives in one record of at most 2 MB, so none that large
comes from a source). An item found again after a crash gets only the attachments whose names it does not hold yet.

Contacts do not get theirs (Graph v1.0's contact has no attachments): each is named in the report. A contact's photo
(the vCard's PHOTO) is put after the contact exists, as Graph takes it: the image as the body of ``PUT
/contacts/{id}/photo/$value`` (again on a retry: it replaces itself).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from shared.adapters.graph.client import GraphClient, NotFound
from shared.adapters.graph.mail_target import SMALL_ATTACHMENT, _upload_url
from shared.adapters.graph.mime_message import FileAttachment
from shared.adapters.graph.uploads import upload_attachment
from shared.formats.item_attachments import ItemAttachment, media_type, not_held, safe_name


def files_from_event(client: GraphClient, event: dict[str, Any]) -> tuple[list[ItemAttachment], list[str]]:
    """The event's file attachments, and report notes for the attachments that are not files."""
    if not event.get("hasAttachments"):
        return [], []
    files: list[ItemAttachment] = []
    notes: list[str] = []
    for a in client.pages(f"/events/{event['id']}/attachments"):
        kind = str(a.get("@odata.type") or "").removeprefix("#microsoft.graph.")
        name = safe_name(a.get("name"))
        if kind != "fileAttachment" or not isinstance(a.get("contentBytes"), str):
            notes.append(f"attached item {name!r} ({kind or 'unknown kind'}; only file attachments are carried)")
            continue
        files.append(ItemAttachment(name, media_type(a.get("contentType"), name), base64.b64decode(a["contentBytes"]),
                                    content_id=(a.get("contentId") or "").strip("<> ") or None,
                                    inline=bool(a.get("isInline"))))
    return files, notes


def _held(client: GraphClient, base: str, created: bool) -> set[str]:
    """The names of the attachments an item found again after a crash already has (none when just made)."""
    return set() if created else {str(a.get("name")) for a in client.pages(f"{base}/attachments", {"$select": "name"})}


def attach_to_event(client: GraphClient, event_id: str, files: Sequence[ItemAttachment], created: bool) -> list[str]:
    """Each file attached to the event (``created``: made just now, so it has none yet); notes for the others."""
    if not files:
        return []
    have = _held(client, f"/events/{event_id}", created)
    lossy = not_held([f for f in files if f.data is None], "by reference: Graph's events take files only")
    for f in files:
        if f.data is None or f.name in have:
            continue
        att = FileAttachment(f.name, f.content_type, f.data, f.inline, f.content_id)
        if len(f.data) < SMALL_ATTACHMENT:
            client.request("POST", f"/events/{event_id}/attachments", body=att.json())
            continue
        session = client.request("POST", f"/events/{event_id}/attachments/createUploadSession",
                                 body={"AttachmentItem": att.upload_item()})
        upload_attachment(client, _upload_url(client, str(session["uploadUrl"])), f.data)
    return lossy


def attach_to_task(client: GraphClient, task_path: str, files: Sequence[ItemAttachment], created: bool) -> list[str]:
    """Each file under 3 MB attached to the To Do task at ``task_path``; notes for the others."""
    if not files:
        return []
    have = _held(client, task_path, created)
    lossy = not_held([f for f in files if f.data is None], "by reference: To Do tasks take files only")
    lossy += not_held([f for f in files if f.data is not None and len(f.data) >= SMALL_ATTACHMENT],
                      "3 MB or more: a To Do task takes it only through an upload session, not done in this version")
    for f in files:
        if f.data is None or len(f.data) >= SMALL_ATTACHMENT or f.name in have:
            continue
        client.request("POST", f"{task_path}/attachments", body={
            "@odata.type": "#microsoft.graph.taskFileAttachment", "name": f.name, "contentType": f.content_type,
            "contentBytes": base64.b64encode(f.data).decode("ascii")})
    return lossy


PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif", "image/bmp")
MAX_PHOTO = 4 * 1024 * 1024  # Graph's limit on one request


def put_photo(client: GraphClient, contact_id: str, photo: str | None, photo_type: str | None) -> list[str]:
    """The contact's photo (``photo``: base64, as the vCard holds it) put on the new contact; a note when Graph
    cannot take it."""
    if photo is None:
        return []
    media = (photo_type or "image/jpeg").lower()
    if media not in PHOTO_TYPES:
        return [f"the photo ({media}: Graph takes JPEG, PNG, GIF or BMP)"]
    data = base64.b64decode(photo)
    if len(data) > MAX_PHOTO:
        return [f"the photo ({len(data) / 1e6:.1f} MB: Graph takes at most 4 MB in a request)"]
    client.put_bytes(f"/contacts/{contact_id}/photo/$value", data, media)
    return []


def photo_of(client: GraphClient, contact_id: str) -> tuple[str, bytes] | None:
    """The contact's photo (media type, bytes), or None: Graph answers 404 for a contact without one, and lists no
    sign of a photo, so this is one request per contact."""
    try:
        with client.stream(f"/contacts/{contact_id}/photo/$value") as resp:
            media = resp.headers.get("content-type", "image/jpeg").split(";")[0].strip().lower()
            return media, resp.read()
    except NotFound:
        return None


def files_from_task(client: GraphClient, task_path: str, task: dict[str, Any]) -> list[ItemAttachment]:
    """The To Do task's file attachments (taskFileAttachment: its bytes are read from ``$value``)."""
    if not task.get("hasAttachments"):
        return []
    files = []
    for a in client.pages(f"{task_path}/attachments", {"$select": "id,name,contentType"}):
        name = safe_name(a.get("name"))
        with client.stream(f"{task_path}/attachments/{a['id']}/$value") as resp:
            files.append(ItemAttachment(name, media_type(a.get("contentType"), name), resp.read()))
    return files
