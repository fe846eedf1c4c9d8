"""vCard (RFC 2426 3.0, RFC 6350 4.0, and the 2.1 quirks real exporters still write) <-> ContactCard.

Tolerant on input (bare 2.1 type parameters, QUOTED-PRINTABLE with CHARSET, BASE64 photos, data: URIs,
any line ending, BOM), strict where data would otherwise be lost: a card without any name (no FN and no N)
or with broken structure raises :class:`~shared.formats.FormatError`. Every property that has no field in
:class:`ContactCard` is kept verbatim in ``extra`` and written back as it came.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from datetime import date

from . import ContentLine, FormatError, fold, format_line, parse_line, split_value, unfold

__all__ = [
    "Address",
    "ContactCard",
    "TypedValue",
    "escape",
    "parse_vcard",
    "parse_vcards",
    "serialize_vcard",
    "serialize_vcards",
    "unescape",
]


@dataclass
class TypedValue:
    """An e-mail address, phone number or URL with its TYPE values (lower case) and preference."""

    value: str
    types: list[str] = field(default_factory=list)
    pref: int | None = None  # 1 = most preferred (vCard 4 PREF=1, vCard 3 TYPE=pref)
    group: str | None = None  # "item1" in item1.EMAIL (Apple labels)
    params: dict[str, list[str]] = field(default_factory=dict)  # other parameters, kept as they came


@dataclass
class Address:
    """A postal address (ADR) split the vCard way."""

    street: str = ""
    locality: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    po_box: str = ""
    extended: str = ""
    types: list[str] = field(default_factory=list)
    pref: int | None = None
    label: str | None = None  # vCard 4 LABEL parameter
    group: str | None = None
    params: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ContactCard:
    """A contact, independent of where it came from. Text fields are unescaped; ``extra`` holds raw lines."""

    formatted_name: str = ""  # FN (display name)
    family_name: str = ""
    given_name: str = ""
    middle_name: str = ""  # N "additional names"
    prefix: str = ""
    suffix: str = ""
    nickname: str | None = None
    emails: list[TypedValue] = field(default_factory=list)
    phones: list[TypedValue] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    organization: str | None = None
    department: str | None = None  # first ORG unit
    org_units: list[str] = field(default_factory=list)  # further ORG units
    title: str | None = None
    birthday: date | str | None = None  # a date, or the raw value when partial (--0415) or with a time
    anniversary: date | str | None = None
    note: str | None = None
    urls: list[TypedValue] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    photo: str | None = None  # base64, no line breaks
    photo_type: str | None = None  # media type, e.g. image/jpeg
    photo_uri: str | None = None  # a PHOTO given by reference (http:...), not embedded
    uid: str | None = None
    extra: list[str] = field(default_factory=list)  # unfolded content lines of properties not mapped above
    version: str = field(default="3.0", compare=False)  # the version it was read as

    @property
    def display_name(self) -> str:
        if self.formatted_name:
            return self.formatted_name
        parts = [self.prefix, self.given_name, self.middle_name, self.family_name, self.suffix]
        return " ".join(p for p in parts if p) or (self.organization or "")


# -- escaping ----------------------------------------------------------------------


def unescape(value: str) -> str:
    r"""Undo vCard/iCalendar text escaping (\n \N \, \; \\ and, tolerantly, \ before anything else)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def escape(value: str, structured: bool = True) -> str:
    value = value.replace("\\", "\\\\").replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    value = value.replace(",", "\\,")
    return value.replace(";", "\\;") if structured else value


def _components(value: str, count: int) -> list[str]:
    """Structured value (N, ADR, ORG): unescaped components, list values inside one joined by ','."""
    parts = [",".join(unescape(v) for v in split_value(p, ",")) for p in split_value(value, ";")]
    return (parts + [""] * count)[:count] if count else parts


# -- decoding ----------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")


def _parse_date(value: str) -> date | str:
    m = _DATE.match(value.strip())
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    return value.strip()


def _format_date(value: date | str, version: str) -> tuple[str, dict[str, list[str]]]:
    if isinstance(value, str):
        return value, ({"VALUE": ["text"]} if version == "4.0" and not re.match(r"^[\d\-T:Z+]+$", value) else {})
    if version == "4.0":
        return value.strftime("%Y%m%d"), {}
    return value.isoformat(), {}


def _decoded_value(line: ContentLine) -> str:
    """The value with 2.1 QUOTED-PRINTABLE / CHARSET applied (text, still escaped)."""
    encoding = (line.param("ENCODING") or "").upper()
    if encoding == "QUOTED-PRINTABLE":
        raw = quopri.decodestring(line.value.encode("latin-1", errors="replace"))
        charset = line.param("CHARSET") or "utf-8"
        try:
            return raw.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return raw.decode("cp1252", errors="replace")
    return line.value


