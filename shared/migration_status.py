"""A migration's status as the tracker folds it (:mod:`services.tracker.fold`), and as the stores keep it.

The fields are the status view's (``shared.redis_keys.migration``): state, operation, plan totals,
counters ``<result>:<item type>`` and ``bytes:<item type>``, times, the undo's figures. Besides them a
status holds the results already counted for the item keys it was loaded with (what makes a repeated
report harmless) and two logs of what was folded since it was loaded: the results counted and the
state moves, which the store appends (the report, the history). Immutable: a fold returns a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.events import ItemResult

COUNT_PREFIXES = ("done:", "failed:", "skipped:", "bytes:")


def is_count(field: str) -> bool:
    """A counter the results add to (the store adds them itself, once per new result)."""
    return field.startswith(COUNT_PREFIXES)


@dataclass(frozen=True)
class Status:
    fields: Mapping[str, str]
    results: Mapping[str, str]  # item key → result, for the keys loaded and those folded since
    added: tuple[ItemResult, ...] = ()  # results counted since loading, in order
    moves: tuple[tuple[str, str], ...] = ()  # (state, at) moved into since loading, in order

    @property
    def state(self) -> str:
        return self.fields.get("state", "")


class StatusKeeper(Protocol):
    """What the tracker needs of the status store (:class:`shared.status_store.StatusStore` in Redis,
    :class:`shared.memory.records.MemoryRecords` in memory)."""

    def load(self, mid: str, item_keys: Sequence[str]) -> Status | None:
        """The status with the results of ``item_keys`` already counted; None for an unknown migration."""

    def save(self, mid: str, before: Status, after: Status) -> set[str]:
        """Store what was folded since ``before``; the states actually moved into (a move is refused when
        the state changed meanwhile, e.g. intake's cancel)."""

    def fields(self, mid: str) -> dict[str, str]: ...

    def errors(self, mid: str) -> list[dict[str, Any]]: ...

    def count_by_state(self) -> dict[str, int]: ...


class StatusCreator(Protocol):
    """Where intake records a new migration: its status fields, its spec (JSON) and its wrapped data key."""

    def create(self, mid: str, fields: dict[str, str], spec_json: str, wrapped_key: str) -> None: ...

    def abandon(self, mid: str, reason: str) -> None:
        """``failed`` with ``reason`` at once: the request could not be handed to the workers."""
