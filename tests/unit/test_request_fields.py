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