def _types(line: ContentLine) -> tuple[list[str], int | None]:
    types: list[str] = []
    for t in line.params.get("TYPE", []):
        types.extend(x.strip().lower() for x in t.split(",") if x.strip())
    pref: int | None = None
    if "pref" in types:
        types = [t for t in types if t != "pref"]
        pref = 1
    raw_pref = line.param("PREF")
    if raw_pref is not None:
        if not raw_pref.strip().isdigit():
            raise FormatError(f"line {line.lineno}: PREF must be a number, got {raw_pref!r}")
        pref = int(raw_pref)
    return types, pref


_CONSUMED_PARAMS = {"TYPE", "PREF", "CHARSET", "ENCODING", "LABEL"}


def _other_params(line: ContentLine) -> dict[str, list[str]]:
    return {k: list(v) for k, v in line.params.items() if k not in _CONSUMED_PARAMS}


def _photo(line: ContentLine, card: ContactCard) -> bool:
    """Fill the photo fields from PHOTO; False if it has to be kept raw."""
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
        raise FormatError(f"line {line.lineno}: PHOTO is not valid base64 ({exc})") from exc
    if card.photo is not None:
        return False
    card.photo, card.photo_type = data, media
    return True


def _card_from_lines(lines: list[ContentLine]) -> ContactCard:
    card = ContactCard()
    version = next((ln.value.strip() for ln in lines if ln.name == "VERSION"), "3.0")
    if version not in ("2.1", "3.0", "4.0"):
        raise FormatError(f"line {lines[0].lineno if lines else 0}: unsupported vCard VERSION {version!r}")
    card.version = version
    have_fn = have_n = False
    for ln in lines:
        name = ln.name
        value = _decoded_value(ln)
        if name == "VERSION":
            continue
        if name == "FN" and not have_fn:
            card.formatted_name = unescape(value).strip()
            have_fn = True
        elif name == "N" and not have_n:
            (
                card.family_name,
                card.given_name,
                card.middle_name,
                card.prefix,
                card.suffix,
            ) = _components(value, 5)
            have_n = True
        elif name == "NICKNAME" and card.nickname is None:
            card.nickname = ",".join(unescape(v) for v in split_value(value, ","))
        elif name in ("EMAIL", "TEL", "URL"):
            types, pref = _types(ln)
            tv = TypedValue(unescape(value).strip(), types, pref, ln.group, _other_params(ln))
            {"EMAIL": card.emails, "TEL": card.phones, "URL": card.urls}[name].append(tv)
        elif name == "ADR":
            types, pref = _types(ln)
            po_box, extended, street, locality, region, code, country = _components(value, 7)
            card.addresses.append(
                Address(
                    street,
                    locality,
                    region,
                    code,
                    country,
                    po_box,
                    extended,
                    types,
                    pref,
                    ln.param("LABEL"),
                    ln.group,
                    _other_params(ln),
                )
            )
        elif name == "ORG" and card.organization is None:
            parts = _components(value, 0)
            card.organization = parts[0]
            card.department = parts[1] if len(parts) > 1 else None
            card.org_units = parts[2:]
        elif name == "TITLE" and card.title is None:
            card.title = unescape(value)
        elif name == "BDAY" and card.birthday is None:
            card.birthday = _parse_date(value)
        elif name in ("ANNIVERSARY", "X-ANNIVERSARY", "X-MS-ANNIVERSARY") and card.anniversary is None:
            card.anniversary = _parse_date(value)
        elif name == "NOTE" and card.note is None:
            card.note = unescape(value)
        elif name == "CATEGORIES":
            card.categories.extend(unescape(v) for v in split_value(value, ",") if v)
        elif name == "PHOTO" and _photo(ln, card):
            pass
        elif name == "UID" and card.uid is None:
            card.uid = unescape(value).strip()
        else:
            card.extra.append(ln.raw)
    if not have_fn and not any((card.family_name, card.given_name, card.middle_name, card.prefix, card.suffix)):
        where = f"line {lines[0].lineno}" if lines else "vCard"
        raise FormatError(f"{where}: vCard has no name (neither FN nor N); uid={card.uid!r}")
    if not have_fn:
        card.formatted_name = card.display_name
    return card


def parse_vcards(data: str | bytes) -> list[ContactCard]:
    """Every vCard in ``data`` (a .vcf file). Raises FormatError if any card is malformed."""
    cards: list[ContactCard] = []
    current: list[ContentLine] | None = None
    depth_line = 0
    for lineno, text in unfold(data, qp_soft_breaks=True):
        ln = parse_line(text, lineno, allow_group=True, bare_params=True)
        if ln.name == "BEGIN" and ln.value.strip().upper() == "VCARD":
            if current is not None:
                raise FormatError(f"line {lineno}: BEGIN:VCARD inside a vCard started on line {depth_line}")
            current, depth_line = [], lineno
        elif ln.name == "END" and ln.value.strip().upper() == "VCARD":
            if current is None:
                raise FormatError(f"line {lineno}: END:VCARD without BEGIN:VCARD")
            cards.append(_card_from_lines(current))
            current = None
        elif current is None:
            raise FormatError(f"line {lineno}: content outside BEGIN:VCARD/END:VCARD ({text[:40]!r})")
        else:
            current.append(ln)
    if current is not None:
        raise FormatError(f"line {depth_line}: vCard is not closed (END:VCARD missing)")
    if not cards:
        raise FormatError("no vCard found (BEGIN:VCARD missing)")
    return cards


def parse_vcard(data: str | bytes) -> ContactCard:
    """Exactly one vCard."""
    cards = parse_vcards(data)
    if len(cards) != 1:
        raise FormatError(f"expected one vCard, found {len(cards)}")
    return cards[0]


# -- serializing --------------------------------------------------------------------


def _typed_params(tv: TypedValue | Address, version: str) -> dict[str, list[str]]:
    types = list(tv.types)
    params: dict[str, list[str]] = {}
    if tv.pref is not None:
        if version == "4.0" or tv.pref != 1:
            params["PREF"] = [str(tv.pref)]  # in 3.0 only a rank other than 1 needs it (non-standard, kept)
        elif "pref" not in types:
            types.append("pref")
    if types:
        params = {"TYPE": [",".join(types)], **params}
    return {**params, **tv.params}


def serialize_vcard(card: ContactCard, version: str = "3.0") -> str:
    """One vCard as text (CRLF, folded at 75 octets). ``version`` is "3.0" or "4.0"."""
    if version not in ("3.0", "4.0"):
        raise ValueError("vCard version must be 3.0 or 4.0")
    out = ["BEGIN:VCARD", f"VERSION:{version}"]
    if card.uid is not None:
        out.append(format_line("UID", escape(card.uid, structured=False)))
    out.append(format_line("FN", escape(card.formatted_name or card.display_name)))
    names = (card.family_name, card.given_name, card.middle_name, card.prefix, card.suffix)
    if any(names) or version == "3.0":
        out.append(format_line("N", ";".join(escape(p) for p in names)))
    if card.nickname is not None:
        out.append(format_line("NICKNAME", ",".join(escape(p) for p in card.nickname.split(","))))
    for tv in card.emails:
        out.append(format_line("EMAIL", escape(tv.value), _typed_params(tv, version), tv.group))
    for tv in card.phones:
        out.append(format_line("TEL", escape(tv.value), _typed_params(tv, version), tv.group))
    for adr in card.addresses:
        params = _typed_params(adr, version)
        if adr.label is not None:
            params["LABEL"] = [adr.label]
        parts = (adr.po_box, adr.extended, adr.street, adr.locality, adr.region, adr.postal_code, adr.country)
        out.append(format_line("ADR", ";".join(escape(p) for p in parts), params, adr.group))
    if card.organization is not None:
        units = [card.organization] + ([card.department or ""] if card.department is not None or card.org_units else [])
        out.append(format_line("ORG", ";".join(escape(p) for p in units + card.org_units)))
    if card.title is not None:
        out.append(format_line("TITLE", escape(card.title)))
    if card.birthday is not None:
        value, params = _format_date(card.birthday, version)
        out.append(format_line("BDAY", value, params))
    if card.anniversary is not None:
        value, params = _format_date(card.anniversary, version)
        out.append(format_line("ANNIVERSARY" if version == "4.0" else "X-ANNIVERSARY", value, params))
    if card.note is not None:
        out.append(format_line("NOTE", escape(card.note)))
    for tv in card.urls:
        out.append(format_line("URL", tv.value, _typed_params(tv, version), tv.group))
    if card.categories:
        out.append(format_line("CATEGORIES", ",".join(escape(c) for c in card.categories)))
    if card.photo is not None:
        if version == "4.0":
            out.append(format_line("PHOTO", f"data:{card.photo_type or ''};base64,{card.photo}"))
        else:
            params = {"ENCODING": ["b"]}
            if card.photo_type:
                params["TYPE"] = [card.photo_type.split("/", 1)[-1].upper()]
            out.append(format_line("PHOTO", card.photo, params))
    out.extend(card.extra)
    out.append("END:VCARD")
    return "".join(fold(line) for line in out)


def serialize_vcards(cards: list[ContactCard], version: str = "3.0") -> str:
    return "".join(serialize_vcard(c, version) for c in cards)
