"""Attachments of events, tasks and contacts, carried inside their iCalendar or vCard text.

iCalendar has a property for them (RFC 5545 §3.8.1.1): ``ATTACH;FMTTYPE=…;ENCODING=BASE64;VALUE=BINARY`` with the
bytes, or ``ATTACH:uri`` by reference; the file name goes in ``X-FILENAME`` (what Outlook and Evolution write;
Apple's ``FILENAME`` is read too). vCard has none, so a contact's attachments travel as ``X-MAILFERRY-ATTACH``
lines with the same parameters. A content id and the inline mark travel as ``X-MAILFERRY-CONTENT-ID`` and
``X-MAILFERRY-INLINE=TRUE``. Parameter values are written with RFC 6868's escapes by icalendar, so any name
survives the text; the name itself is made safe once, where it is read from a source (:func:`safe_name`).

An item travels as one record of the items topic (:data:`shared.adapters.pim_items.MAX_RECORD_BYTES`), so the
attachments that do not fit beside the item are left out and named in the report (:func:`fit`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from icalendar.parser import Contentline, Parameters

ICAL_NAME = "ATTACH"
VCARD_NAME = "X-MAILFERRY-ATTACH"
_FILENAME_PARAMS = ("X-FILENAME", "FILENAME", "X-APPLE-FILENAME")
_CID, _INLINE = "X-MAILFERRY-CONTENT-ID", "X-MAILFERRY-INLINE"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
MAX_NAME = 255


@dataclass(frozen=True)
class ItemAttachment:
    """A file attached to an event, task or contact: its bytes, or a URI when it is only linked."""

    name: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    uri: str | None = None
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0

    def line(self, name: str = ICAL_NAME) -> str:
        """The content line (unfolded) that carries it, as icalendar writes parameters."""
        params = Parameters()
        params["FMTTYPE"] = self.content_type
        if self.data is not None:
            params["ENCODING"] = "BASE64"
            params["VALUE"] = "BINARY"
        params["X-FILENAME"] = self.name
        if self.content_id:
            params[_CID] = self.content_id
        if self.inline:
            params[_INLINE] = "TRUE"
        value = base64.b64encode(self.data).decode("ascii") if self.data is not None else (self.uri or "")
        return str(Contentline.from_parts(name, params, value, sorted=False))


def safe_name(raw: str | None, fallback: str = "attachment") -> str:
    """A file name a target can hold: no control characters, no path (``/`` and ``\\`` become ``_``), no
    leading or trailing dots and spaces (Windows drops them), at most 255 characters."""
    name = _CONTROL.sub("", raw or "").replace("/", "_").replace("\\", "_").strip(" .")
    return name[:MAX_NAME] or fallback


def media_type(raw: str | None, name: str = "") -> str:
    """A well-formed media type (lower case), else one guessed from the name, else octet-stream."""
    import mimetypes

    candidate = (raw or "").strip().lower()
    if _MEDIA_TYPE.fullmatch(candidate):
        return candidate
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _unfolded(line: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", line)


def _param(params: Parameters, name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value)


def parse_line(line: str) -> ItemAttachment | None:
    """The attachment an ``ATTACH`` or ``X-MAILFERRY-ATTACH`` line carries; None for any other line.
    ValueError when it is one but its bytes are not base64."""
    text = _unfolded(line)
    head = text.split(":", 1)[0].split(";", 1)[0].split(".")[-1].upper()  # a vCard group (item1.) is ignored
    if head not in (ICAL_NAME, VCARD_NAME):
        return None
    _name, params, value = Contentline(text).parts()  # type: ignore[no-untyped-call]
    encoding = (_param(params, "ENCODING") or "").upper()
    binary = encoding in ("BASE64", "B") or (_param(params, "VALUE") or "").upper() == "BINARY"
    name = next((n for n in (_param(params, p) for p in _FILENAME_PARAMS) if n), None)
    data = uri = None
    if binary:
        try:
            data = base64.b64decode("".join(str(value).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"an attachment's bytes are not base64 ({name or 'no name'!r})") from exc
    else:
        uri = str(value).strip()
    if name is None:
        name = uri.rstrip("/").rsplit("/", 1)[-1] if uri else ""
    inline = (_param(params, _INLINE) or "").upper() == "TRUE"
    return ItemAttachment(safe_name(name), media_type(_param(params, "FMTTYPE"), name or ""), data, uri,
                          _param(params, _CID) or None, inline)


def split(lines: Iterable[str]) -> tuple[list[ItemAttachment], list[str]]:
    """(the attachments among a record's kept lines, the other lines)."""
    found: list[ItemAttachment] = []
    rest: list[str] = []
    for line in lines:
        att = parse_line(line)
        if att is None:
            rest.append(line)
        else:
            found.append(att)
    return found, rest


def fit(attachments: Sequence[ItemAttachment], room: int, limit: int) -> tuple[list[ItemAttachment], list[str]]:
    """The attachments that fit in ``room`` bytes of text (in order, smaller ones still fitting after a large
    one is left out), and a report note for each left out (``limit``: the record's size, for the note)."""
    kept: list[ItemAttachment] = []
    notes: list[str] = []
    for att in attachments:
        cost = len(att.line().encode()) * 81 // 74 + 16  # folded every 74 octets; each break is 5 in JSON
        if cost <= room:
            kept.append(att)
            room -= cost
        else:
            notes.append(f"attachment {att.name!r} ({att.size / 1e6:.1f} MB) not carried: an item with its "
                         f"attachments travels as one record of at most {limit / 1e6:.1f} MB")
    return kept, notes


def not_held(attachments: Sequence[ItemAttachment], where: str) -> list[str]:
    """Report notes for attachments a target cannot hold (``where`` says which and why)."""
    return [f"attachment {a.name!r} ({where})" for a in attachments]
