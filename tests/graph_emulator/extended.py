"""singleValueExtendedProperties: id forms Graph accepts, value checks per MAPI type, and the three MAPI
properties Exchange honours only when an item is created (flags, delivery time, submit time)."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from .errors import bad_request

TYPES = {t.lower(): t for t in (
    "Binary", "Boolean", "Currency", "Double", "Float", "Integer", "Long", "Short", "SystemTime", "String", "CLSID",
    "ApplicationTime", "Object",
)}
_TAG = re.compile(r"^(\w+)\s+0x([0-9a-fA-F]{1,4})$")
_NAMED = re.compile(r"^(\w+)\s+\{?([0-9a-fA-F-]{36})\}?\s+(Name\s+\S.*|Id\s+0x[0-9a-fA-F]{1,8})$")

PR_MESSAGE_FLAGS = "Integer 0xe07"
PR_MESSAGE_DELIVERY_TIME = "SystemTime 0xe06"
PR_CLIENT_SUBMIT_TIME = "SystemTime 0x39"
CREATION_ONLY = frozenset({PR_MESSAGE_FLAGS, PR_MESSAGE_DELIVERY_TIME, PR_CLIENT_SUBMIT_TIME})
MSGFLAG_READ = 0x1
MSGFLAG_UNSENT = 0x8


def normalize_id(prop_id: str) -> str:
    """The canonical form of an extended property id ("Integer 0x0E07" -> "Integer 0xe07"), or 400."""
    text = prop_id.strip()
    m = _TAG.match(text)
    if m and m.group(1).lower() in TYPES:
        return f"{TYPES[m.group(1).lower()]} 0x{int(m.group(2), 16):x}"
    m = _NAMED.match(text)
    if m and m.group(1).lower() in TYPES:
        kind, _, rest = m.group(3).partition(" ")
        return f"{TYPES[m.group(1).lower()]} {{{m.group(2).lower()}}} {kind} {rest.strip()}"
    raise bad_request(f"The extended property id '{prop_id}' is not valid: expected '{{type}} 0x{{tag}}' or "
                      "'{type} {guid} Name {name}' or '{type} {guid} Id 0x{id}'.", "ErrorInvalidProperty")


def check_value(prop_id: str, value: Any) -> str:
    """Extended property values travel as strings; the string must parse as the declared MAPI type."""
    if not isinstance(value, str):
        raise bad_request(f"The value of extended property '{prop_id}' must be a string.", "ErrorInvalidProperty")
    kind = prop_id.split(" ", 1)[0]
    ok = True
    if kind in ("Integer", "Long", "Short"):
        ok = bool(re.fullmatch(r"-?\d+", value))
    elif kind in ("Double", "Float", "Currency"):
        try:
            float(value)
        except ValueError:
            ok = False
    elif kind == "Boolean":
        ok = value.lower() in ("true", "false")
    elif kind == "SystemTime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            ok = False
    elif kind == "Binary":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            ok = False
    if not ok:
        raise bad_request(f"The value '{value}' of extended property '{prop_id}' is not a valid {kind}.",
                          "ErrorInvalidExtendedPropertyValue")
    return value


def parse_list(items: list[dict[str, Any]]) -> dict[str, str]:
    """A validated singleValueExtendedProperties array as {canonical id: value}."""
    out: dict[str, str] = {}
    for item in items:
        pid = normalize_id(str(item.get("id", "")))
        out[pid] = check_value(pid, item.get("value"))
    return out


def render_list(values: dict[str, Any], wanted: list[str] | None) -> list[dict[str, Any]]:
    ids = list(values) if wanted is None else [normalize_id(w) for w in wanted]
    return [{"id": i, "value": values[i]} for i in ids if i in values]
