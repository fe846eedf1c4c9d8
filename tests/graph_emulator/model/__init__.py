"""The emulator's own model of the Microsoft Graph v1.0 surface it serves, written by us.

Every request body, query option and route is checked against it, and every answer must fit it: what is not
declared here is refused with Graph's error for an unknown property. It covers only what the emulator does
(stricter than Graph, never looser); `tests/graph_emulator/metadata/check.py` compares it with Microsoft's
published CSDL, which a developer brings along and does not commit.
"""

from __future__ import annotations

from . import calendar, common, contacts, mail, todo, user
from .declare import EnumType, Model, Operation, Prop, StructuredType
from .operations import OPERATIONS

GRAPH = Model.of(
    [*common.TYPES, *mail.TYPES, *calendar.TYPES, *contacts.TYPES, *todo.TYPES, *user.TYPES],
    [*common.ENUMS, *mail.ENUMS, *calendar.ENUMS, *todo.ENUMS, *user.ENUMS],
    OPERATIONS,
)

__all__ = ["GRAPH", "EnumType", "Model", "Operation", "Prop", "StructuredType"]
