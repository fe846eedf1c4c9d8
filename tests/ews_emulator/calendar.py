"""Calendar specifics: recurrence expansion, occurrences and exceptions (ModifiedOccurrences/DeletedOccurrences)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .soap import EwsError, schema_error
from .store import Item, Mailbox

if TYPE_CHECKING:
    from .server import Context


def on_create(item: Item) -> None:
    pass


def render_calendar_computed(parent: Any, name: str, item: Item, mbx: Mailbox) -> None:
    pass


def resolve_occurrence(ctx: Context, el: Any) -> tuple[Mailbox, Item]:
    raise schema_error("occurrences not implemented")


__all__ = ["EwsError"]
