"""Restriction (search filter) and SortOrder evaluation for FindItem / FindFolder.

Supports the operators exchangelib emits for simple filters: IsEqualTo, IsNotEqualTo, IsGreaterThan,
IsGreaterThanOrEqualTo, IsLessThan, IsLessThanOrEqualTo, Exists, Contains, And, Or, Not. Anything else is
refused with a schema fault naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .extended import check_constant, same_property
from .shapes import Path, parse_path, path_elements
from .soap import T_NS, local, schema_error, tq

Predicate = Callable[[Any], bool]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def _value(elem: Any, path: Path) -> str | None:
    """Text value of a property path in an item/folder element (None when absent)."""
    if path.kind == "extended":
        for ep in elem.findall(tq("ExtendedProperty")):
            if same_property(ep.find(tq("ExtendedFieldURI")), path.ext):
                return str(ep.findtext(tq("Value")) or "")
        return None
    found = elem.find(tq(path.element))
    if found is None:
        return None
    if path.kind == "indexed":
        entry = next((e for e in found if e.get("Key") == path.index), None)
        if entry is None:
            return None
        if path.sub_field:
            text = entry.findtext(tq(path.sub_field))
            return None if text is None else str(text)
        return str(entry.text or "")
    if local(found) in ("FolderId", "ParentFolderId"):
        return str(found.get("Id"))
    if len(found):
        return " ".join(t.strip() for t in found.itertext() if t.strip())
    return str(found.text or "")


def _norm(v: str) -> Any:
    """Comparable form: numbers and xs:boolean ("true"/"false" = 1/0) numerically, text case-insensitively."""
    low = v.strip().lower()
    if low in ("true", "false"):
        return (0, 1.0 if low == "true" else 0.0)
    try:
        return (0, float(low))
    except ValueError:
        return (1, low)


def _build(el: Any) -> Predicate:
    op = local(el)
    if op in ("And", "Or"):
        parts = [_build(c) for c in el]
        if op == "And":
            return lambda e: all(p(e) for p in parts)
        return lambda e: any(p(e) for p in parts)
    if op == "Not":
        if len(el) != 1:
            raise schema_error("Not takes exactly one child.")
        inner = _build(el[0])
        return lambda e: not inner(e)
    paths = path_elements(el)
    if len(paths) != 1:
        raise schema_error(f"'{op}' requires exactly one property path.")
    path = parse_path(paths[0])
    if op == "Exists":
        return lambda e: _value(e, path) is not None
    if op in _COMPARE:
        const = el.find(f"{tq('FieldURIOrConstant')}/{tq('Constant')}")
        if const is None:
            raise schema_error(
                f"'{op}' without FieldURIOrConstant/Constant is not implemented by the EWS emulator."
            )
        if path.kind == "extended":
            check_constant(path.ext, const.get("Value") or "")
        want = _norm(const.get("Value") or "")
        cmp = _COMPARE[op]

        def compare(e: Any) -> bool:
            v = _value(e, path)
            return v is not None and cmp(_norm(v), want)

        return compare
    if op == "Contains":
        const = el.find(tq("Constant"))
        if const is None:
            raise schema_error("Contains requires a Constant.")
        needle = const.get("Value") or ""
        mode = el.get("ContainmentMode", "FullString")
        loose = "Ignore" in el.get("ContainmentComparison", "Exact")

        def contains(e: Any) -> bool:
            v = _value(e, path)
            if v is None:
                return False
            a, b = (v.lower(), needle.lower()) if loose else (v, needle)
            return {"FullString": a == b, "Prefixed": a.startswith(b), "Substring": b in a}.get(mode, b in a)

        return contains
    raise schema_error(f"Restriction operator '{op}' is not implemented by the EWS emulator.")


def parse_restriction(el: Any | None) -> Predicate | None:
    if el is None:
        return None
    if len(el) != 1:
        raise schema_error("Restriction takes exactly one search expression.")
    return _build(el[0])


def parse_sort(el: Any | None) -> Callable[[list[Any]], list[Any]] | None:
    if el is None:
        return None
    orders = []
    for fo in el:
        if fo.tag != tq("FieldOrder"):
            raise schema_error(f"SortOrder has invalid child '{local(fo)}'.")
        paths = path_elements(fo)
        if len(paths) != 1:
            raise schema_error("FieldOrder requires one property path.")
        orders.append((parse_path(paths[0]), fo.get("Order", "Ascending") == "Descending"))

    def sort(items: list[Any]) -> list[Any]:
        out = list(items)
        for path, desc in reversed(orders):

            def key(item: Any, p: Path = path) -> Any:
                return _norm(_value(item.elem, p) or "")

            out.sort(key=key, reverse=desc)
        return out

    return sort


__all__ = ["T_NS", "parse_restriction", "parse_sort"]
