"""Corpus figures of shared/formats, measured so that the proof does not agree with itself.

For every .ics and .vcf file of the shared corpus (``/work/shared/corpora`` or ``$MAILFERRY_CORPORA``):

- **accepted**: our parser reads it (the rest are refused with a FormatError saying why);
- **round trip**: file -> our parser -> record -> our writer -> text -> our parser -> the same record;
- **independent**: the text our writer produced and the original file are both read by the *other*
  library -- vobject for iCalendar (we parse and write with icalendar), icalendar's generic component
  reader for vCard (we use vobject) -- and carry the same property values. The only differences
  allowed are listed in ``ICS_SAME`` / ``VCF_SAME`` below, each with its reason. A file the other
  library cannot read even in its original form is counted as "not checkable", not as passed.

Run: ``.venv/bin/python scripts/format_corpus.py`` (``-v`` lists every file that is not equal).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import vobject

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.formats import FormatError  # noqa: E402
from shared.formats.ical import parse_calendar, serialize_calendar  # noqa: E402
from shared.formats.vcard import parse_vcards, serialize_vcard  # noqa: E402

CORPORA = Path(os.environ.get("MAILFERRY_CORPORA", "/work/shared/corpora"))

# What may differ between the original and our text, read by the other library, and why.
ICS_SAME = {
    "PRODID": "we write our own PRODID (Calendar.prodid is not compared)",
    "VERSION": "we always write VERSION:2.0",
    "VTIMEZONE": "we write one VTIMEZONE per zone in use (a Windows or vendor-prefixed TZID becomes its IANA "
    "name); zones are compared through the wall time and UTC offset of every date-time instead",
}
# How the two readings are compared beyond equality, and why.
ICS_RULES = (
    "date-times compare by wall time and UTC offset; where vobject cannot resolve the original's TZID "
    "(no VTIMEZONE in the file) only the wall time is compared, since our text adds the zone's definition",
    "RRULE parts compare as a set, without INTERVAL=1 (the default), a '+' ordinal sign or stray backslashes",
    "durations compare by length: vobject types a VALARM's values only where it expects a VALARM",
    "an RDATE without a value names no date (icalendar drops it)",
    "a TEXT value with an unescaped ',' (invalid, RFC 5545 3.3.11) is read by vobject only up to that comma "
    "in the original; ours escapes it, so our value must start with the original's value followed by ','",
    "properties after END:VCALENDAR belong to the calendar (we write them inside it)",
    "GEO compares as numbers; a parameter without a value (X-TITLE=) equals one with an empty value",
)
ICS_PARAMS_SAME = {
    "TZID": "see VTIMEZONE: the zone's name may change, its offsets may not",
    "VALUE": "vobject turns the value type into the value itself, which is compared",
}
VCF_SAME = {
    "VERSION": "we write the version the card was read as, 3.0 unless it was 4.0",
    "PRODID": "compared, but kept as an extra line",
}


@dataclass
class Figures:
    files: int = 0
    accepted: int = 0
    round_trip: int = 0
    independent: int = 0
    not_checkable: int = 0
    differences: dict[str, str] = field(default_factory=dict)  # file -> first difference

    def line(self, kind: str) -> str:
        return (f"{kind}: {self.accepted}/{self.files} accepted, {self.round_trip}/{self.files} equal records "
                f"after a round trip, {self.independent}/{self.files} with the same property values read by the "
                f"other library ({self.not_checkable} it cannot read in their original form)")


# -- iCalendar, read by vobject ------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A comparable form: wall time and UTC offset for date-times, so a renamed zone with the same offsets
    compares equal and a zone with other offsets does not."""
    if isinstance(v, datetime):
        offset = v.utcoffset() if v.tzinfo is not None else None
        return ("dt", v.replace(tzinfo=None).isoformat(), offset)
    if isinstance(v, date):
        return ("d", v.isoformat())
    if isinstance(v, timedelta):
        return ("td", v.total_seconds())
    if isinstance(v, tuple | list):
        return tuple(_value(x) for x in v)
    if isinstance(v, bytes):
        return ("b", v)
    if isinstance(v, str) and _DURATION.match(v) and v.strip("+-P"):
        return _value(vobject.icalendar.stringToDurations(v)[0])
    if isinstance(v, str) and re.fullmatch(r"\d{8}T\d{6}Z?", v):
        return _value(vobject.icalendar.stringToDateTime(v))
    return str(v)


