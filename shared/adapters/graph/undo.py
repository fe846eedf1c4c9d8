"""Undo on a Microsoft 365 target: exactly the items, folders and rules a migration created, and the automatic
replies as they were.

Messages, contacts and events are removed with ``permanentDelete`` (a plain DELETE only moves them to
Deleted Items), 20 to a ``$batch``; To Do tasks with DELETE. What is already gone counts as done (not as removed
by this run). A folder
is deleted only while it is empty and has no subfolders (the user may have filed mail into it since); a
calendar or To Do list the migration made, only while it holds no event or task.
The automatic replies get back their oldest recorded value, schedule included.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from urllib.parse import quote

from shared.adapters.graph.client import GraphClient, NotFound
from shared.adapters.graph.containers import container_label
from shared.adapters.graph.mail_target import KEY_SEP
from shared.adapters.graph.to_graph import auto_reply_to_graph
from shared.adapters.ports import Removal
from shared.counted import counted
from shared.errors import ServerRefused, Transient
from shared.events import CreatedThing
from shared.formats.settings import AutoReply


def delete_request(thing: CreatedThing) -> tuple[str, str] | None:
    """(method, path) that removes a created item for good; None for a ref this adapter did not make."""
    ref = thing.ref
    if thing.kind == "message":
        return "POST", f"/messages/{ref}/permanentDelete"
    kind, _, rest = ref.partition(":")
    if kind == "contact":
        return "POST", f"/contacts/{rest}/permanentDelete"
    if kind == "event":
        return "POST", f"/events/{rest}/permanentDelete"
    if kind == "task":
        lst, _, task = rest.partition(":")
        return "DELETE", f"/todo/lists/{lst}/tasks/{task}"
    return None


class GraphUndo:
    """The :class:`~shared.adapters.ports.Undo` of a Microsoft 365 mailbox."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def remove(self, things: Sequence[CreatedThing], batch: int) -> Iterator[Removal]:
        requests: list[tuple[str, str]] = []
        unknown = 0
        for t in things:
            for ref in t.ref.split() or [""]:
                req = delete_request(t.model_copy(update={"ref": ref})) if ref else None
                if req is None:
                    unknown += 1
                else:
                    requests.append(req)
        if unknown:
            yield Removal(unknown, 0, (f"{counted(unknown, 'item')} recorded without a Microsoft 365 id were left",))
        step = max(1, min(batch, 200))
        for i in range(0, len(requests), step):
            part = requests[i:i + step]
            removed = 0
            for answer in self.client.batch(part):
                if answer.status < 300:
                    removed += 1
                elif answer.status != 404:  # already gone (an earlier undo, or the user) is done, not removed now
                    raise Transient(f"Microsoft 365 did not delete an item ({answer.status})")
            yield Removal(len(part), removed)

    def remove_folders(self, folders: Sequence[CreatedThing]) -> Iterator[Removal]:
        refs = {f.target_folder: f.ref for f in folders}
        for name in sorted(refs, key=lambda f: (-f.count(KEY_SEP), f)):
            why = self._folder(name, refs[name])
            yield Removal(1, 0 if why else 1, (why,) if why else ())

    def _folder(self, name: str, ref: str) -> str:
        container = container_label(name)
        if container is not None:
            return self._container(container, ref)
        label = name.replace(KEY_SEP, "/")
        if not ref:
            return f"{label} was kept: the migration recorded no Microsoft 365 id for it"
        try:
            folder = self.client.get(f"/mailFolders/{ref}", {"$select": "totalItemCount,childFolderCount"})
        except NotFound:
            return ""
        if folder.get("totalItemCount"):
            held = counted(folder["totalItemCount"], "item")
            return f"{label} was kept: it holds {held} that the migration did not put there"
        if folder.get("childFolderCount"):
            return f"{label} was kept: it has subfolders that the migration did not create"
        try:
            self.client.request("POST", f"/mailFolders/{ref}/permanentDelete")
        except NotFound:
            return ""
        except ServerRefused as exc:
            return f"{label} was kept: Microsoft 365 refused to delete it ({exc})"
        return ""

    def _container(self, label: str, ref: str) -> str:
        """A calendar or To Do list the migration made: deleted once its items are gone, kept if it holds others
        (deleting a calendar or list deletes what is in it)."""
        kind, _, cid = ref.partition(":")
        base = f"/calendars/{cid}" if kind == "calendar" else f"/todo/lists/{cid}"
        items = f"{base}/events" if kind == "calendar" else f"{base}/tasks"
        try:
            left = list(self.client.get(items, {"$top": "1", "$select": "id"}).get("value") or [])
            if left:
                return f"{label} was kept: it holds items that the migration did not put there"
            self.client.request("DELETE", base)
        except NotFound:
            return ""
        except ServerRefused as exc:
            return f"{label} was kept: Microsoft 365 refused to delete it ({exc})"
        return ""

    def restore(self, settings: Sequence[CreatedThing]) -> Iterator[Removal]:
        rules = [s.ref for s in settings if s.kind == "rule"]
        if rules:
            removed, kept = 0, []
            for ref in rules:
                try:
                    self.client.request("DELETE", f"/mailFolders/inbox/messageRules/{quote(ref, safe='')}")
                except NotFound:
                    pass
                except ServerRefused as exc:
                    kept.append(f"an inbox rule was kept: Microsoft 365 refused to delete it ({exc})")
                    continue
                removed += 1
            yield Removal(len(rules), removed, tuple(kept))
        oldest: dict[str, CreatedThing] = {}
        for rec in settings:
            if rec.kind == "setting":
                oldest.setdefault(rec.name, rec)
        for name, rec in oldest.items():
            why = self._auto_reply(rec.previous) if name == "auto_reply" else \
                f"the setting {name!r} cannot be restored by this version"
            yield Removal(1, 0 if why else 1, (why,) if why else ())
        scripts = {s.name for s in settings if s.kind == "sieve_script"}
        if scripts:
            yield Removal(len(scripts), 0, ("the Sieve scripts were left: Microsoft 365 has no Sieve",))

    def _auto_reply(self, previous: str | None) -> str:
        if previous is None:
            return ""
        try:
            body = auto_reply_to_graph(AutoReply.from_json(previous), keep_schedule=True)
            self.client.request("PATCH", "/mailboxSettings", body={"automaticRepliesSetting": body})
        except (ValueError, ServerRefused) as exc:
            return f"the auto-reply was not restored: {exc}"
        return ""

    def close(self) -> None:
        self.client.close()

