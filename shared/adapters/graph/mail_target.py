"""Microsoft 365 (Graph) as an e-mail target: the folder tree, and messages created with their state.

A neutral path's special root (``INBOX``, ``\\Sent``…) is the mailbox's well-known folder of that role
(``inbox``, ``sentitems``, ``drafts``, ``deleteditems``, ``junkemail``, ``archive``), whatever its localized
name; other folders go under the message folder root. Messages are created from JSON with their MAPI
properties (:mod:`.mime_message` says why not from MIME), large attachments through upload sessions.
Each created message carries the mailferry marker (a named extended property): a retry after a crash
looks for the markers of the messages still in flight instead of creating them twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from shared import folder_map
from shared.adapters.graph.client import BadRequest, GraphClient, NotFound
from shared.adapters.graph.mime_message import MARKER, FileAttachment, graph_message
from shared.adapters.graph.uploads import upload_attachment
from shared.adapters.mail_batches import ensure_each, write_mail
from shared.adapters.ports import Announce, Outgoing, Placed, PlacementSink, WriteContext
from shared.adapters.records import MailRecord
from shared.errors import ItemRejected, ServerRefused
from shared.folder_map import INBOX
from shared.formats.keywords import left_out_by_exchange

KEY_SEP = "\x1f"
#: A neutral root's role → Graph's well-known folder name.
WELL_KNOWN = {INBOX: "inbox", "\\Sent": "sentitems", "\\Drafts": "drafts", "\\Trash": "deleteditems",
              "\\Junk": "junkemail", "\\Archive": "archive"}
PENDING = "pending\x00"  # the marker of a message whose attachments are still on their way
SMALL_ATTACHMENT = 3 * 1024 * 1024  # below this, POST /attachments; above, an upload session (Graph's advice)
#: Said of every message in the report: Exchange renders a JSON-created message's MIME from its properties.
HEADERS_RENDERED = "headers and MIME re-rendered by Exchange (the original header block kept as Internet headers)"


def marker(scope: str, key: str) -> str:
    return f"{scope}\x00{key}"


class GraphTarget:
    """A mailbox's e-mail target (:class:`~shared.adapters.ports.MailTarget`) through Graph."""

    def __init__(self, client: GraphClient, scope: str = "") -> None:
        self.client = client
        self.scope = scope
        self._folders: dict[str, str] = {}  # folder key → Graph folder id
        self._children: dict[str, dict[str, str]] = {}  # Graph folder id → lowercased name → child id
        self._well_known: dict[str, str] | None = None

    # -- folders -------------------------------------------------------------------------------
    def well_known(self) -> dict[str, str]:
        """Graph's id of each well-known folder this mailbox has (one $batch)."""
        if self._well_known is None:
            names = ["msgfolderroot", *WELL_KNOWN.values()]
            answers = self.client.batch([("GET", f"/mailFolders/{n}?$select=id") for n in names])
            found = {}
            for name, answer in zip(names, answers, strict=True):
                if answer.status != 404:
                    found[name] = str(self.client.answer_json(answer)["id"])
            self._well_known = found
        return self._well_known

    def folder_name(self, path: Sequence[str]) -> str:
        return KEY_SEP.join(path)

    def folder_key(self, path: Sequence[str]) -> str:
        """Microsoft 365 compares folder names without regard to case (case-folded here: a little wider, never
        narrower); a special root is the mailbox's well-known folder of that use, by its (localized) name, which an
        ordinary folder of that name would also land in."""
        head = path[0]
        use, own = folder_map.parse_root(head) if head != INBOX else (INBOX, INBOX)
        special = self.well_known().get(WELL_KNOWN.get(use or "", ""), "")
        root = own
        if special:  # its name among the root's folders (the ones the root's children are found by)
            root = next((name for name, fid in self._children_of(self.well_known()["msgfolderroot"]).items()
                         if fid == special), own)
        return KEY_SEP.join([root, *path[1:]]).casefold()

    def folder_ref(self, name: str) -> str:
        return self._folders.get(name, "")

    def ensure_folders(self, names: Sequence[str], announce: Announce | None = None) -> list[str]:
        """Every folder and its parents. A name Microsoft 365 answers 400 to (the displayName is all a create
        sends) costs only that folder and those below it (:func:`ensure_each`). Folders are recorded by the
        id the create gives, so nothing is announced before it."""
        return ensure_each(names, self._ensure, (BadRequest,), "Microsoft 365")

    def _root(self, head: str) -> tuple[str, bool]:
        """(Graph id, created now) of a path's first component: a well-known folder for a special root."""
        known = self.well_known()
        use, own = folder_map.parse_root(head) if head != INBOX else (INBOX, INBOX)
        special = known.get(WELL_KNOWN.get(use or "", ""), "")
        # an ordinary folder, or a role this mailbox has no folder for: its own name below the root
        return (special, False) if special else self._get_or_create(known["msgfolderroot"], own)

    def ensure_folder(self, name: str) -> list[str]:
        """Find or create every level; the keys of the folders actually created, parents first."""
        created: list[str] = []
        self._ensure(name, created)
        return created

    def _ensure(self, name: str, created: list[str]) -> None:
        """:meth:`ensure_folder`, adding each folder to ``created`` as soon as it is made (a refusal further
        down the path still leaves the parents made before it on the record, for undo)."""
        if name in self._folders:
            return
        head, *rest = name.split(KEY_SEP)
        key = head
        if key not in self._folders:
            self._folders[key], made = self._root(head)
            created += [key] if made else []
        parent = self._folders[key]
        for part in rest:
            key = f"{key}{KEY_SEP}{part}"
            if key not in self._folders:
                self._folders[key], made = self._get_or_create(parent, part)
                created += [key] if made else []
            parent = self._folders[key]

    def folder_id(self, name: str) -> str:
        """The Graph id of a folder made or found by :meth:`ensure_folder`."""
        return self._folders[name]

    def _children_of(self, parent: str, fresh: bool = False) -> dict[str, str]:
        if fresh or parent not in self._children:
            self._children[parent] = {str(f.get("displayName") or "").lower(): str(f["id"]) for f in self.client.pages(
                f"/mailFolders/{parent}/childFolders", {"$top": "100", "$select": "id,displayName"})}
        return self._children[parent]

    def _get_or_create(self, parent: str, name: str) -> tuple[str, bool]:
        found = self._children_of(parent).get(name.lower())
        if found:
            return found, False
        try:
            made = self.client.request("POST", f"/mailFolders/{parent}/childFolders", body={"displayName": name})
        except ServerRefused as exc:
            if "ErrorFolderExists" not in str(exc):
                raise
            again = self._children_of(parent, fresh=True).get(name.lower())
            if again is None:
                raise
            return again, False
        fid = str(made["id"])
        self._children[parent][name.lower()] = fid
        return fid, True

    # -- messages ------------------------------------------------------------------------------
    def write(self, records: Sequence[MailRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        self.scope = ctx.pair_id
        write_mail(self, records, ctx, sink)

    def append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        return [[self.create(folder, m) for m in msgs] for folder, msgs in jobs]

    def create(self, folder: str, msg: Outgoing) -> Placed | ItemRejected:
        """One message created in the folder, with its large attachments; refused ones are reported.

        A message whose attachments follow the create is marked *pending* until the last byte is in: a crash
        in between leaves a pending copy, which the retry removes and makes again rather than taking it."""
        final = marker(self.scope, identity(msg))
        try:
            planned = graph_message(msg.data, msg.flags, msg.internaldate, final)
        except Exception as exc:  # pure conversion of this message's bytes: it alone fails, not its batch
            return ItemRejected(f"the message could not be converted for Microsoft 365: {type(exc).__name__}: "
                                f"{exc}"[:300])
        if planned.uploads:
            _set_marker(planned.body, PENDING + final)
        try:
            made = self.client.request("POST", f"/mailFolders/{self._folders[folder]}/messages",
                                       body=planned.body)
        except ServerRefused as exc:
            return ItemRejected(f"Microsoft 365 refused the message: {exc}"[:300])
        ref = str(made["id"])
        if planned.uploads:
            for att in planned.uploads:
                self.attach(ref, att)
            self.client.request("PATCH", f"/messages/{ref}", body={
                "singleValueExtendedProperties": [{"id": MARKER, "value": final}]})
        return Placed(folder=folder, ref=ref, lossy=(HEADERS_RENDERED, *planned.lossy),
                      not_kept=left_out_by_exchange(msg.flags))

    def attach(self, message: str, att: FileAttachment) -> None:
        """A large attachment: POSTed whole below 3 MB, else through an upload session in pieces."""
        if len(att.content) < SMALL_ATTACHMENT:
            self.client.request("POST", f"/messages/{message}/attachments", body=att.json())
            return
        session = self.client.request("POST", f"/messages/{message}/attachments/createUploadSession",
                                      body={"AttachmentItem": att.upload_item()})
        upload_attachment(self.client, _upload_url(self.client, str(session["uploadUrl"])), att.content)

    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """The message this migration created before a crash: the folder's messages with our marker."""
        want = marker(self.scope, identity(msg))
        for mid, value in self.marked(self._folders[folder]):
            if value == want and mid not in exclude:  # its notes, as when it was created
                lossy = graph_message(msg.data, msg.flags, msg.internaldate, want).lossy
                return Placed(folder=folder, ref=mid, lossy=(HEADERS_RENDERED, *lossy),
                              not_kept=left_out_by_exchange(msg.flags))
            if value == PENDING + want:  # ours, its attachments never all arrived: gone, made again
                try:
                    self.client.request("POST", f"/messages/{mid}/permanentDelete")
                except NotFound:
                    pass
        return None

    def marked(self, folder_id: str) -> list[tuple[str, str]]:
        """(id, marker) of every message of the folder that has a marker."""
        params = {"$select": "id", "$top": "1000",
                  "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER}')"}
        out = []
        for m in self.client.pages(f"/mailFolders/{folder_id}/messages", params):
            for p in m.get("singleValueExtendedProperties") or []:
                out.append((str(m["id"]), str(p.get("value") or "")))
        return out

    def close(self) -> None:
        self.client.close()


def _set_marker(body: dict[str, Any], value: str) -> None:
    for prop in body["singleValueExtendedProperties"]:
        if prop["id"] == MARKER:
            prop["value"] = value


def identity(msg: Outgoing) -> str:
    """What tells a message from another in a folder: its bytes and its received time (two messages alike in
    both are one message twice; the Message-ID alone is not unique in real mailboxes)."""
    return f"{hashlib.sha256(msg.data).hexdigest()[:40]}@{int(msg.internaldate.timestamp())}"


def _upload_url(client: GraphClient, url: str) -> str:
    """Upload URLs are pre-authenticated and point at Outlook's service (or Graph's own host)."""
    host = urlsplit(url).hostname or ""
    if urlsplit(url).scheme != "https" and urlsplit(url).netloc != urlsplit(client.graph_url).netloc:
        raise ServerRefused("Graph gave an upload address that is not HTTPS; it is not followed")
    if host != urlsplit(client.graph_url).hostname and not host.endswith((".office.com", ".office365.com")):
        raise ServerRefused("Graph gave an upload address on another service; it is not followed")
    return url
