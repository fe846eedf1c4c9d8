"""Reading: vobject reads the content lines; we map them to a ContactCard and apply our rules."""

from __future__ import annotations

import base64
import binascii
import io
import re
from datetime import date

from vobject.base import getLogicalLines

from . import FormatError, text_of
from .vcard_lines import Line, components, read_line, unescape, values
from .vcard_records import Address, ContactCard, TypedValue

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def _parse_date(value: str) -> date | str:
    m = _DATE.match(value.strip())
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return value.strip()


def _types(line: Line) -> tuple[list[str], int | None]:
    types = [t.strip().lower() for t in line.params.get("TYPE", []) if t.strip()]
    pref: int | None = None
    if "pref" in types:
        types = [t for t in types if t != "pref"]
        pref = 1
    raw_pref = line.param("PREF")
    if raw_pref is not None:
        if not raw_pref.strip().isdigit():
            raise FormatError(f"line {line.number}: PREF must be a number, got {raw_pref!r}")
        pref = int(raw_pref)
    return types, pref


_CONSUMED_PARAMS = {"TYPE", "PREF", "CHARSET", "ENCODING", "LABEL"}


def _other_params(line: Line) -> dict[str, list[str]]:
    return {k: list(v) for k, v in line.params.items() if k not in _CONSUMED_PARAMS}


def _photo(line: Line, card: ContactCard) -> bool:
    """Fill the photo fields from PHOTO; False if it has to be kept as a line."""
    value = line.value.strip()
    encoding = (line.param("ENCODING") or "").lower()
    media = None
    ptype = line.param("TYPE") or line.param("MEDIATYPE")
    if value.lower().startswith("data:"):
        m = re.match(r"^data:([^;,]*)((?:;[^;,]*)*),(.*)$", value, re.S)
        if not m or ";base64" not in m.group(2).lower():
            return False
        media, value = m.group(1) or None, m.group(3)
    elif encoding in ("b", "base64"):
        if ptype:
            media = ptype.lower() if "/" in ptype else "image/" + ptype.lower()
    else:
        return False  # a URI reference
    data = re.sub(r"\s+", "", value)
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormatError(f"line {line.number}: PHOTO is not valid base64 ({exc})") from exc
    if card.photo is not None:
        return False
    card.photo, card.photo_type = data, media
    return True


def _typed(line: Line, card: ContactCard) -> None:
    types, pref = _types(line)
    if line.name == "ADR":
        po_box, extended, street, locality, region, code, country = components(line.value, 7)
        card.addresses.append(Address(street, locality, region, code, country, po_box, extended, types, pref,
                                      line.param("LABEL"), line.group, _other_params(line)))
        return
    tv = TypedValue(unescape(line.value).strip(), types, pref, line.group, _other_params(line))
    {"EMAIL": card.emails, "TEL": card.phones, "URL": card.urls}[line.name].append(tv)


_FIRST_TEXT = {"TITLE": "title", "NOTE": "note"}
_ANNIVERSARY = ("ANNIVERSARY", "X-ANNIVERSARY", "X-MS-ANNIVERSARY")


def _set_field(line: Line, card: ContactCard, seen: set[str]) -> bool:
    """Put one line in its field; False if it is kept in ``extra``."""
    name, value = line.name, line.value
    first = name not in seen and not (name in _ANNIVERSARY and seen & set(_ANNIVERSARY))
    seen.add(name)
    if name == "FN" and first:
        card.formatted_name = unescape(value).strip()
    elif name == "N" and first:
        card.family_name, card.given_name, card.middle_name, card.prefix, card.suffix = components(value, 5)
    elif name == "NICKNAME" and first:
        card.nickname = ",".join(values(value))
    elif name in ("EMAIL", "TEL", "URL", "ADR"):
        _typed(line, card)
    elif name == "ORG" and first:
        parts = components(value, 0)
        card.organization = parts[0]
        card.department = parts[1] if len(parts) > 1 else None
        card.org_units = parts[2:]
    elif name in _FIRST_TEXT and first:
        setattr(card, _FIRST_TEXT[name], unescape(value))
    elif name == "BDAY" and first:
        card.birthday = _parse_date(value)
    elif name in _ANNIVERSARY and first:
        card.anniversary = _parse_date(value)
    elif name == "CATEGORIES":
        card.categories.extend(v for v in values(value) if v)
    elif name == "UID" and first:
        card.uid = unescape(value).strip()
    else:
        return name == "PHOTO" and _photo(line, card)
    return True


def _card(lines: list[Line], begin: int) -> ContactCard:
    card = ContactCard()
    version = next((ln.value.strip() for ln in lines if ln.name == "VERSION"), "3.0")
    if version not in ("2.1", "3.0", "4.0"):
        raise FormatError(f"line {begin}: unsupported vCard VERSION {version!r}")
    card.version = version
    seen: set[str] = set()
    for line in lines:
        if line.name != "VERSION" and not _set_field(line, card, seen):
            card.extra.append(line.text())
    if "FN" not in seen and not any((card.family_name, card.given_name, card.middle_name, card.prefix,
                                     card.suffix)):
        raise FormatError(f"line {begin}: vCard has no name (neither FN nor N); uid={card.uid!r}")
    if "FN" not in seen:
        card.formatted_name = card.display_name
    return card


def parse_vcards(data: str | bytes) -> list[ContactCard]:
    """Every vCard in ``data`` (a .vcf file). Raises FormatError if any card is malformed."""
    cards: list[ContactCard] = []
    current: list[Line] | None = None
    begin = 0
    text = re.sub(r"\r(?!\n)", "\n", text_of(data))
    for raw, number in getLogicalLines(io.StringIO(text), allowQP=True):
        line = read_line(raw, number)
        marker = line.value.strip().upper() if line.name in ("BEGIN", "END") else ""
        if line.name == "BEGIN" and marker == "VCARD":
            if current is not None:
                raise FormatError(f"line {number}: BEGIN:VCARD inside a vCard started on line {begin}")
            current, begin = [], number
        elif line.name == "END" and marker == "VCARD":
            if current is None:
                raise FormatError(f"line {number}: END:VCARD without BEGIN:VCARD")
            cards.append(_card(current, begin))
            current = None
        elif current is None:
            raise FormatError(f"line {number}: content outside BEGIN:VCARD/END:VCARD ({raw[:40]!r})")
        else:
            current.append(line)
    if current is not None:
        raise FormatError(f"line {begin}: vCard is not closed (END:VCARD missing)")
    if not cards:
        raise FormatError("no vCard found (BEGIN:VCARD missing)")
    return cards


def parse_vcard(data: str | bytes) -> ContactCard:
    """Exactly one vCard."""
    cards = parse_vcards(data)
    if len(cards) != 1:
        raise FormatError(f"expected one vCard, found {len(cards)}")
    return cards[0]
