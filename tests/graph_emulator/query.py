"""OData query options Graph accepts on the emulated resources: $select, $top, $skip, $expand; others refused."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import bad_request
from .schema import Schema

MAX_TOP = 1000
_EXPAND = re.compile(r"^(\w+)(?:\((.*)\))?$")
_FILTER_ID = re.compile(r"^\s*id\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)


@dataclass
class Options:
    select: list[str] | None = None
    top: int | None = None
    skip: int = 0
    expand: dict[str, list[str] | None] = field(default_factory=dict)  # nav -> extended property ids filter


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse(schema: Schema, type_name: str, query: dict[str, str], allowed: frozenset[str]) -> Options:
    """Parse the query options of a request on `type_name`; an option not in `allowed` is refused."""
    opts = Options()
    props = schema.properties(type_name)
    for key, value in query.items():
        if not key.startswith("$"):
            continue
        if key not in allowed:
            raise bad_request(f"Query option '{key}' is not supported on this resource by the Graph emulator.")
        if key == "$select":
            opts.select = [s.strip() for s in value.split(",") if s.strip()]
            for s in opts.select:
                if s not in props or props[s].navigation:
                    raise bad_request(f"Could not find a property named '{s}' on type 'microsoft.graph.{type_name}'.")
        elif key in ("$top", "$skip"):
            if not value.isdigit():
                raise bad_request(f"Invalid value '{value}' for {key} query option found. The {key} query option "
                                  "requires a non-negative integer value.")
            if key == "$top":
                opts.top = int(value)
                if opts.top > MAX_TOP:
                    raise bad_request(f"The limit of '{MAX_TOP}' for Top query has been exceeded. The value from "
                                      f"the incoming request is '{value}'.")
            else:
                opts.skip = int(value)
        elif key == "$expand":
            for item in _split_top_level(value):
                m = _EXPAND.match(item)
                if not m or m.group(1) not in props or not props[m.group(1)].navigation:
                    raise bad_request(f"Could not find a navigation property named '{item}' on type "
                                      f"'microsoft.graph.{type_name}'.")
                opts.expand[m.group(1)] = _expand_filter(m.group(1), m.group(2))
    return opts


def _expand_filter(nav: str, inner: str | None) -> list[str] | None:
    """`singleValueExtendedProperties($filter=id eq 'Integer 0x0E07' or id eq '...')` -> the ids asked for."""
    if inner is None:
        return None
    key, _, expr = inner.partition("=")
    if key.strip() != "$filter" or "ExtendedProperties" not in nav:
        raise bad_request(f"The emulator supports only $filter=id eq '...' inside $expand of {nav}.")
    ids = []
    for clause in re.split(r"\s+or\s+", expr, flags=re.IGNORECASE):
        m = _FILTER_ID.match(clause)
        if not m:
            raise bad_request(f"Invalid filter clause '{clause.strip()}' in $expand.")
        ids.append(m.group(1))
    return ids


def apply_select(obj: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    if select is None:
        return obj
    keep = {"id", *select}
    return {k: v for k, v in obj.items() if k in keep or k.startswith("@")}


def page(items: list[dict[str, Any]], opts: Options, default_top: int, link_base: str,
         query: dict[str, str]) -> dict[str, Any]:
    """One page of a collection answer with the @odata.nextLink Graph uses ($skip based)."""
    top = opts.top if opts.top is not None else default_top
    chunk = items[opts.skip: opts.skip + top]
    out: dict[str, Any] = {"value": chunk}
    if opts.skip + top < len(items):
        q = {k: v for k, v in query.items() if k not in ("$skip", "$top")}
        q["$top"], q["$skip"] = str(top), str(opts.skip + top)
        out["@odata.nextLink"] = link_base + "?" + "&".join(f"{quote(k)}={quote(v, safe=',')}" for k, v in q.items())
    return out
