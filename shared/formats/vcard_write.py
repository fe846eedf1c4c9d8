"""Writing: a ContactCard becomes content lines that vobject writes (quoting, folding), in 3.0 or 4.0."""

from __future__ import annotations

import re
from datetime import date

from .vcard_lines import escape, read_line, serialize_line
from .vcard_records import Address, ContactCard, TypedValue


def _format_date(value: date | str, version: str) -> tuple[str, dict[str, list[str]]]:
    if isinstance(value, str):
        return value, ({"VALUE": ["text"]} if version == "4.0" and not re.match(r"^[\d\-T:Z+]+$", value) else {})
    if version == "4.0":
        return value.strftime("%Y%m%d"), {}
    return value.isoformat(), {}


def _kept_line(text: str) -> str:
    """A kept ``extra`` line, read and written again by vobject."""
    line = read_line(text, 0)
    return serialize_line(line.name, line.value, line.params, line.group)


def _typed_params(tv: TypedValue | Address, version: str) -> dict[str, list[str]]:
    types = list(tv.types)
    params: dict[str, list[str]] = {}
    if tv.pref is not None:
        if version == "4.0" or tv.pref != 1:
            params["PREF"] = [str(tv.pref)]  # in 3.0 only a rank other than 1 needs it (non-standard, kept)
        elif "pref" not in types:
            types.append("pref")
    if types:  # upper case in 3.0, as RFC 2426 writes them (readers compare them without case)
        params = {"TYPE": [t.upper() for t in types] if version == "3.0" else types, **params}
    return {**params, **tv.params}


def _structured(parts: list[str] | tuple[str, ...]) -> str:
    return ";".join(escape(p) for p in parts)


def _name_lines(card: ContactCard, version: str) -> list[str]:
    out = [serialize_line("FN", escape(card.formatted_name or card.display_name))]
    names = (card.family_name, card.given_name, card.middle_name, card.prefix, card.suffix)
    if any(names) or version == "3.0":
        out.append(serialize_line("N", _structured(names)))
    if card.nickname is not None:
        out.append(serialize_line("NICKNAME", ",".join(escape(p) for p in card.nickname.split(","))))
    return out


def _typed_lines(card: ContactCard, version: str) -> list[str]:
    out = [serialize_line("EMAIL", escape(tv.value), _typed_params(tv, version), tv.group) for tv in card.emails]
    out += [serialize_line("TEL", escape(tv.value), _typed_params(tv, version), tv.group) for tv in card.phones]
    for adr in card.addresses:
        params = _typed_params(adr, version)
        if adr.label is not None:
            params["LABEL"] = [adr.label]
        parts = (adr.po_box, adr.extended, adr.street, adr.locality, adr.region, adr.postal_code, adr.country)
        out.append(serialize_line("ADR", _structured(parts), params, adr.group))
    return out


def _other_lines(card: ContactCard, version: str) -> list[str]:
    out: list[str] = []
    if card.organization is not None:
        units = [card.organization] + ([card.department or ""] if card.department is not None or card.org_units else [])
        out.append(serialize_line("ORG", _structured(units + card.org_units)))
    if card.title is not None:
        out.append(serialize_line("TITLE", escape(card.title)))
    for name, when in (("BDAY", card.birthday), ("ANNIVERSARY" if version == "4.0" else "X-ANNIVERSARY",
                                                  card.anniversary)):
        if when is not None:
            out.append(serialize_line(name, *_format_date(when, version)))
    if card.note is not None:
        out.append(serialize_line("NOTE", escape(card.note)))
    out += [serialize_line("URL", tv.value, _typed_params(tv, version), tv.group) for tv in card.urls]
    if card.categories:
        out.append(serialize_line("CATEGORIES", ",".join(escape(c) for c in card.categories)))
    if card.photo is not None:
        if version == "4.0":
            out.append(serialize_line("PHOTO", f"data:{card.photo_type or ''};base64,{card.photo}"))
        else:
            params = {"ENCODING": ["b"]}
            if card.photo_type:
                params["TYPE"] = [card.photo_type.split("/", 1)[-1].upper()]
            out.append(serialize_line("PHOTO", card.photo, params))
    return out


def serialize_vcard(card: ContactCard, version: str = "3.0") -> str:
    """One vCard as text (CRLF, folded at 75 octets). ``version`` is "3.0" or "4.0"."""
    if version not in ("3.0", "4.0"):
        raise ValueError("vCard version must be 3.0 or 4.0")
    out = [serialize_line("BEGIN", "VCARD"), serialize_line("VERSION", version)]
    if card.uid is not None:
        out.append(serialize_line("UID", escape(card.uid)))
    out += _name_lines(card, version) + _typed_lines(card, version) + _other_lines(card, version)
    out += [_kept_line(line) for line in card.extra]
    out.append(serialize_line("END", "VCARD"))
    return "".join(out)


def serialize_vcards(cards: list[ContactCard], version: str = "3.0") -> str:
    return "".join(serialize_vcard(c, version) for c in cards)
