"""Lookups over the emulator's Graph model (model/) that the validator, query parser and handlers ask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .model import GRAPH, EnumType, Model, Prop, StructuredType

__all__ = ["Operation", "Prop", "Schema", "load_schema"]


@dataclass(frozen=True)
class Operation:
    name: str
    kind: str  # Action | Function
    binding: str
    binding_collection: bool
    parameters: dict[str, Prop]
    returns: str | None


class Schema:
    """Properties of a type with its base types, derived types, enums, operations, read-only properties."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.enums: dict[str, EnumType] = model.enums

    def is_structured(self, name: str) -> bool:
        return name in self.model.types

    def is_entity(self, name: str) -> bool:
        found = self.model.types.get(name)
        return found is not None and found.kind == "entity"

    def definition(self, name: str) -> StructuredType:
        found = self.model.types.get(name)
        if found is None:
            raise KeyError(f"type {name!r} is not in the emulator's Graph model")
        return found

    def chain(self, name: str) -> list[str]:
        """The type and its base types, most derived first."""
        out = []
        cur: str | None = name
        while cur:
            out.append(cur)
            cur = self.definition(cur).base
        return out

    def properties(self, name: str) -> dict[str, Prop]:
        """Structural and navigation properties of a type, including those of its base types."""
        return _properties(self, name)

    def read_only(self, name: str) -> frozenset[str]:
        """Properties of a type (with its base types) that a request body may carry but cannot change."""
        return frozenset(p.name for p in self.properties(name).values() if p.read_only)

    def is_abstract(self, name: str) -> bool:
        return self.definition(name).abstract

    def derives_from(self, name: str, base: str) -> bool:
        return base in self.chain(name)

    def enum_members(self, name: str) -> list[str]:
        return list(self.enums[name].members)

    def enum_is_flags(self, name: str) -> bool:
        return self.enums[name].flags

    def operation(self, name: str, binding: str, collection: bool) -> Operation | None:
        """The bound action/function `name` on `binding` (or one of its base types)."""
        for base in self.chain(binding):
            for op in self.model.operations:
                if op.name == name and op.binding == base and op.binding_collection == collection:
                    return Operation(name, op.kind, op.binding, collection, {p.name: p for p in op.parameters},
                                     op.returns)
        return None

    def navigation(self, name: str, prop: str) -> Prop | None:
        p = self.properties(name).get(prop)
        return p if p is not None and p.navigation else None


def _properties(schema: Schema, name: str) -> dict[str, Prop]:
    out: dict[str, Prop] = {}
    for t in reversed(schema.chain(name)):
        for p in schema.definition(t).props:
            out[p.name] = p
    return out


@cache
def load_schema() -> Schema:
    return Schema(GRAPH)
