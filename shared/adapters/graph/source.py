"""The Graph mailbox as a source: the e-mail Source port and the ItemReader for the other operations.

Folders are listed like an IMAP LIST (one folder mapping serves every source): the well-known Inbox is
``INBOX``; Sent Items, Drafts, Deleted Items, Junk Email and Archive carry the IMAP special-use flag of
their role, whatever their localized name; the Outbox is left out. Path components are joined with a
control character, because Outlook folder names may contain "/" or ".".

Listing uses Graph's per-folder delta query: the first pass reads a full round, later passes only what
changed since the deltaLink kept in :mod:`.delta_store`; the ledger still decides what is copied.
Messages are named by their immutable id (``Prefer: IdType="ImmutableId"``), so a message moved in the
mailbox between passes keeps its key in its folder. A fetch reads the messages' state in ``$batch``
requests of 20 (read, follow-up flag with complete, draft, categories, received date) and each MIME through
``$value``, streamed: a large message travels in chunks of the inline limit as it arrives.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from shared import folder_map
from shared.adapters.fetch_whole import as_chunks
from shared.adapters.graph.client import DeltaGone, GraphClient, NotFound
from shared.adapters.graph.delta_store import DeltaStore, NoDeltaStore
from shared.adapters.graph.item_files import files_from_event, files_from_task, photo_of
from shared.adapters.graph.mapping import (
    auto_reply_from_graph,
    contact_from_graph,
    event_from_graph,
    parse_utc,
    rule_from_graph,
    task_from_graph,
    zone,
)
from shared.adapters.pim_items import carry_attachments, payload_size, pim_item
from shared.adapters.ports import Fetched, FetchLimits, ItemListing, WholeItem
from shared.errors import ServerRefused, Transient
from shared.events import ExtractTask, FolderRef, ItemResult, ItemResults, MailChunk, MailItem, MailMeta, PimItem
from shared.folder_refs import folder_refs
from shared.formats.calendar_name import with_name
from shared.formats.calendar_zone import with_zone
from shared.formats.ical import Calendar, serialize_calendar
from shared.formats.keywords import FLAG_COMPLETE, FLAG_FLAGGED, imap_flags
from shared.formats.vcard import serialize_vcard
from shared.mail_headers import header_fields
from shared.migration_state import EMAILS

DELIMITER = "\x1f"
#: Well-known folder name → the LIST role it carries (INBOX is a name, the others special-use flags).
ROLES = {"inbox": "INBOX", "sentitems": "\\Sent", "drafts": "\\Drafts", "deleteditems": "\\Trash",
         "junkemail": "\\Junk", "archive": "\\Archive"}
STATE_FIELDS = "isRead,isDraft,flag,categories,receivedDateTime"
#: PR_LAST_VERB_EXECUTED: replied or forwarded (IMAP's \\Answered, $Forwarded), read with the state.
LAST_VERB = "Integer 0x1081"
STATE_QUERY = f"$select={STATE_FIELDS}&$expand=" + quote(
    f"singleValueExtendedProperties($filter=id eq '{LAST_VERB}')", safe="$()='")
_FLAG_STATUS = {"flagged": FLAG_FLAGGED, "complete": FLAG_COMPLETE}


def graph_item_key(folder_id: str, ref: str) -> str:
    return f"{folder_id}:graph:{hashlib.sha256(ref.encode()).hexdigest()[:24]}"


class GraphSource:
    """A mailbox read through Graph: :class:`~shared.adapters.ports.Source` and ``ItemReader``."""

    def __init__(self, client: GraphClient, deltas: DeltaStore | None = None) -> None:
        self.client = client
        self.deltas = deltas or NoDeltaStore()
        self.prefix = ""
        self.marks_special_use = True  # every well-known folder is flagged by list_folders
        self._ids: dict[str, str] = {}  # listed name -> Graph folder id
        self.listed_changes = 0  # messages the last list_items read from Graph (delta: only changes)

    # -- folders -------------------------------------------------------------------------------
    def _well_known(self) -> dict[str, str]:
        """Graph's id of each well-known folder this mailbox has, in one $batch."""
        names = ["msgfolderroot", "outbox", *ROLES]
        answers = self.client.batch([("GET", f"/mailFolders/{n}?$select=id") for n in names])
        out = {}
        for name, answer in zip(names, answers, strict=True):
            if answer.status == 404:
                continue  # no archive folder yet, for example
            body = self.client.answer_json(answer)
            out[name] = str(body["id"])
        if "msgfolderroot" not in out:
            raise NotFound("msgfolderroot")
        return out

    def list_folders(self) -> list[folder_map.ListedFolder]:
        known = self._well_known()
        roles = {known[n]: role for n, role in ROLES.items() if n in known}
        out: list[folder_map.ListedFolder] = []
        self._ids = {}

        def walk(folder_id: str, parent: list[str]) -> None:
            for f in self.client.pages(f"/mailFolders/{folder_id}/childFolders",
                                       {"$top": "100", "$select": "id,displayName,childFolderCount"}):
                fid = str(f["id"])
                if fid == known.get("outbox"):
                    continue
                role = roles.get(fid)
                path = [*parent, "INBOX" if role == "INBOX" else str(f.get("displayName") or "")]
                name = DELIMITER.join(path)
                flags = (role,) if role and role.startswith("\\") else ()
                self._ids[name] = fid
                out.append(folder_map.ListedFolder(name=name, delimiter=DELIMITER, flags=flags))
                if f.get("childFolderCount"):
                    walk(fid, path)

        walk(known["msgfolderroot"], [])
        return out

    def folder_ids(self) -> dict[str, str]:
        """Graph's folder id of each folder :meth:`list_folders` listed, by its listed name."""
        if not self._ids:
            self.list_folders()
        return dict(self._ids)

    def folder_paths(self) -> dict[str, list[str]]:
        """Folder id → the neutral path its mail travels under (rules name their folders this way)."""
        refs = folder_refs(self.list_folders(), self.prefix, self.marks_special_use)
        ids = self._ids
        return {ids[ref.source_name]: ref.path for ref, _selectable in refs}

    # -- listing -------------------------------------------------------------------------------
    def _scope(self, folder_id: str) -> str:
        c = self.client
        return f"{c.graph_url}\x00{c.tokens.client_id}\x00{c.mailbox.lower()}\x00{folder_id}"

    def _folder_items(self, folder_id: str) -> list[str]:
        """Every message id in the folder, oldest first: the last checkpoint with this round's changes."""
        scope = self._scope(folder_id)
        link, items = self.deltas.load(scope)
        changes: list[dict[str, Any]] | None = None
        if link:
            try:
                changes, new_link = self.client.delta(link)
            except DeltaGone:
                changes = None
        reset = changes is None
        if changes is None:
            items = {}
            changes, new_link = self.client.delta(f"/mailFolders/{folder_id}/messages/delta",
                                                  {"$select": "receivedDateTime"})
        self.listed_changes += len(changes)
        upserts: dict[str, str] = {}
        removed: list[str] = []
        for c in changes:
            mid = str(c.get("id") or "")
            if not mid:
                continue
            if "@removed" in c:
                items.pop(mid, None)
                upserts.pop(mid, None)
                removed.append(mid)
            else:
                items[mid] = upserts[mid] = str(c.get("receivedDateTime") or items.get(mid, ""))
        self.deltas.save(scope, new_link, upserts, removed, reset)
        return sorted(items, key=lambda i: (items[i], i))

    def list_items(self, folders: Sequence[FolderRef], larger_than: int) -> dict[str, ItemListing]:
        ids = self.folder_ids()
        out = {}
        for f in folders:
            refs = self._folder_items(ids[f.source_name])
            out[f.source_name] = ItemListing(uidvalidity=0, uids=(), refs=refs,
                                             keys=[graph_item_key(f.folder_id, r) for r in refs])
        return out

    @staticmethod
    def key(folder_id: str, ref: str) -> str:
        return graph_item_key(folder_id, ref)

    # -- fetching ------------------------------------------------------------------------------
    def fetch(self, task: ExtractTask, limits: FetchLimits) -> Iterator[Fetched]:
        """The task's messages in task order; one that is gone is reported skipped, one that cannot be
        read failed; neither ends the task."""
        for start in range(0, len(task.refs), 20):
            refs = task.refs[start:start + 20]
            answers = self.client.batch([("GET", f"/messages/{r}?{STATE_QUERY}") for r in refs])
            for ref, answer in zip(refs, answers, strict=True):
                key = graph_item_key(task.folder.folder_id, ref)
                try:
                    state = self.client.answer_json(answer)
                    yield from self._message(task, ref, key, state, limits.inline_limit)
                except NotFound:
                    yield _result(task, key, "skipped", "deleted from the source while the migration ran")
                except ItemGone:
                    yield _result(task, key, "skipped", "deleted from the source while the migration ran")
                except ServerRefused as exc:
                    yield _result(task, key, "failed", str(exc))

    def _message(self, task: ExtractTask, ref: str, key: str, state: dict[str, Any],
                 limit: int) -> Iterator[MailItem | MailChunk]:
        flag = _FLAG_STATUS.get(str((state.get("flag") or {}).get("flagStatus") or ""))
        received = parse_utc(state.get("receivedDateTime"))
        verb = next((int(p["value"]) for p in state.get("singleValueExtendedProperties") or []
                     if str(p.get("id", "")).lower() == LAST_VERB.lower() and str(p.get("value", "")).isdigit()), None)
        flags = imap_flags(state.get("isRead"), flag, state.get("isDraft"), state.get("categories"), verb)
        try:
            with self.client.stream(f"/messages/{ref}/$value") as resp:
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if total is None or total <= limit:
                    data = resp.read()
                    message_id, subject = header_fields(data)
                    meta = MailMeta(item_key=key, folder=task.folder, flags=flags, internaldate=received or _now(),
                                    size=len(data), message_id=message_id, subject=subject)
                    item = MailItem(migration_id=task.migration_id, meta=meta, data=data)
                    yield from as_chunks(item, limit)
                    return
                yield from self._chunks(task, key, flags, received, total, resp.iter_bytes(limit), limit)
        except NotFound:
            raise ItemGone(key) from None

    @staticmethod
    def _chunks(task: ExtractTask, key: str, flags: list[str], received: Any, total: int,
                pieces: Iterator[bytes], limit: int) -> Iterator[MailChunk]:
        """A large message as it arrives, in pieces of exactly ``limit`` bytes (the last one shorter)."""
        buf = b""
        seq = 0
        sent = 0
        pending: bytes | None = None

        def chunk(data: bytes, last: bool) -> MailChunk:
            meta = None
            if seq == 0:
                message_id, subject = header_fields(data)
                meta = MailMeta(item_key=key, folder=task.folder, flags=flags, internaldate=received or _now(),
                                size=total, message_id=message_id, subject=subject)
            return MailChunk(migration_id=task.migration_id, item_key=key, seq=seq, last=last, meta=meta, data=data)

        for piece in pieces:
            buf += piece
            while len(buf) >= limit:
                if pending is not None:
                    yield chunk(pending, False)
                    seq += 1
                pending, buf = buf[:limit], buf[limit:]
                sent += limit
        if buf:
            if pending is not None:
                yield chunk(pending, False)
                seq += 1
            pending = buf
            sent += len(buf)
        if sent != total:
            raise Transient(f"a message's MIME ended after {sent} of {total} bytes; read again")
        if pending is not None:
            yield chunk(pending, True)

    # -- other operations (ItemReader) ---------------------------------------------------------
    def read(self, operation: str, mid: str) -> Iterator[WholeItem]:
        if operation == "contacts":
            yield from self._contacts(mid)
        elif operation == "calendars":
            yield from self._events(mid)
        elif operation == "tasks":
            yield from self._tasks(mid)
        elif operation == "rules":
            paths = self.folder_paths()
            for r in self.client.pages("/mailFolders/inbox/messageRules"):
                model = rule_from_graph(r, lambda fid: _path(paths.get(fid or "")))
                yield pim_item(mid, operation, str(r["id"]), "json", model.name, model.to_json())
        elif operation == "auto_reply":
            settings = self.client.get("/mailboxSettings")
            reply = auto_reply_from_graph(settings.get("automaticRepliesSetting") or {})
            yield pim_item(mid, operation, "oof", "json", "auto-reply", reply.to_json())
        else:
            raise ValueError(f"{operation} cannot be read from Microsoft Graph")

    def _contacts(self, mid: str) -> Iterator[PimItem]:
        """The default contacts folder and every contact folder below it."""
        folders = [""]
        stack = ["/contactFolders"]
        while stack:
            for f in self.client.pages(stack.pop(), {"$top": "100"}):
                folders.append(str(f["id"]))
                stack.append(f"/contactFolders/{f['id']}/childFolders")
        for folder in folders:
            path = f"/contactFolders/{folder}/contacts" if folder else "/contacts"
            for c in self.client.pages(path, {"$top": "100"}):
                card = contact_from_graph(c)
                photo = photo_of(self.client, str(c["id"]))
                if photo is not None:
                    card.value.photo_type, card.value.photo = photo[0], base64.b64encode(photo[1]).decode("ascii")
                yield pim_item(mid, "contacts", str(c["id"]), "vcard", c.get("displayName") or "",
                               serialize_vcard(card.value), card.lossy)

    def _events(self, mid: str) -> Iterator[PimItem]:
        """Every calendar's single events and series masters, each with its exceptions; an event of another
        calendar than the default one names it (``X-WR-CALNAME``), so a target can put it into one of that name."""
        for cal in self._own_calendars():
            name = None if cal.get("isDefaultCalendar") else str(cal.get("name") or "")
            for ev in self.client.pages(f"/calendars/{cal['id']}/events",
                                        {"$top": "100", "$expand": "exceptionOccurrences"}):
                event = event_from_graph(ev)
                text = with_name(Calendar(events=[event.value]), name)
                if ev.get("isAllDay"):  # its days belong to its zone (see shared.formats.calendar_zone)
                    with_zone(text, ev.get("originalStartTimeZone"))
                payload = serialize_calendar(text)
                files, notes = files_from_event(self.client, ev)
                if files:  # as many as one record holds beside the event (see shared.formats.item_attachments)
                    notes += carry_attachments(event.value.extra, files, payload_size(payload))
                    payload = serialize_calendar(text)
                yield pim_item(mid, "calendars", str(ev["id"]), "ical", ev.get("subject") or "", payload,
                               event.lossy + notes)

    def _own_calendars(self) -> list[dict[str, Any]]:
        """The mailbox's own calendars: a calendar another user shared (its owner not the default calendar's)
        is theirs, and stays out."""
        cals = list(self.client.pages("/calendars", {"$top": "100", "$select": "id,name,isDefaultCalendar,owner"}))
        owners = {_owner(c) for c in cals if c.get("isDefaultCalendar")}
        return [c for c in cals if c.get("isDefaultCalendar") or not owners or _owner(c) in owners | {""}]

    def _tasks(self, mid: str) -> Iterator[PimItem]:
        """Every To Do list's tasks; one of another list than the default one names it (``X-WR-CALNAME``)."""
        mailbox_zone = zone(self.client.get("/mailboxSettings").get("timeZone"))  # To Do dates are days there
        for lst in self.client.pages("/todo/lists"):
            name = None if lst.get("wellknownListName") == "defaultList" else str(lst.get("displayName") or "")
            for t in self.client.pages(f"/todo/lists/{lst['id']}/tasks", {"$top": "100"}):
                task = task_from_graph(t, mailbox_zone)
                cal = with_name(Calendar(tasks=[task.value]), name)
                payload = serialize_calendar(cal)
                files = files_from_task(self.client, f"/todo/lists/{lst['id']}/tasks/{t['id']}", t)
                notes = carry_attachments(task.value.extra, files, payload_size(payload)) if files else []
                yield pim_item(mid, "tasks", str(t["id"]), "ical", t.get("title") or "",
                               serialize_calendar(cal) if files else payload, task.lossy + notes)

    def close(self) -> None:
        self.client.close()


class ItemGone(Exception):
    """A message listed in the task answered 404 while its MIME was read."""


def _owner(calendar: dict[str, Any]) -> str:
    return str((calendar.get("owner") or {}).get("address") or "").strip().lower()


def _path(value: Any) -> list[str] | None:
    return list(value) if value else None


def _result(task: ExtractTask, key: str, result: Literal["skipped", "failed"], reason: str) -> ItemResults:
    return ItemResults(migration_id=task.migration_id, operation=EMAILS, results=[
        ItemResult(item_key=key, result=result, folder=task.folder.display, reason=reason)])


def _now() -> datetime:
    return datetime.now(UTC)