def _rule_parts(text: str) -> tuple[str, ...]:
    parts = re.sub(r"[\s\\]+", "", text).upper().replace("=+", "=").replace(",+", ",").split(";")
    return tuple(sorted(p for p in parts if p and p != "INTERVAL=1"))


_DURATION = re.compile(r"^[+-]?P(\d+W|(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?)$")


def _ics_property(line: Any) -> list[Any]:
    """One vobject content line -> its values (lists flattened: EXDATE and CATEGORIES may be split)."""
    params = tuple(sorted((k, tuple(v)) for k, v in line.params.items()
                          if k not in ICS_PARAMS_SAME and not k.startswith("X-VOBJ-")))  # vobject's own notes
    params = tuple(sorted(params + tuple((s.upper(), ("",)) for s in line.singletonparams)))
    value = line.value
    if line.name in ("RRULE", "EXRULE"):
        return [(_rule_parts(str(value)), params)]
    if line.name == "GEO":
        return [(tuple(float(x) for x in re.split(r"[;,]", str(value))), params)]
    values = value if isinstance(value, list) else [value]
    return [(_value(v), params) for v in values if not (line.name == "RDATE" and v == "")]


def _ics_component(comp: Any) -> dict[str, Any]:
    props: dict[str, list[Any]] = {}
    for line in comp.lines():
        if line.name not in ICS_SAME:
            props.setdefault(line.name, []).extend(_ics_property(line))
    props = {k: v for k, v in props.items() if v}
    view: dict[str, Any] = {k: sorted(v, key=repr) for k, v in sorted(props.items())}
    for child in comp.components():
        if child.name not in ICS_SAME:
            view.setdefault(f"BEGIN:{child.name}", []).append(_ics_component(child))
    for key in [k for k in view if k.startswith("BEGIN:")]:
        view[key] = sorted(view[key], key=repr)
    return view


def ics_view(text: str) -> dict[str, Any]:
    """What vobject reads from an .ics text: calendar properties and each component by name/UID/RECURRENCE-ID."""
    view: dict[str, Any] = {"calendar": []}
    for top in vobject.readComponents(text.lstrip("\ufeff")):
        comps = list(top.components()) if top.name == "VCALENDAR" else [top] if top.name else []
        if top.name in ("VCALENDAR", ""):
            view["calendar"].extend(repr(p) for line in top.lines() if line.name not in ICS_SAME
                                    for p in _ics_property(line))
        for comp in comps:
            if comp.name in ICS_SAME:
                continue
            uid = comp.contents.get("uid", [None])[0]
            rid = comp.contents.get("recurrence-id", [None])[0]
            key = f"{comp.name} {uid.value if uid else ''} {_value(rid.value) if rid else ''}"
            view.setdefault(key, []).append(_ics_component(comp))
    return {k: sorted(v, key=repr) for k, v in view.items()}


# -- vCard, read by icalendar's generic component reader --------------------------------------


def _vcf_value(name: str, prop: Any) -> Any:
    raw = prop.to_ical() if hasattr(prop, "to_ical") else str(prop)
    raw = raw.decode() if isinstance(raw, bytes) else str(raw)
    if name in ("BDAY", "ANNIVERSARY", "X-ANNIVERSARY"):
        digits = raw.replace("-", "")  # 1970-01-01 and 19700101 are the same date (RFC 2426 / RFC 6350)
        return digits if re.fullmatch(r"\d{8}", digits) else raw
    if name == "PHOTO" and raw.startswith("data:") and ";base64," in raw:
        return raw.split(";base64,", 1)[1]  # the same image: a data: URI in 3.0 is written as ENCODING=b data
    if name in ("CATEGORIES", "NICKNAME"):
        return tuple(v for v in re.split(r"(?<!\\),", raw) if v)
    return raw


def vcf_view(text: str) -> list[Any]:
    """What icalendar's generic reader sees in a .vcf text: per card, property name -> values and params."""
    cards = []
    for comp in icalendar.Component.from_ical(text.lstrip("\ufeff"), multiple=True):
        props: dict[str, list[str]] = {}
        for name, value in comp.items():
            for one in value if isinstance(value, list) else [value]:
                params = tuple(sorted((k.upper(), str(v).upper() if k.upper() == "TYPE" else str(v))
                                      for k, v in one.params.items()))
                props.setdefault(name.upper(), []).append(repr((_vcf_value(name.upper(), one), params)))
        cards.append({k: sorted(v) for k, v in sorted(props.items()) if k not in VCF_SAME})
    return cards


# -- the measurement ----------------------------------------------------------------------------


def same(original: Any, ours: Any) -> bool:
    """Equal, up to the ICS_RULES that are not already in the views."""
    if isinstance(original, dict) and isinstance(ours, dict):
        return original.keys() == ours.keys() and all(same(original[k], ours[k]) for k in original)
    if isinstance(original, list | tuple) and isinstance(ours, list | tuple):
        if len(original) == 3 and len(ours) == 3 and original[0] == ours[0] == "dt" and original[2] is None:
            return bool(original[1] == ours[1])  # the original's zone is unknown to vobject: wall time only
        return len(original) == len(ours) and all(same(a, b) for a, b in zip(original, ours, strict=True))
    if isinstance(original, str) and isinstance(ours, str) and original != ours:
        return ours.startswith(original + ",")  # vobject stops at an unescaped ',' of the original
    return bool(original == ours)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}/{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: original {a!r} != ours {b!r}"[:300]


def measure(files: Iterable[Path], parse: Callable[[bytes], Any], write: Callable[[Any], str],
            view: Callable[[str], Any]) -> Figures:
    figures = Figures()
    for path in files:
        figures.files += 1
        data = path.read_bytes()
        try:
            record = parse(data)
        except FormatError:
            continue
        figures.accepted += 1
        ours = write(record)
        figures.round_trip += parse(ours.encode()) == record
        try:
            original = view(data.decode("utf-8", errors="replace"))
        except Exception:  # the other library refuses the original: nothing to compare with
            figures.not_checkable += 1
            continue
        try:
            mine = view(ours)
        except Exception as exc:  # the other library refuses our text: a failure of ours
            figures.differences[path.name] = f"the other library cannot read our text: {exc}"[:400]
            continue
        if same(original, mine):
            figures.independent += 1
        else:
            figures.differences[path.name] = _first_difference(original, mine)
    return figures


def ics_figures(root: Path = CORPORA) -> Figures:
    return measure(sorted((root / "ics").rglob("*.ics")), parse_calendar, serialize_calendar, ics_view)


def vcf_figures(root: Path = CORPORA) -> Figures:
    def write(cards: list[Any]) -> str:
        return "".join(serialize_vcard(c, "4.0" if c.version == "4.0" else "3.0") for c in cards)

    return measure(sorted((root / "vcf").rglob("*.vcf")), parse_vcards, write, vcf_view)


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)  # vobject logs every line it cannot read
    for kind, figures in (("ics", ics_figures()), ("vcf", vcf_figures())):
        print(figures.line(kind))
        if "-v" in sys.argv:
            for name, difference in sorted(figures.differences.items()):
                print(f"  {name}: {difference}")


if __name__ == "__main__":
    main()
