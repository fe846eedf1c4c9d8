"""vCard content lines and values as vobject reads and writes them.

We use vobject's content-line reader and writer (unfolding, QUOTED-PRINTABLE with CHARSET, bare vCard 2.1
parameters, parameter quoting, folding) and its text escapes, not its vCard 3.0 value rules: those keep
only the first of several comma-separated values of a property they do not know and drop bare parameters
when writing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vobject.base import ContentLine, VObjectError, backslashEscape, parseLine
from vobject.icalendar import stringToTextValues

from . import FormatError


def unescape(value: str) -> str:
    r"""A TEXT value without its escapes (\n \N \, \; \\), read by vobject."""
    return str(stringToTextValues(value, listSeparator=None)[0])


def escape(value: str) -> str:
    """A TEXT value escaped by vobject (backslash, ',', ';' and line breaks)."""
    return str(backslashEscape(value))


def values(value: str) -> list[str]:
    """A comma-separated list of TEXT values (CATEGORIES, NICKNAME)."""
    return [str(v) for v in stringToTextValues(value)]


def components(value: str, count: int) -> list[str]:
    """Structured value (N, ADR, ORG): unescaped components, list values inside one joined by ','."""
    parts = [",".join(values(p)) for p in stringToTextValues(value, listSeparator=";", charList=";")]
    return (parts + [""] * count)[:count] if count else parts


# RFC 6868: vobject neither reads nor writes these, and cannot write '"' or a line break in a parameter.
def _caret_decode(value: str) -> str:
    return re.sub(r"\^([n^'])", lambda m: {"n": "\n", "^": "^", "'": '"'}[m.group(1)], value)


def _caret_encode(value: str) -> str:
    return value.replace("^", "^^").replace("\r\n", "\n").replace("\n", "^n").replace('"', "^'")


@dataclass
class Line:
    """One content line as vobject read it: value still escaped (QUOTED-PRINTABLE already decoded)."""

    name: str
    value: str
    params: dict[str, list[str]]
    group: str | None
    number: int

    def param(self, name: str) -> str | None:
        given = self.params.get(name)
        return given[0] if given else None

    def text(self) -> str:
        """The line as vobject writes it, unfolded: how a property without a field is kept."""
        params = {k: v for k, v in self.params.items() if k != "CHARSET"}  # the text is decoded
        return re.sub(r"\r\n[ \t]", "", serialize_line(self.name, self.value, params, self.group).rstrip("\r\n"))


def read_line(text: str, number: int) -> Line:
    """One unfolded line read by vobject; bare 2.1 parameters become TYPE values, as 3.0 writes them."""
    try:
        line = ContentLine(*parseLine(text, number), encoded=True, lineNumber=number)
    except VObjectError as exc:
        problem = "no ':' in content line" if ":" not in text else "malformed content line"
        raise FormatError(f"line {number}: {problem} {text[:60]!r}") from exc
    except (LookupError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise FormatError(f"line {number}: QUOTED-PRINTABLE value cannot be decoded ({exc})") from exc
    params = {k.upper(): [_caret_decode(v) for v in vs] for k, vs in line.params.items()}
    singles = [p for p in line.singletonparams if p.upper() != "BASE64"]
    if len(singles) < len(line.singletonparams):
        params.setdefault("ENCODING", ["BASE64"])  # Apple's bare BASE64
    if singles:
        params["TYPE"] = [*params.get("TYPE", []), *singles]  # vCard 2.1: TEL;HOME;VOICE
    return Line(line.name.upper(), str(line.value), params, line.group, number)


def serialize_line(name: str, value: str, params: dict[str, list[str]] | None = None, group: str | None = None) -> str:
    """One content line written by vobject (parameters quoted, folded at 75 octets, CRLF); value escaped."""
    line = ContentLine(name, [], value, group=group, encoded=True)
    line.params = {k: [_caret_encode(v) for v in vs] for k, vs in (params or {}).items() if vs}
    return str(line.serialize(validate=False))
