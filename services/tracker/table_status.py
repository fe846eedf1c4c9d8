"""The tracker's status keeper on faust tables: the per-migration status is the table, Redis its projection.

:class:`TableStatus` implements :class:`shared.migration_status.StatusKeeper` over two faust tables — the
status fields per migration (``<mid>``) and one result per item (``<mid>|<item_key>``, what makes a
repeated progress event change nothing) — whose changelog topics bring them back after a restart. The
tracker (:class:`services.tracker.service.Tracker`) folds into it exactly as into Redis (the same pure
fold), and each save is projected into the Redis view through :class:`shared.status_store.StatusStore`
**before** the tables are written: a crash between the two folds the events again after the restart, and
the projection's scripts count each result once and refuse a state move already made.

Intake moves a migration itself into ``cancelling`` or ``undoing`` (in Redis, answering the user at
once); a load takes that move into the table's status when the table's state may make it.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import replace
from typing import Any

from shared import migration_state as ms
from shared.migration_status import Status
from shared.status_store import StatusStore

# The states only intake moves a migration into.
INTAKE_MOVES = (ms.CANCELLING, ms.UNDOING)


def result_key(mid: str, item_key: str) -> str:
    return f"{mid}|{item_key}"


class TableStatus:
    def __init__(self, statuses: MutableMapping[str, Any], results: MutableMapping[str, Any],
                 view: StatusStore) -> None:
        self.statuses = statuses
        self.results = results
        self.view = view

    def load(self, mid: str, item_keys: Sequence[str]) -> Status | None:
        """The table's status (the Redis view's for a migration the table has not seen yet: intake created
        it), with intake's own move taken in, and the results of ``item_keys`` the table holds."""
        seen = self.view.load(mid, ())
        held = self.statuses.get(mid)
        if held is None:
            if seen is None:
                return None
            fields = dict(seen.fields)
        else:
            fields = dict(held)
            if seen is not None and seen.state in INTAKE_MOVES and ms.can_move(fields.get("state", ""), seen.state):
                fields["state"] = seen.state
        found = {key: self.results.get(result_key(mid, key)) for key in dict.fromkeys(item_keys)}
        return Status(fields, {key: str(r) for key, r in found.items() if r is not None})

    def save(self, mid: str, before: Status, after: Status) -> set[str]:
        """Project what was folded since ``before`` into Redis, then write the tables. The states moved into
        (in Redis: a move already made there is not made again)."""
        added = after.added[len(before.added):]
        moves = after.moves[len(before.moves):]
        seen = self.view.load(mid, [r.item_key for r in added])
        moved: set[str] = set()
        if seen is not None:
            moved = self.view.save(mid, seen, replace(after, added=added, moves=moves))
        for r in added:
            self.results[result_key(mid, r.item_key)] = r.result
        self.statuses[mid] = {name: value for name, value in after.fields.items() if name != "rev"}
        return moved

    def fields(self, mid: str) -> dict[str, str]:
        return self.view.fields(mid)

    def errors(self, mid: str) -> list[dict[str, Any]]:
        return self.view.errors(mid)

    def count_by_state(self) -> dict[str, int]:
        return self.view.count_by_state()
