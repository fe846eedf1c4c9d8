"""Checks JSON bodies against the emulator's Graph model, refusing what Graph's OData reader refuses.

Requests: an unknown property (one the model does not declare), a wrong JSON kind or literal, a bad enum
value, null where the model says not nullable, or an "@odata.type" that is not the type or one derived from
it, is a 400 with code RequestBodyRead and the message Graph's reader gives. Responses: `response_problems`
lists what in an emulator answer would not fit the model (a test asserts the list is empty).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from .errors import body_read
from .schema import Prop, Schema

_DTO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,7})?)?$")
_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "StartObject"
    if isinstance(value, list):
        return "StartArray"
    return "PrimitiveValue"


def _unexpected(value: Any, expected: str) -> str:
    return (f"An unexpected '{_json_kind(value)}' node was found when reading from the JSON reader. "
            f"A '{expected}' node was expected.")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def _is_binary(text: str) -> bool:
    try:
        if "-" in text or "_" in text:
            base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        else:
            base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _int_in(lo: int, hi: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


PRIMITIVES: dict[str, Callable[[Any], bool]] = {
    "Edm.String": lambda v: isinstance(v, str),
    "Edm.Boolean": lambda v: isinstance(v, bool),
    "Edm.Int32": _int_in(-(2**31), 2**31 - 1),
    "Edm.Int64": _int_in(-(2**63), 2**63 - 1),
    "Edm.Int16": _int_in(-(2**15), 2**15 - 1),
    "Edm.Byte": _int_in(0, 255),
    "Edm.Double": lambda v: (isinstance(v, int | float) and not isinstance(v, bool)) or v in ("NaN", "INF", "-INF"),
    "Edm.Single": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.Decimal": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Edm.DateTimeOffset": lambda v: isinstance(v, str) and bool(_DTO.match(v)),
    "Edm.Date": lambda v: isinstance(v, str) and _is_date(v),
    "Edm.TimeOfDay": lambda v: isinstance(v, str) and bool(_TIME.match(v)),
    "Edm.Duration": lambda v: isinstance(v, str) and bool(_DURATION.match(v)),
    "Edm.Guid": lambda v: isinstance(v, str) and bool(_GUID.match(v)),
    "Edm.Binary": lambda v: isinstance(v, str) and _is_binary(v),
}


class Validator:
    """Validates request and response bodies against one Schema."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    # -- requests --------------------------------------------------------------------------------
    def check_request(self, type_name: str, body: Any, inline_navigation: frozenset[str] = frozenset()) -> str:
        """Raise GraphError unless `body` is a valid `type_name` (or derived) object; return the type it names.

        `inline_navigation` lists the navigation properties Graph accepts inline in this request
        (attachments and extended properties when an item is created).
        """
        if not isinstance(body, dict):
            raise body_read(_unexpected(body, "StartObject"))
        actual = self._odata_type(type_name, body)
        props = self.schema.properties(actual)
        for key, value in body.items():
            if "@" in key:  # instance/property annotations ("@odata.type", "x@odata.type") carry no data
                continue
            prop = props.get(key)
            if prop is None or (prop.navigation and key not in inline_navigation):
                raise body_read(
                    f"The property '{key}' does not exist on type 'microsoft.graph.{actual}'. Make sure to only "
                    "use property names that are defined by the type or mark the type as open type.")
            self._check_value(prop, value, inline_navigation=frozenset())
        return actual

    def check_parameters(self, params: dict[str, Prop], body: Any) -> dict[str, Any]:
        """An action's JSON body against its parameters (names matched case-insensitively, as Graph does)."""
        if not isinstance(body, dict):
            raise body_read(_unexpected(body, "StartObject"))
        by_lower = {name.lower(): p for name, p in params.items()}
        out: dict[str, Any] = {}
        for key, value in body.items():
            prop = by_lower.get(key.lower())
            if prop is None:
                raise body_read(f"The parameter '{key}' in the request payload is not a valid parameter for the "
                                "operation.")
            self._check_value(prop, value, frozenset())
            out[prop.name] = value
        for prop in params.values():
            if not prop.nullable and out.get(prop.name) is None:
                raise body_read(f"The parameter '{prop.name}' in the request payload is missing or null.")
        return out

    def _odata_type(self, declared: str, body: dict[str, Any]) -> str:
        named = body.get("@odata.type")
        if named is None:
            if self.schema.is_abstract(declared):
                raise body_read(f"The type 'microsoft.graph.{declared}' is abstract; the payload must name a "
                                "derived type with '@odata.type'.")
            return declared
        short = str(named).lstrip("#")
        for prefix in ("microsoft.graph.", "graph."):
            if short.startswith(prefix):
                short = short[len(prefix):]
                break
        else:
            raise body_read(f"A type named '{named}' could not be resolved by the model. When a model is "
                            "available, each type name must resolve to a valid type.")
        if not self.schema.is_structured(short) or not self.schema.derives_from(short, declared):
            raise body_read(f"A type named '{named}' could not be resolved by the model, or it is not "
                            f"'microsoft.graph.{declared}' or a type derived from it.")
        if self.schema.is_abstract(short):
            raise body_read(f"The type 'microsoft.graph.{short}' is abstract and cannot be instantiated.")
        return short

    def _check_value(self, prop: Prop, value: Any, inline_navigation: frozenset[str]) -> None:
        full = f"Collection({_qualified(prop.type)})" if prop.collection else _qualified(prop.type)
        if value is None:
            if prop.collection or not prop.nullable:
                raise body_read(f"A null value was found for the property named '{prop.name}', which has the "
                                f"expected type '{full}[Nullable=False]'. The expected type "
                                f"'{full}[Nullable=False]' does not allow null values.")
            return
        if prop.collection:
            if not isinstance(value, list):
                raise body_read(_unexpected(value, "StartArray"))
            for v in value:
                self._check_single(prop, v)
            return
        self._check_single(prop, value)

    def _check_single(self, prop: Prop, value: Any) -> None:
        t = prop.type
        if t in PRIMITIVES:
            if isinstance(value, dict | list):
                raise body_read(_unexpected(value, "PrimitiveValue"))
            if not PRIMITIVES[t](value):
                raise body_read(f"Cannot convert the literal '{_literal(value)}' to the expected type '{t}'.")
            return
        if t in self.schema.enums:
            self._check_enum(t, value)
            return
        if t.startswith("Edm."):
            raise body_read(f"Values of type '{t}' cannot be written in a JSON request body.")
        if value is None:
            raise body_read(f"A null value was found in a collection of type '{_qualified(t)}'.")
        self.check_request(t, value)

    def _check_enum(self, t: str, value: Any) -> None:
        if not isinstance(value, str):
            raise body_read(_unexpected(value, "PrimitiveValue") if isinstance(value, dict | list)
                            else f"Cannot convert the literal '{_literal(value)}' to the expected type "
                                 f"'microsoft.graph.{t}'.")
        members = self.schema.enum_members(t)
        parts = [p.strip() for p in value.split(",")] if self.schema.enum_is_flags(t) else [value]
        for part in parts:
            if part not in members:
                raise body_read(f"Requested value '{part}' was not found.")

    # -- responses -------------------------------------------------------------------------------
    def response_problems(self, type_name: str, obj: Any, path: str = "$") -> list[str]:
        """Everything in an answer object that does not fit `type_name` in the model."""
        if not isinstance(obj, dict):
            return [f"{path}: expected an object of {type_name}, got {type(obj).__name__}"]
        actual = type_name
        if "@odata.type" in obj:
            short = str(obj["@odata.type"]).removeprefix("#microsoft.graph.")
            if not self.schema.is_structured(short) or not self.schema.derives_from(short, type_name):
                return [f"{path}: @odata.type {obj['@odata.type']} is not {type_name} or derived from it"]
            actual = short
        elif self.schema.is_abstract(type_name):
            return [f"{path}: an object of the abstract type {type_name} without @odata.type"]
        props = self.schema.properties(actual)
        problems: list[str] = []
        for key, value in obj.items():
            if "@" in key:
                continue
            prop = props.get(key)
            if prop is None:
                problems.append(f"{path}.{key}: no such property on {actual}")
                continue
            problems.extend(self._response_value(prop, value, f"{path}.{key}"))
        return problems

    def _response_value(self, prop: Prop, value: Any, path: str) -> list[str]:
        if value is None:
            return [] if prop.nullable and not prop.collection else [f"{path}: null is not allowed"]
        if prop.collection:
            if not isinstance(value, list):
                return [f"{path}: expected a JSON array"]
            out: list[str] = []
            for i, v in enumerate(value):
                out.extend(self._response_single(prop, v, f"{path}[{i}]"))
            return out
        return self._response_single(prop, value, path)

    def _response_single(self, prop: Prop, value: Any, path: str) -> list[str]:
        t = prop.type
        if t in PRIMITIVES:
            return [] if PRIMITIVES[t](value) else [f"{path}: {value!r} is not a valid {t}"]
        if t in self.schema.enums:
            try:
                self._check_enum(t, value)
            except Exception:
                return [f"{path}: {value!r} is not a member of {t}"]
            return []
        if self.schema.is_structured(t):
            return self.response_problems(t, value, path)
        return [f"{path}: type {t} is not in the emulator's Graph model"]


def _qualified(t: str) -> str:
    return t if t.startswith("Edm.") else f"microsoft.graph.{t}"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
