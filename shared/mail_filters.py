"""A migration's mail filters (:class:`shared.events.MailFilters`): which folders, which dates. Pure code.

A folder is named as the user knows it (``Archive/2024``, the path the status report shows) and covers its
subfolders; names compare without regard to case. The date window is on the received date (INTERNALDATE): a
pre-stage pass copies what was received before the cut-over, and the final pass, without a window, copies the
rest (the ledger skips what the pre-stage already copied).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shared.events import ExtractTask, FolderRef, MailFilters

OUTSIDE_WINDOW = "received outside the migration's date window (not asked for)"


def _covers(names: Sequence[str], display: str) -> bool:
    folder = display.casefold()
    return any(folder == n.casefold().strip("/") or folder.startswith(n.casefold().strip("/") + "/")
               for n in names if n.strip("/"))


def folder_wanted(ref: FolderRef, filters: MailFilters | None) -> bool:
    if filters is None:
        return True
    names = (ref.display, ref.source_name)
    if filters.include_folders and not any(_covers(filters.include_folders, n) for n in names):
        return False
    return not any(_covers(filters.exclude_folders, n) for n in names)


def wanted_folders(refs: Sequence[tuple[FolderRef, bool]], filters: MailFilters | None
                   ) -> list[tuple[FolderRef, bool]]:
    """The folders to migrate; an included folder's parents stay (a tree cannot skip a level) but hold no mail."""
    kept = [(ref, selectable) for ref, selectable in refs if folder_wanted(ref, filters)]
    paths = {tuple(ref.path[:i]) for ref, _s in kept for i in range(1, len(ref.path))}
    return [(ref, selectable and folder_wanted(ref, filters)) for ref, selectable in refs
            if folder_wanted(ref, filters) or tuple(ref.path) in paths]


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def in_window(received: datetime, task: ExtractTask) -> bool:
    """Whether a message received at ``received`` is one the task's migration asked for."""
    if task.received_before is not None and _utc(received) >= _utc(task.received_before):
        return False
    return task.received_since is None or _utc(received) >= _utc(task.received_since)
