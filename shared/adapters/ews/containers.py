"""Other calendars and task folders of an Exchange mailbox: read below the default ones, found or made by name.

Outlook keeps a mailbox's other calendars as folders below Calendar (IPF.Appointment) and other task lists
below Tasks (IPF.Task). The source names such a folder in each of its items (``X-WR-CALNAME``); the target
puts an item naming one into the folder of that name below its own default folder (case-insensitively, as
Exchange compares names), made where missing and recorded for undo (a folder record with its FolderId)
before anything goes in: undo deletes it after its items, only while it is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from exchangelib import Account
from exchangelib.errors import ErrorFolderExists
from exchangelib.folders import DEEP, SHALLOW, FolderCollection

from shared.adapters.ews.paths import KEY_SEP
from shared.events import CreatedThing


def _below(account: Account, parent: Any, depth: str) -> list[Any]:
    """The folders below ``parent`` of its own class (a calendar's calendars, a task folder's task folders)."""
    found = FolderCollection(account=account, folders=[parent]).find_folders(depth=depth)
    return [f for f in found if isinstance(f, type(parent)) and f.name]


def containers(account: Account, default: Any) -> Iterator[tuple[Any, str | None]]:
    """(folder, its name for the items, None for the default one): the default folder, then every folder of
    its class below it."""
    yield default, None
    for folder in _below(account, default, DEEP):
        yield folder, str(folder.name)


class FolderByName:
    """Folders below a default folder by name, each looked up once per batch."""

    def __init__(self, account: Account, write_ahead: Callable[[Sequence[CreatedThing]], None]) -> None:
        self.account = account
        self.write_ahead = write_ahead
        self.found: dict[tuple[str, str], Any] = {}

    def _find(self, parent: Any, name: str) -> Any | None:
        return next((f for f in _below(self.account, parent, SHALLOW) if str(f.name).lower() == name.lower()), None)

    def folder(self, parent: Any, name: str) -> Any:
        key = (str(parent.name), name.lower())
        if key not in self.found:
            folder = self._find(parent, name)
            if folder is None:
                made = type(parent)(parent=parent, name=name)
                try:
                    made.save()
                except ErrorFolderExists:  # made meanwhile by another worker of this migration
                    folder = self._find(parent, name)
                    if folder is None:
                        raise
                else:
                    self.write_ahead([CreatedThing(kind="folder", target_folder=KEY_SEP.join([str(parent.name), name]),
                                                   ref=str(made.id))])
                    folder = made
            self.found[key] = folder
        return self.found[key]
