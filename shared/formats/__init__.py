"""Neutral item formats and their converters.

- ``shared.formats.vcard``: vCard 2.1/3.0/4.0 <-> :class:`~shared.formats.vcard.ContactCard` (``vobject``)
- ``shared.formats.ical``: iCalendar VEVENT/VTODO <-> :class:`~shared.formats.ical.EventRecord` /
  :class:`~shared.formats.ical.TaskRecord` (``icalendar``)
- ``shared.adapters.ews.mapping``: the neutral records <-> exchangelib items

This module holds what both text formats share: :class:`FormatError`, how bytes become text, and
:func:`parse_line` for the one content line a caller holds (a record's kept ``extra`` line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vobject.base import ParseError, parseLine

from shared.errors import ItemRejected

__all__ = ["ContentLine", "FormatError", "parse_line", "text_of"]


class FormatError(ItemRejected):
    """A vCard/iCalendar text is malformed: the message says what and where (line number, property)."""

    code = "format_error"


def text_of(data: str | bytes) -> str:
    """Text of a file: UTF-8 (a byte order mark dropped), else Windows-1252 as older exporters write."""
    if isinstance(data, str):
        return data.lstrip("\ufeff")
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


@dataclass
class ContentLine:
    """One unfolded content line. ``value`` is still escaped as on the wire; ``raw`` is the line itself."""

    name: str  # upper case
    value: str
    params: dict[str, list[str]] = field(default_factory=dict)  # upper-case names
    group: str | None = None
    raw: str = ""

    def param(self, name: str) -> str | None:
        values = self.params.get(name.upper())
        return values[0] if values else None


def parse_line(line: str, allow_group: bool = False) -> ContentLine:
    """One unfolded content line, read by vobject; a group (``item1.EMAIL``) only when ``allow_group``."""
    try:
        name, params, value, group = parseLine(line)
    except ParseError as exc:
        raise FormatError(f"malformed content line {line[:60]!r}") from exc
    if group and not allow_group:
        raise FormatError(f"invalid property name {group}.{name}")
    parsed: dict[str, list[str]] = {}
    for param in params:
        parsed.setdefault(param[0].upper() if len(param) > 1 else "TYPE", []).extend(param[1:] or param[:1])
    return ContentLine(name.upper(), value, parsed, group, line)
