"""Request fields checked before anything is looked up or sent: a server's name, a PST upload's address."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from services.intake.api_models import HOST_PATTERN, Endpoint, MigrationRequest
from services.intake.pst_checks import Refused, parse_fields
from shared.adapters import registry

ACCOUNT = {"type": "imap", "port": 993, "security": "tls", "login": "ann@example.test", "password": "pw"}


@pytest.mark.parametrize("host", ["imap.example.com", " imap.example.com ", "mail.bücher.de", "xn--bcher-kva.de",
                                  "imap_1.corp", "192.0.2.7", "2130706433", "[2001:db8::1]", "2001:db8::1"])
def test_names_and_addresses_pass_and_the_schema_says_the_same(host: str) -> None:
    assert Endpoint.model_validate({**ACCOUNT, "host": host}).host == host.strip()
    assert re.match(HOST_PATTERN, host)


@pytest.mark.parametrize(("host", "words"), [
    ("imap.example.com:993", "port field"), ("imaps://imap.example.com", "without a scheme"),
    ("ann@imap.example.com", "login field"), ("imap.example.com/", "a server name"), ("a b.example", "a server name"),
    ("imap.example.com\\x", "a server name"), ("%", "a server name"), ("[", "a server name"), ("'a'", "a server name"),
])
def test_what_no_resolver_finds_is_refused_naming_the_host(host: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Endpoint.model_validate({**ACCOUNT, "host": host})
    [err] = caught.value.errors()
    assert err["loc"] == ("host",) and words in err["msg"], err
    assert not re.match(HOST_PATTERN, host)


def test_a_pst_notification_address_must_be_utf8() -> None:
    target = json.dumps({**ACCOUNT, "host": "imap.example.com"}).encode()
    with pytest.raises(Refused) as caught:
        parse_fields({"target": target, "notify_email": b"ann\xff@example.test"}, allow_insecure_tls=False)
    assert (caught.value.status, caught.value.field) == (422, "notify_email")
    assert parse_fields({"target": target, "notify_email": "änn@example.test".encode()}, False).notify_email == (
        "änn@example.test")


def test_unknown_options_are_named_a_few_and_cut_short() -> None:
    """They are the caller's words: 6,000 of them made a message of 60 kB."""
    [(fld, message)] = registry.problems("imap", "imap", ["x" * 500, *(f"o{i}" for i in range(5999))])
    assert fld == "options" and "and 5997 more" in message and len(message) < 300, message
    with pytest.raises(ValidationError) as caught:
        MigrationRequest.model_validate({"source": {**ACCOUNT, "host": "a.example"},
                                         "target": {**ACCOUNT, "host": "b.example"}, "options": ["emails"] * 8})
    assert caught.value.errors()[0]["loc"] == ("options",)


#: Characters that are not seen but change what is shown: U+202E shows ``moc.elpmaxe@nna`` as ``ann@example.com``.
INVISIBLE = ["\u202e", "\u202d", "\u2066", "\u2069", "\u200b", "\u200d", "\u200e", "\u2060", "\ufeff", "\u00ad",
             "\u061c"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_and_text_direction_characters_are_refused_in_names_and_the_schema_says_so(char: str) -> None:
    """Found in a hostile review: a login, a server name or a notification address holding one passed, and could
    pass for another account on the operator's page, in a CSV export or a log line."""
    fields = {"login": f"ann{char}@example.test", "host": f"imap{char}.example.com"}
    for fld, value in fields.items():
        with pytest.raises(ValidationError) as caught:
            Endpoint.model_validate({**ACCOUNT, "host": "imap.example.com", fld: value})
        [err] = caught.value.errors()
        assert err["loc"] == (fld,) and "invisible" in err["msg"], err
    with pytest.raises(ValidationError) as caught:
        MigrationRequest.model_validate({"source": {**ACCOUNT, "host": "a.example"},
                                         "target": {**ACCOUNT, "host": "b.example"},
                                         "notify_email": f"ann@exam{char}ple.test"})
    assert caught.value.errors()[0]["loc"] == ("notify_email",)
    schema = Endpoint.model_json_schema()["properties"]
    for fld, value in fields.items():
        assert not re.match(schema[fld]["pattern"], value), fld
    # A password may hold anything printable: it is sent, never shown.
    assert Endpoint.model_validate({**ACCOUNT, "host": "a.example", "password": f"pw{char}"}).password == f"pw{char}"


def test_names_in_other_scripts_still_pass() -> None:
    account = Endpoint.model_validate({**ACCOUNT, "host": "mail.bücher.de", "login": "jürgen@bücher.de"})
    assert (account.host, account.login) == ("mail.bücher.de", "jürgen@bücher.de")
    request = MigrationRequest.model_validate({"source": {**ACCOUNT, "host": "a.example"},
                                               "target": {**ACCOUNT, "host": "b.example"},
                                               "notify_email": "änn@bücher.example"})
    assert request.notify_email == "änn@bücher.example"


@pytest.mark.parametrize(("host", "meant"), [("straße.de", "xn--strae-oqa.de"), ("mail.ςa.gr", "mail.xn--a-xmb.gr")])
def test_a_server_name_two_idnas_read_apart_is_refused_naming_the_one_to_write(host: str, meant: str) -> None:
    """Found in a hostile review: the resolver and the TLS check (Python's IDNA 2003) read straße.de as strasse.de,
    another owner's domain than the xn--strae-oqa.de registries mean (IDNA 2008): the password went there."""
    assert host.encode("idna").decode() != meant  # the two readings, as the resolver sees the name
    with pytest.raises(ValidationError) as caught:
        Endpoint.model_validate({**ACCOUNT, "host": host})
    [err] = caught.value.errors()
    assert err["loc"] == ("host",) and meant in err["msg"], err
    assert Endpoint.model_validate({**ACCOUNT, "host": meant}).host == meant


def test_a_name_idna_2008_does_not_allow_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        Endpoint.model_validate({**ACCOUNT, "host": "\u2665.example"})
    assert "internationalised" in caught.value.errors()[0]["msg"]
