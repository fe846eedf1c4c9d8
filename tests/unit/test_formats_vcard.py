"""vCard parsing/serializing (shared.formats.vcard), including every .vcf of the shared corpus."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shared.formats import FormatError
from shared.formats.vcard import ContactCard, TypedValue, parse_vcard, parse_vcards, serialize_vcard, serialize_vcards

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "vcf"
VCF_FILES = sorted(CORPUS.rglob("*.vcf"))
# Deliberately broken files of the corpus: a card with neither FN nor N.
BROKEN = {"broken-vcard.vcf", "broken-vcards.vcf", "broken-vcards2.vcf", "broken-vcards2-no_uid.vcf"}


def test_corpus_is_there() -> None:
    assert len(VCF_FILES) == 14


@pytest.mark.parametrize("path", VCF_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
@pytest.mark.parametrize("version", ["3.0", "4.0"])
def test_corpus_round_trip(path: Path, version: str) -> None:
    data = path.read_bytes()
    if path.name in BROKEN:
        with pytest.raises(FormatError, match="no name"):
            parse_vcards(data)
        return
    cards = parse_vcards(data)
    assert cards
    assert parse_vcards(serialize_vcards(cards, version)) == cards


def test_corpus_fields() -> None:
    card = parse_vcard((CORPUS / "vobject" / "radicale-1587.vcf").read_bytes())
    assert (card.family_name, card.given_name, card.middle_name, card.prefix, card.suffix) == (
        "Family",
        "Given",
        "Additional",
        "Prefix",
        "Suffix",
    )
    assert card.formatted_name == "Given Family"
    assert card.extra == ["GEO:37.386013;-122.082932"]
    bday = parse_vcard((CORPUS / "radicale" / "contact2-with-bday.vcf").read_bytes())
    assert bday.birthday == date(1970, 1, 1) and bday.nickname == "Test-NICKNAME"
    assert bday.extra == ["PRODID:+//IDN bitfire.at//DAVx5/3.3.5-ose ez-vcard/0.11.0"]
    photo = parse_vcard((CORPUS / "radicale" / "contact_photo_with_data_uri.vcf").read_bytes())
    assert photo.photo_type == "image/png" and photo.photo and photo.photo.startswith("iVBORw0KGgo")


def test_folding_escaping_and_types() -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:M\u00fcller\\, Hans\r\nN:M\u00fcller;Hans;;Dr.;\r\n"
        "NOTE:first line\\nsecond\\; with semicolon and a very long tail that needs folding at seventy-f\r\n"
        " ive octets\r\n"
        "EMAIL;TYPE=INTERNET;TYPE=WORK,pref:hans@example.test\r\n"
        "item1.EMAIL;TYPE=INTERNET:h2@example.test\r\nitem1.X-ABLabel:Private\r\n"
        "TEL;TYPE=CELL;X-SERVICE=1:+49 170 1\r\n"
        "ADR;TYPE=HOME:;Apt 3;Weg 1\\, Hinterhaus;Berlin;;10115;DE\r\n"
        'ORG:ACME;R&D;Lab 2\r\nCATEGORIES:a,b\\,c\r\nX-CUSTOM;FOO="x:y":value\r\nEND:VCARD\r\n'
    )
    card = parse_vcard(text)
    assert card.formatted_name == "M\u00fcller, Hans" and card.prefix == "Dr."
    assert (
        card.note == "first line\nsecond; with semicolon and a very long tail that needs folding at seventy-five octets"
    )
    assert card.emails[0] == TypedValue("hans@example.test", ["internet", "work"], 1)
    # property names are case-insensitive (RFC 6350 3.3); a kept line is written as vobject writes it
    assert card.emails[1].group == "item1" and "item1.X-ABLABEL:Private" in card.extra
    assert card.phones[0].params == {"X-SERVICE": ["1"]}
    adr = card.addresses[0]
    assert (adr.extended, adr.street, adr.locality, adr.postal_code, adr.types) == (
        "Apt 3",
        "Weg 1, Hinterhaus",
        "Berlin",
        "10115",
        ["home"],
    )
    assert (card.organization, card.department, card.org_units) == ("ACME", "R&D", ["Lab 2"])
    assert card.categories == ["a", "b,c"]
    out = serialize_vcard(card)
    assert all(len(line.encode()) <= 75 for line in out.split("\r\n"))
    assert parse_vcard(out) == card
    assert parse_vcard(serialize_vcard(card, "4.0")) == card


def test_vcard21_quoted_printable_and_charset() -> None:
    raw = (
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=FCrgen\r\n"
        b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BC=\r\nller\r\n"
        b"TEL;HOME;VOICE:+49 30 1\r\nPHOTO;JPEG;ENCODING=BASE64:\r\n /9j/4AAQSkZJRg==\r\n\r\nEND:VCARD\r\n"
    )
    card = parse_vcard(raw)
    assert (card.family_name, card.given_name) == ("M\u00fcller", "J\u00fcrgen")
    assert card.formatted_name == "J\u00fcrgen M\u00fcller"
    assert card.phones[0].types == ["home", "voice"]
    assert (card.photo, card.photo_type) == ("/9j/4AAQSkZJRg==", "image/jpeg")
    again = parse_vcard(serialize_vcard(card))
    assert again == card and again.version == "3.0"


def test_vcard4_specifics() -> None:
    text = (
        "BEGIN:VCARD\nVERSION:4.0\nFN:A\nEMAIL;PREF=2;TYPE=work:a@example.test\nBDAY:--0415\n"
        "ANNIVERSARY:20050601\nTEL;VALUE=uri;TYPE=cell:tel:+1-555-0100\nEND:VCARD\n"
    )
    card = parse_vcard(text)
    assert card.emails[0].pref == 2 and card.birthday == "--0415" and card.anniversary == date(2005, 6, 1)
    assert card.phones[0].value == "tel:+1-555-0100" and card.phones[0].params == {"VALUE": ["uri"]}
    assert parse_vcard(serialize_vcard(card, "4.0")) == card
    assert parse_vcard(serialize_vcard(card, "3.0")) == card


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BEGIN:VCARD\nVERSION:3.0\nFN:x\n", "not closed"),
        ("FN:x\n", "outside"),
        ("BEGIN:VCARD\nVERSION:3.0\nFN x\nEND:VCARD\n", "no ':'"),
        ("BEGIN:VCARD\nVERSION:5.0\nFN:x\nEND:VCARD\n", "VERSION"),
        ("BEGIN:VCARD\nVERSION:3.0\nFN:x\nPHOTO;ENCODING=b:@@@\nEND:VCARD\n", "base64"),
        ("", "no vCard"),
    ],
)
def test_broken_input_is_a_clear_format_error(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_vcards(text)


def test_card_without_fn_gets_one_from_n() -> None:
    card = parse_vcard("BEGIN:VCARD\nVERSION:3.0\nN:Doe;Jane;;;\nEND:VCARD\n")
    assert card.formatted_name == "Jane Doe"
    assert ContactCard(organization="ACME").display_name == "ACME"
