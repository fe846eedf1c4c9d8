"""The building blocks of the emulator's Graph model: properties, structured types, enums and bound operations.

Types refer to each other by their short Graph name ("recipient" for microsoft.graph.recipient); primitive
types keep their EDM name ("Edm.String"). A property, member or operation that is not declared here does not
exist for the emulator: it refuses it as Graph refuses a property no type has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

STRING = "Edm.String"
BOOLEAN = "Edm.Boolean"
INT32 = "Edm.Int32"
INT64 = "Edm.Int64"
DOUBLE = "Edm.Double"
DATE = "Edm.Date"
DATE_TIME = "Edm.DateTimeOffset"
BINARY = "Edm.Binary"


@dataclass(frozen=True)
class Prop:
    """A structural or navigation property (or an operation's parameter).

    `read_only`: the emulator ignores it in a request body, as Graph does for what the server sets.
    `contains`: a navigation property whose targets live inside the parent (OData's ContainsTarget).
    """

    name: str
    type: str
    collection: bool = False
    nullable: bool = True
    read_only: bool = False
    navigation: bool = False
    contains: bool = False


@dataclass(frozen=True)
class StructuredType:
    name: str
    kind: Literal["entity", "complex"]
    base: str | None
    props: tuple[Prop, ...]
    abstract: bool = False


@dataclass(frozen=True)
class EnumType:
    name: str
    members: tuple[str, ...]
    flags: bool = False


@dataclass(frozen=True)
class Operation:
    """A bound action or function: `binding` is the type it is called on (a collection of it when
    `binding_collection`)."""

    name: str
    kind: Literal["Action", "Function"]
    binding: str
    binding_collection: bool
    parameters: tuple[Prop, ...]
    returns: str | None
    returns_collection: bool = False


def prop(name: str, type_: str, *, many: bool = False, nullable: bool = True, read_only: bool = False) -> Prop:
    return Prop(name, type_, many, nullable, read_only)


def nav(name: str, type_: str, *, many: bool = True, contains: bool = True) -> Prop:
    return Prop(name, type_, many, True, False, navigation=True, contains=contains)


def entity(name: str, base: str | None, *props: Prop, abstract: bool = False) -> StructuredType:
    return StructuredType(name, "entity", base, props, abstract)


def complex_type(name: str, *props: Prop, base: str | None = None) -> StructuredType:
    return StructuredType(name, "complex", base, props)


def enum(name: str, *members: str, flags: bool = False) -> EnumType:
    return EnumType(name, members, flags)


@dataclass(frozen=True)
class Model:
    """Every type and operation of one model, checked for references that lead nowhere."""

    types: dict[str, StructuredType]
    enums: dict[str, EnumType]
    operations: tuple[Operation, ...]

    @classmethod
    def of(cls, types: list[StructuredType], enums: list[EnumType], operations: list[Operation]) -> Model:
        by_name = {t.name: t for t in types}
        enum_by_name = {e.name: e for e in enums}
        if len(by_name) != len(types) or len(enum_by_name) != len(enums) or set(by_name) & set(enum_by_name):
            raise ValueError("a type or enum is declared twice")
        model = cls(by_name, enum_by_name, tuple(operations))
        problems = model.dangling()
        if problems:
            raise ValueError("the Graph model refers to what it does not declare: " + "; ".join(problems))
        return model

    def knows(self, type_name: str) -> bool:
        return type_name.startswith("Edm.") or type_name in self.types or type_name in self.enums

    def dangling(self) -> list[str]:
        """References to types the model does not declare (bases, property types, operation types)."""
        out = []
        for t in self.types.values():
            if t.base is not None and t.base not in self.types:
                out.append(f"{t.name}: base {t.base}")
            names = [p.name for p in t.props]
            if len(set(names)) != len(names):
                out.append(f"{t.name}: a property is declared twice")
            out += [f"{t.name}.{p.name}: {p.type}" for p in t.props if not self.knows(p.type)]
        for op in self.operations:
            for p in op.parameters:
                if not self.knows(p.type):
                    out.append(f"{op.name}({p.name}): {p.type}")
            for used in (op.binding, op.returns):
                if used is not None and not self.knows(used):
                    out.append(f"{op.name} on {op.binding}: {used}")
        return out
