"""What a batch given up as poison must tell the tracker. Pure code.

Every item in such a batch is reported failed under its own operation (e-mail, folder,
contact, group, event, task, rule, Sieve script, auto-reply), so each operation still
gets a result for every item it planned and its migration ends instead of running
forever. An undo in such a batch is reported as a failed undo, which the user can ask
for again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.events import (
    ControlCommand,
    Event,
    FolderItem,
    ItemResult,
    ItemResults,
    MailChunk,
    MailItem,
    PimItem,
    SieveScriptItem,
    UndoFinished,
)
from shared.item_keys import folder_key
from shared.migration_state import EMAILS as OPERATION
from shared.migration_state import OPERATION_OF


@dataclass
class GivenUp:
    """The reports for one poison batch: item results per migration and operation, and failed undos."""

    results: defaultdict[tuple[str, str], list[ItemResult]] = field(default_factory=lambda: defaultdict(list))
    undos: list[UndoFinished] = field(default_factory=list)

    def events(self) -> list[Event]:
        out: list[Event] = [ItemResults(migration_id=mid, operation=op, results=rs)
                            for (mid, op), rs in self.results.items()]
        return out + list(self.undos)


def _result(ev: Event, reason: str) -> tuple[str, ItemResult] | None:
    """(operation, failed result) for one item, or None for what is not an item of its own."""
    if isinstance(ev, MailItem) or (isinstance(ev, MailChunk) and ev.last and ev.meta is not None):
        meta = ev.meta
        assert meta is not None
        return OPERATION, ItemResult(item_key=meta.item_key, result="failed", folder=meta.folder.display,
                                     subject=meta.subject, reason=reason)
    if isinstance(ev, MailChunk):
        # The last chunk names the item; the earlier ones are parts of it, reported with it.
        return (OPERATION, ItemResult(item_key=ev.item_key, result="failed", reason=reason)) if ev.last else None
    if isinstance(ev, FolderItem):
        return OPERATION, ItemResult(item_key=folder_key(ev.folder.folder_id), item_type="folder", result="failed",
                                     folder=ev.folder.display, reason=reason)
    if isinstance(ev, SieveScriptItem):
        return "rules", ItemResult(item_key=ev.item_key, item_type="rule", result="failed", subject=ev.name,
                                   reason=reason)
    if isinstance(ev, PimItem) and ev.item_type in OPERATION_OF:
        return OPERATION_OF[ev.item_type], ItemResult(item_key=ev.item_key, item_type=ev.item_type,  # type: ignore[arg-type]
                                                      result="failed", subject=ev.name, reason=reason)
    return None


def given_up(events: Iterable[Event], error: str) -> GivenUp:
    """The reports for the decoded events of a batch that is given up; ``error`` is what kept failing."""
    reason = f"given up after repeated errors ({error}); the item was set aside for an operator"
    out = GivenUp()
    for ev in events:
        if isinstance(ev, ControlCommand):
            if ev.command == "undo":
                out.undos.append(UndoFinished(migration_id=ev.migration_id, ok=False, removed_messages=0,
                                              removed_folders=0, restored_settings=0, kept=[],
                                              reason=f"the undo was given up after repeated errors ({error}); "
                                                     "ask for it again"))
            continue
        found = _result(ev, reason)
        if found is not None:
            op, res = found
            out.results[(ev.migration_id, op)].append(res)
    return out
