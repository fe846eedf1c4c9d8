"""The corpus read independently: what our writer produced, read by the *other* library, carries the same
property values as the original file read by that library (scripts/format_corpus.py holds the readers).

iCalendar is parsed and written with icalendar, so vobject reads both texts; vCard is parsed and written with
vobject, so icalendar's generic component reader reads both. Each file is expected to be equal, or is listed
below with the reason it cannot be.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.formats import FormatError
from shared.formats.ical import parse_calendar, serialize_calendar
from shared.formats.vcard import parse_vcards, serialize_vcard

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "format_corpus.py"
_spec = importlib.util.spec_from_file_location("format_corpus", _SCRIPT)
assert _spec is not None and _spec.loader is not None
corpus: Any = importlib.util.module_from_spec(_spec)
sys.modules["format_corpus"] = corpus
_spec.loader.exec_module(corpus)

ICS = sorted((corpus.CORPORA / "ics").rglob("*.ics"))
VCF = sorted((corpus.CORPORA / "vcf").rglob("*.vcf"))

# Accepted files vobject cannot read even in their original form: nothing to compare with.
ICS_NOT_CHECKABLE = {
    "issue_1633_freebusy_with_dates.ics": "dates without VALUE=DATE (vobject wants a DATE-TIME)",
    "issue_1633_rdate_with_dates.ics": "dates without VALUE=DATE (vobject wants a DATE-TIME)",
    "issue_1633_rdate_with_dates_and_tzid.ics": "dates without VALUE=DATE (vobject wants a DATE-TIME)",
    "issue_218_bad_tzid.ics": "a VTIMEZONE with DTSTART;VALUE=DATE",
    "multiple_calendar_components.ics": "blank lines inside folded lines",
}
# Accepted files whose values differ when vobject reads them, and why.
ICS_DIFFERENT = {
    # '\"' is no TEXT escape in RFC 5545: vobject drops the backslash, icalendar (our reader) keeps it
    "issue_350.ics": "DESCRIPTION",
}


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.disable(logging.CRITICAL)  # vobject logs what it cannot read
    yield
    logging.disable(logging.NOTSET)  # other tests read logs


def _checked(path: Path, parse: Any, write: Any, view: Any) -> str:
    """'refused', 'not checkable', 'equal', or the first difference."""
    try:
        record = parse(path.read_bytes())
    except FormatError:
        return "refused"
    ours = write(record)
    assert parse(ours.encode()) == record  # and the record survives our own round trip
    try:
        original = view(path.read_bytes().decode("utf-8", errors="replace"))
    except Exception:  # the other library refuses the original
        return "not checkable"
    mine = view(ours)
    return "equal" if corpus.same(original, mine) else corpus._first_difference(original, mine)


@pytest.mark.parametrize("path", ICS, ids=lambda p: p.name)
def test_ics_read_by_vobject_carries_the_same_values(path: Path) -> None:
    result = _checked(path, parse_calendar, serialize_calendar, corpus.ics_view)
    if path.name in ICS_NOT_CHECKABLE:
        assert result == "not checkable"
    elif path.name in ICS_DIFFERENT:
        assert ICS_DIFFERENT[path.name] in result
    else:
        assert result in ("equal", "refused")


def _vcf_write(cards: list[Any]) -> str:
    return "".join(serialize_vcard(c, "4.0" if c.version == "4.0" else "3.0") for c in cards)


@pytest.mark.parametrize("path", VCF, ids=lambda p: p.name)
def test_vcf_read_by_icalendar_carries_the_same_values(path: Path) -> None:
    assert _checked(path, parse_vcards, _vcf_write, corpus.vcf_view) in ("equal", "refused")


# The corpus has few parameters; these cards (written here) have types, preferences, groups and structure.
RICH_CARDS = [
    "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:M\u00fcller\\, Hans\r\nN:M\u00fcller;Hans;;Dr.;\r\n"
    "NOTE:first line\\nsecond\\; with semicolon\r\nEMAIL;TYPE=INTERNET,WORK,pref:hans@example.test\r\n"
    "item1.EMAIL;TYPE=INTERNET:h2@example.test\r\nitem1.X-ABLABEL:Private\r\nTEL;TYPE=CELL;X-SERVICE=1:+49 170 1\r\n"
    "ADR;TYPE=HOME:;Apt 3;Weg 1\\, Hinterhaus;Berlin;;10115;DE\r\nORG:ACME;R&D;Lab 2\r\nCATEGORIES:a,b\\,c\r\n"
    'X-CUSTOM;FOO="x:y":value\\, more\r\nBDAY:1970-01-01\r\nURL;TYPE=WORK:https://example.test/a?b=c\r\nEND:VCARD\r\n',
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEMAIL;PREF=2;TYPE=work:a@example.test\r\nBDAY:--0415\r\n"
    "ANNIVERSARY:20050601\r\nTEL;VALUE=uri;TYPE=cell:tel:+1-555-0100\r\nNICKNAME:x,y\r\nEND:VCARD\r\n",
]


@pytest.mark.parametrize("text", RICH_CARDS, ids=["3.0", "4.0"])
def test_rich_cards_read_by_icalendar_carry_the_same_values(text: str) -> None:
    ours = _vcf_write(parse_vcards(text))
    assert corpus.same(corpus.vcf_view(text), corpus.vcf_view(ours))


def test_the_independent_view_sees_a_lost_parameter() -> None:
    """The comparison can fail: a card whose TEL lost its TYPE reads differently."""
    text = RICH_CARDS[0]
    assert not corpus.same(corpus.vcf_view(text), corpus.vcf_view(text.replace("TEL;TYPE=CELL;", "TEL;")))
