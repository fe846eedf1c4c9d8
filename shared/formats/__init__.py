"""Neutral item formats and their converters.

- ``shared.formats.vcard``: vCard 2.1/3.0/4.0 <-> :class:`~shared.formats.vcard.ContactCard`
- ``shared.formats.ical``: iCalendar VEVENT/VTODO <-> :class:`~shared.formats.ical.EventRecord` /
  :class:`~shared.formats.ical.TaskRecord`
- ``shared.adapters.ews.mapping``: the neutral records <-> exchangelib items

This module holds what both text formats share: :class:`FormatError` and the content-line syntax
(RFC 5545 §3.1, RFC 6350 §3.3: folding, ``group.NAME;PARAM=v1,"v,2":value``, RFC 6868 caret escapes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from shared.errors import ItemRejected

__all__ = ["ContentLine", "FormatError", "fold", "format_line", "parse_line", "split_value", "unfold"]


class FormatError(ItemRejected):
    """A vCard/iCalendar text is malformed: the message says what and where (line number, property)."""

    code = "format_error"


_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_SAFE_PARAM = re.compile(r'^[^";:,]*$')


@dataclass
class ContentLine:
    """One unfolded content line. ``value`` is still escaped as on the wire; ``raw`` is the unfolded text."""

    name: str  # upper case
    value: str
    params: dict[str, list[str]] = field(default_factory=dict)  # upper-case names, in order of appearance
    group: str | None = None
    raw: str = ""
    lineno: int = 0

    def param(self, name: str) -> str | None:
        values = self.params.get(name.upper())
        return values[0] if values else None


def _decode_text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def unfold(data: str | bytes, qp_soft_breaks: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, unfolded line) for every non-empty logical line.

    Accepts CRLF, LF and lone CR line ends. With ``qp_soft_breaks`` a line whose parameters say
    QUOTED-PRINTABLE and that ends in ``=`` continues on the next physical line (vCard 2.1).
    """
    text = _decode_text(data).lstrip("\ufeff")
    physical = re.split(r"\r\n|\n|\r", text)
    current: str | None = None
    start = 0
    for number, line in enumerate(physical, 1):
        if current is not None and line[:1] in (" ", "\t"):
            current += line[1:]
            continue
        if (
            qp_soft_breaks
            and current is not None
            and current.endswith("=")
            and "QUOTED-PRINTABLE" in current.split(":", 1)[0].upper()
        ):
            current = current[:-1] + line
            continue
        if current is not None and current.strip():
            yield start, current
        current, start = line, number
    if current is not None and current.strip():
        yield start, current


def _caret_decode(value: str) -> str:
    return re.sub(r"\^(.)", lambda m: {"n": "\n", "^": "^", "'": '"'}.get(m.group(1), m.group(0)), value)


def _caret_encode(value: str) -> str:
    return value.replace("^", "^^").replace("\n", "^n").replace('"', "^'")


def parse_line(line: str, lineno: int = 0, allow_group: bool = False, bare_params: bool = False) -> ContentLine:
    """Parse one unfolded content line; ``bare_params`` accepts vCard 2.1 ``TEL;HOME;VOICE:`` (as TYPE)."""
    i, n = 0, len(line)
    while i < n and line[i] not in ";:":
        i += 1
    if i >= n:
        raise FormatError(f"line {lineno}: no ':' in content line {line[:60]!r}")
    name = line[:i].strip()
    group = None
    if allow_group and "." in name:
        group, name = name.rsplit(".", 1)
    if not _NAME.match(name) or (group is not None and not _NAME.match(group)):
        raise FormatError(f"line {lineno}: invalid property name {line[:i][:60]!r}")
    params: dict[str, list[str]] = {}
    while i < n and line[i] == ";":
        i += 1
        j = i
        while j < n and line[j] not in "=;:":
            j += 1
        pname = line[i:j].strip().upper()
        if not pname or not _NAME.match(pname):
            raise FormatError(f"line {lineno}: invalid parameter in {name} ({line[i:j][:40]!r})")
        if j < n and line[j] == "=":
            values: list[str] = []
            j += 1
            while True:
                if j < n and line[j] == '"':
                    k = line.find('"', j + 1)
                    if k < 0:
                        raise FormatError(f"line {lineno}: unterminated quoted parameter value in {name}")
                    values.append(_caret_decode(line[j + 1 : k]))
                    j = k + 1
                else:
                    k = j
                    chars: list[str] = []
                    while k < n and line[k] not in ",;:":
                        if line[k] == "\\" and k + 1 < n and line[k + 1] in ",;:\\":
                            k += 1  # tolerated: a backslash-escaped separator in an unquoted value
                        chars.append(line[k])
                        k += 1
                    values.append(_caret_decode("".join(chars).strip()))
                    j = k
                if j < n and line[j] == ",":
                    j += 1
                    continue
                break
            params.setdefault(pname, []).extend(values)
        elif bare_params:
            params.setdefault("TYPE", []).append(pname)
        else:
            raise FormatError(f"line {lineno}: parameter {pname} of {name} has no value")
        i = j
    if i >= n or line[i] != ":":
        raise FormatError(f"line {lineno}: malformed content line {line[:60]!r}")
    return ContentLine(name=name.upper(), value=line[i + 1 :], params=params, group=group, raw=line, lineno=lineno)


def _param_value(value: str) -> str:
    value = _caret_encode(value)
    return value if _SAFE_PARAM.match(value) else f'"{value}"'


def format_line(name: str, value: str, params: dict[str, list[str]] | None = None, group: str | None = None) -> str:
    """One unfolded content line; ``value`` must already be escaped."""
    head = f"{group}.{name}" if group else name
    for pname, pvalues in (params or {}).items():
        if pvalues:
            head += f";{pname}=" + ",".join(_param_value(v) for v in pvalues)
    return f"{head}:{value}"


def fold(line: str, limit: int = 75) -> str:
    """Fold one logical line at ``limit`` octets (never inside a UTF-8 sequence), CRLF-terminated."""
    out: list[str] = []
    chunk, size = "", 0
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(chunk)
            chunk, size = " ", 1
        chunk += ch
        size += width
    out.append(chunk)
    return "\r\n".join(out) + "\r\n"


def split_value(value: str, sep: str) -> list[str]:
    """Split an escaped value on unescaped ``sep`` (``;`` or ``,``); the parts stay escaped."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            cur.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts
