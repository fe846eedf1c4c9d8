"""Compare the emulator's Graph model (tests/graph_emulator/model) with Microsoft's published Graph v1.0 CSDL.

Microsoft's metadata is not part of this repository: bring a checkout of microsoftgraph/msgraph-metadata
(or just its clean_v10_metadata/cleanMetadata.xml) and point this tool at the file:

    python -m tests.graph_emulator.metadata.check --metadata PATH/cleanMetadata.xml [--verbose]

Every way the model would let the emulator accept or answer what Graph would not is a difference: a type,
property, navigation property, enum member, operation or parameter Graph does not have; a type of another
kind, base or abstractness; a property of another type or collection-ness; null allowed where Graph forbids
it; a property Graph marks read-only (key, Core.Computed, Core.Permissions Read, Core.Immutable) that the
model lets be written. The model may be stricter (leave things out, refuse null, treat more as read-only);
`--verbose` lists those choices. The exit status is 1 when there is a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as SafeET

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.graph_emulator.model import GRAPH, Model, Operation, Prop, StructuredType

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NAMESPACE = "microsoft.graph"
COMPUTED = "Org.OData.Core.V1.Computed"
PERMISSIONS = "Org.OData.Core.V1.Permissions"
IMMUTABLE = "Org.OData.Core.V1.Immutable"


@dataclass(frozen=True)
class GraphProp:
    type: str
    collection: bool
    nullable: bool
    navigation: bool
    contains: bool
    read_only: str | None  # why Graph treats it as read-only, or None


@dataclass(frozen=True)
class GraphType:
    kind: str  # entity | complex
    base: str | None
    abstract: bool
    props: dict[str, GraphProp]


@dataclass(frozen=True)
class GraphOperation:
    kind: str
    binding: str
    binding_collection: bool
    parameters: dict[str, GraphProp]
    returns: str | None
    returns_collection: bool


@dataclass
class Csdl:
    types: dict[str, GraphType] = field(default_factory=dict)
    enums: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    operations: list[tuple[str, GraphOperation]] = field(default_factory=list)


@dataclass
class Report:
    differences: list[str] = field(default_factory=list)
    stricter: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: {"types": 0, "properties": 0, "enum members": 0,
                                                             "operations": 0})


def _short(type_name: str) -> tuple[str, bool]:
    """('recipient', True) for 'Collection(graph.recipient)'; types of other namespaces keep their full name."""
    collection = type_name.startswith("Collection(")
    inner = type_name[len("Collection("):-1] if collection else type_name
    for prefix in ("graph.", f"{NAMESPACE}."):
        rest = inner[len(prefix):]
        if inner.startswith(prefix) and "." not in rest:
            return rest, collection
    return inner, collection


def _read_only_reason(annotations: list[ET.Element]) -> str | None:
    for a in annotations:
        term = a.get("Term")
        if term in (COMPUTED, IMMUTABLE) and a.get("Bool", "true") == "true":
            return term.rsplit(".", 1)[-1]
        if term == PERMISSIONS:
            members = [a.get("EnumMember", "")] + [(m.text or "") for m in a.iter(f"{EDM}EnumMember")]
            if any(m.strip().endswith("Permission/Read") for m in members):
                return "Permissions Read"
    return None


def _target(target: str) -> str:
    for prefix in (f"{NAMESPACE}.", "graph."):
        if target.startswith(prefix):
            return target[len(prefix):]
    return target


def parse(csdl: bytes) -> Csdl:
    root = SafeET.fromstring(csdl)
    out = Csdl()
    outside: dict[str, list[ET.Element]] = {}  # "message/subject" -> annotations written apart from it
    for block in root.iter(f"{EDM}Annotations"):
        outside.setdefault(_target(block.get("Target", "")), []).extend(block.findall(f"{EDM}Annotation"))
    schema = next((s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == NAMESPACE), None)
    if schema is None:
        raise ValueError(f"no {NAMESPACE} schema in the CSDL")
    for kind, tag in (("entity", "EntityType"), ("complex", "ComplexType")):
        for elem in schema.findall(f"{EDM}{tag}"):
            name = elem.get("Name", "")
            keys = {r.get("Name") for r in elem.findall(f"{EDM}Key/{EDM}PropertyRef")}
            props: dict[str, GraphProp] = {}
            for p in [*elem.findall(f"{EDM}Property"), *elem.findall(f"{EDM}NavigationProperty")]:
                pname = p.get("Name", "")
                type_name, collection = _short(p.get("Type", ""))
                reason = "key" if pname in keys else _read_only_reason(
                    [*p.findall(f"{EDM}Annotation"), *outside.get(f"{name}/{pname}", [])])
                props[pname] = GraphProp(type_name, collection, p.get("Nullable") != "false",
                                         p.tag == f"{EDM}NavigationProperty", p.get("ContainsTarget") == "true",
                                         reason)
            base = elem.get("BaseType")
            out.types[name] = GraphType(kind, _short(base)[0] if base else None, elem.get("Abstract") == "true",
                                        props)
    for elem in schema.findall(f"{EDM}EnumType"):
        out.enums[elem.get("Name", "")] = ([m.get("Name", "") for m in elem.findall(f"{EDM}Member")],
                                           elem.get("IsFlags") == "true")
    for kind in ("Action", "Function"):
        for elem in schema.findall(f"{EDM}{kind}"):
            params = elem.findall(f"{EDM}Parameter")
            if elem.get("IsBound") != "true" or not params:
                continue
            binding, binding_collection = _short(params[0].get("Type", ""))
            parameters = {}
            for p in params[1:]:
                type_name, collection = _short(p.get("Type", ""))
                parameters[p.get("Name", "")] = GraphProp(type_name, collection, p.get("Nullable") != "false",
                                                          False, False, None)
            ret = elem.find(f"{EDM}ReturnType")
            returns, returns_collection = _short(ret.get("Type", "")) if ret is not None else (None, False)
            out.operations.append((elem.get("Name", ""), GraphOperation(
                kind, binding, binding_collection, parameters, returns, returns_collection)))
    return out


def _shape(p: Prop | GraphProp) -> str:
    return f"Collection({p.type})" if p.collection else p.type


def _compare_prop(where: str, ours: Prop, theirs: GraphProp, report: Report) -> None:
    diff, stricter = report.differences, report.stricter
    if ours.navigation != theirs.navigation:
        kind = "a navigation property" if theirs.navigation else "a structural property"
        diff.append(f"{where}: Graph has it as {kind}")
        return
    if _shape(ours) != _shape(theirs):
        diff.append(f"{where}: the model says {_shape(ours)}, Graph says {_shape(theirs)}")
    if ours.navigation:
        if ours.contains != theirs.contains:
            diff.append(f"{where}: the model says ContainsTarget={ours.contains}, Graph says {theirs.contains}")
        return
    if ours.nullable and not theirs.nullable:
        diff.append(f"{where}: the model allows null, Graph says Nullable=false")
    elif theirs.nullable and not ours.nullable:
        stricter.append(f"{where}: null refused (Graph allows it)")
    if theirs.read_only and not ours.read_only:
        diff.append(f"{where}: Graph marks it read-only ({theirs.read_only}); the model lets it be written")


def _compare_type(ours: StructuredType, csdl: Csdl, report: Report) -> None:
    theirs = csdl.types.get(ours.name)
    report.checked["types"] += 1
    if theirs is None:
        report.differences.append(f"{ours.name}: Graph has no such entity or complex type")
        return
    if ours.kind != theirs.kind:
        report.differences.append(f"{ours.name}: the model has a {ours.kind} type, Graph a {theirs.kind} type")
    if ours.base != theirs.base:
        report.differences.append(f"{ours.name}: the model's base type is {ours.base}, Graph's is {theirs.base}")
    if ours.abstract != theirs.abstract:
        report.differences.append(f"{ours.name}: abstract is {ours.abstract} in the model, {theirs.abstract} in Graph")
    for p in ours.props:
        report.checked["properties"] += 1
        found = theirs.props.get(p.name)
        where = f"{ours.name}.{p.name}"
        if found is None:
            report.differences.append(f"{where}: Graph's {ours.name} has no such property")
            continue
        _compare_prop(where, p, found, report)
    left_out = sorted(set(theirs.props) - {p.name for p in ours.props})
    if left_out:
        report.stricter.append(f"{ours.name}: left out {len(left_out)}: {', '.join(left_out)}")


def _compare_operation(op: Operation, csdl: Csdl, report: Report) -> None:
    report.checked["operations"] += 1
    what = f"{op.name} on {'Collection(' + op.binding + ')' if op.binding_collection else op.binding}"
    candidates = [g for name, g in csdl.operations
                  if name == op.name and g.binding == op.binding and g.binding_collection == op.binding_collection]
    if not candidates:
        report.differences.append(f"{what}: Graph has no such bound action or function")
        return
    theirs = candidates[0]
    if op.kind != theirs.kind:
        report.differences.append(f"{what}: the model has an {op.kind}, Graph a {theirs.kind}")
    if (op.returns, op.returns_collection) != (theirs.returns, theirs.returns_collection):
        report.differences.append(f"{what}: returns {op.returns} (collection {op.returns_collection}) in the model, "
                                  f"{theirs.returns} (collection {theirs.returns_collection}) in Graph")
    for p in op.parameters:
        found = theirs.parameters.get(p.name)
        if found is None:
            report.differences.append(f"{what}: Graph has no parameter {p.name}")
            continue
        _compare_prop(f"{what}, parameter {p.name}", p, found, report)


def compare(model: Model, csdl_bytes: bytes) -> Report:
    csdl = parse(csdl_bytes)
    report = Report()
    for t in model.types.values():
        _compare_type(t, csdl, report)
    for e in model.enums.values():
        found = csdl.enums.get(e.name)
        if found is None:
            report.differences.append(f"{e.name}: Graph has no such enum type")
            continue
        members, flags = found
        if e.flags != flags:
            report.differences.append(f"{e.name}: IsFlags is {e.flags} in the model, {flags} in Graph")
        for m in e.members:
            report.checked["enum members"] += 1
            if m not in members:
                report.differences.append(f"{e.name}: Graph does not list the member '{m}'")
        left_out = [m for m in members if m not in e.members]
        if left_out:
            report.stricter.append(f"{e.name}: left out member(s) {', '.join(left_out)}")
    for op in model.operations:
        _compare_operation(op, csdl, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--metadata", required=True, type=Path,
                        help="clean_v10_metadata/cleanMetadata.xml of microsoftgraph/msgraph-metadata")
    parser.add_argument("--verbose", action="store_true", help="also list where the model is stricter")
    args = parser.parse_args(argv)
    data = args.metadata.read_bytes()
    report = compare(GRAPH, data)
    print(f"metadata: {args.metadata} (sha256 {hashlib.sha256(data).hexdigest()})")
    print("checked: " + ", ".join(f"{n} {k}" for k, n in report.checked.items()))
    if args.verbose:
        for line in report.stricter:
            print(f"stricter  {line}")
    for line in report.differences:
        print(f"DIFFERENT {line}")
    print(f"{len(report.differences)} difference(s)")
    return 1 if report.differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
