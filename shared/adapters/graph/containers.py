"""The calendars and To Do lists of a Microsoft 365 target, by name: found, or made and recorded for undo.

An event or task from another calendar or list than the source's default one names it (``X-WR-CALNAME``);
it goes into the target's calendar or list of that name (Exchange's names are case-insensitive), made where
missing. A container made here is recorded for undo (a ``folder`` record whose ref says what it is) before
anything goes in, so undo removes it after its items — only while it holds nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from shared.adapters.graph.client import GraphClient
from shared.errors import ServerRefused
from shared.events import CreatedThing

Kind = Literal["calendar", "todolist"]
#: How undo knows a container's record from a mail folder's (whose names are paths): a prefix no path has.
CONTAINER_MARK = "\x00"
_LISTING = {"calendar": ("/calendars", "name"), "todolist": ("/todo/lists", "displayName")}
LABELS = {"calendar": "the calendar", "todolist": "the To Do list"}


def container_record(kind: Kind, name: str, ref: str) -> CreatedThing:
    return CreatedThing(kind="folder", target_folder=f"{CONTAINER_MARK}{kind}{CONTAINER_MARK}{name}",
                        ref=f"{kind}:{ref}", name=name)


def container_label(target_folder: str) -> str | None:
    """"the calendar 'Work'" for a container's record, None for a mail folder's."""
    if not target_folder.startswith(CONTAINER_MARK):
        return None
    _, kind, name = target_folder.split(CONTAINER_MARK, 2)
    return f"{LABELS.get(kind, kind)} {name!r}"


class Containers:
    """Calendars and task lists by name, each looked up once per session."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client
        self.ids: dict[tuple[Kind, str], str] = {}
        self.write_ahead: Callable[[Sequence[CreatedThing]], None] = lambda _things: None

    def events_of(self, name: str | None) -> str:
        """Where an event of the calendar ``name`` is created (None: the default calendar)."""
        return f"/calendars/{self.find_or_make('calendar', name)}/events" if name else "/calendar/events"

    def task_list(self, name: str) -> str:
        return self.find_or_make("todolist", name)

    def _find(self, kind: Kind, name: str) -> str | None:
        path, field = _LISTING[kind]
        for it in self.client.pages(path, {"$top": "100", "$select": f"id,{field}"}):
            if str(it.get(field) or "").strip().lower() == name.lower():
                return str(it["id"])
        return None

    def find_or_make(self, kind: Kind, name: str) -> str:
        key = (kind, name.lower())
        if key not in self.ids:
            found = self._find(kind, name)
            if found is None:
                path, field = _LISTING[kind]
                try:
                    made = str(self.client.request("POST", path, body={field: name})["id"])
                except ServerRefused as exc:  # made meanwhile by another worker of this migration
                    again = self._find(kind, name) if "Exists" in str(exc) else None
                    if again is None:
                        raise
                    found = again
                else:
                    self.write_ahead([container_record(kind, name, made)])  # undone after its items
                    found = made
            self.ids[key] = found
        return self.ids[key]
