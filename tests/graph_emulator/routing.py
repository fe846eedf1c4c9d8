"""Matching a Graph path (after the user part) to a handler; nested childFolders chains collapse first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from .call import Answer, Call

Handler = Callable[["Call", dict[str, str]], "Answer"]

# Permission areas: the application roles / delegated scopes that allow reading and writing in each.
AREAS = {
    "Mail": ({"Mail.Read", "Mail.ReadWrite"}, {"Mail.ReadWrite"}),
    "Contacts": ({"Contacts.Read", "Contacts.ReadWrite"}, {"Contacts.ReadWrite"}),
    "Calendars": ({"Calendars.Read", "Calendars.ReadWrite"}, {"Calendars.ReadWrite"}),
    "Tasks": ({"Tasks.Read", "Tasks.ReadWrite", "Tasks.Read.All", "Tasks.ReadWrite.All"},
              {"Tasks.ReadWrite", "Tasks.ReadWrite.All"}),
    "MailboxSettings": ({"MailboxSettings.Read", "MailboxSettings.ReadWrite"}, {"MailboxSettings.ReadWrite"}),
    "User": ({"User.Read", "User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All"}, {"User.ReadWrite.All"}),
}
# Application tokens carry only these for To Do (Tasks.ReadWrite is a delegated permission only).
APP_ONLY_TASKS = {"Tasks.Read.All", "Tasks.ReadWrite.All"}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # "mailFolders/{folder}/messages"
    handler: Handler
    area: str

    def match(self, segments: list[str]) -> dict[str, str] | None:
        parts = self.pattern.split("/") if self.pattern else []
        if len(parts) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, seg in zip(parts, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = seg
            elif part != seg:
                return None
        return params


def collapse_children(segments: list[str], parent_of: Callable[[str], str | None],
                      resolve: Callable[[str], str | None]) -> list[str]:
    """`mailFolders/A/childFolders/B/messages` -> `mailFolders/B/messages`, once B is known to be A's child."""
    out = list(segments)
    while len(out) >= 4 and out[0] in ("mailFolders", "contactFolders") and out[2] == "childFolders":
        parent, child = out[1], out[3]
        actual = parent_of(child)
        if actual is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if actual != resolve(parent):
            raise GraphError(404, "ErrorItemNotFound", "The specified folder is not a child of the folder named.")
        out = [out[0], child, *out[4:]]
    return out


def find(routes: list[Route], method: str, segments: list[str]) -> tuple[Route, dict[str, str]]:
    matched_path = False
    for route in routes:
        params = route.match(segments)
        if params is None:
            continue
        matched_path = True
        if route.method == method:
            return route, params
    if matched_path:
        raise GraphError(405, "BadRequest", f"The HTTP method '{method}' is not allowed on this resource.")
    seg = segments[-1] if segments else ""
    raise bad_request(f"Resource not found for the segment '{seg}'.")


def allowed(area: str, method: str, permissions: frozenset[str], is_app: bool) -> bool:
    read, write = AREAS[area]
    wanted = read if method == "GET" else write
    if area == "Tasks" and is_app:
        wanted = wanted & APP_ONLY_TASKS
    return bool(wanted & permissions)
