"""Content lines and components as icalendar reads and writes them: what the records keep verbatim.

A property without a field is kept as one unfolded content line written by the library; reading such lines
back, and components among them, is the library's job too. A value the library could read only as
"broken" makes the component refused here, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import icalendar
from icalendar.parser import Contentline, Contentlines
from icalendar.prop import vBroken

from . import FormatError


def properties(comp: icalendar.Component) -> Iterator[tuple[str, Any]]:
    """(name, value) of every property in the order the library keeps (same names together)."""
    for name, value in comp.items():
        for one in value if isinstance(value, list) else [value]:
            yield name.upper(), one


def property_line(name: str, value: Any) -> str:
    """One property as the library writes it, unfolded."""
    params = getattr(value, "params", None) or icalendar.Parameters()
    return str(Contentline.from_parts(name, params, value, sorted=False))


def kept_line(name: str, value: object) -> str:
    """A property without a field, from a Python value, as the library writes it (for records built here)."""
    holder = icalendar.Component()
    holder.add(name, value)
    return property_line(name.upper(), holder[name])


def component_lines(comp: icalendar.Component) -> list[str]:
    """A whole component as the library writes it, unfolded, BEGIN and END included."""
    return [str(line) for line in unfolded(comp.to_ical(sorted=False)) if line]


def unfolded(text: str | bytes) -> list[Contentline]:
    """The library's unfolding (a line break and a space or tab join two lines)."""
    return Contentlines.from_ical(text)  # type: ignore[no-untyped-call, no-any-return]


def check_errors(comp: icalendar.Component, what: str) -> None:
    """The library keeps a value it cannot read as "broken"; we refuse the component, naming it."""
    for name, value in properties(comp):
        if isinstance(value, vBroken) and not name.startswith("X-"):
            raw = str(value)
            if not raw.strip():
                raise FormatError(f"{what}: {name} has an empty value")
            raise FormatError(f"{what}: invalid {name} value {raw[:60]!r} ({value.parse_error})")
    for prop, message in comp.errors:
        if prop is None:
            raise FormatError(f"{what}: {message}")


def add_kept(comp: icalendar.Component, lines: list[str]) -> None:
    """Kept content lines (whole components among them), read back by the library, added to ``comp``."""
    if not lines:
        return
    text = "BEGIN:X-MAILFERRY-KEPT\r\n" + "".join(f"{line}\r\n" for line in lines) + "END:X-MAILFERRY-KEPT\r\n"
    try:
        kept = icalendar.Component.from_ical(text)
    except ValueError as exc:
        raise FormatError(f"a kept iCalendar line cannot be written: {exc}") from exc
    for name, value in properties(kept):
        comp.add(name, value, encode=False)
    for child in kept.subcomponents:
        comp.add_component(child)
