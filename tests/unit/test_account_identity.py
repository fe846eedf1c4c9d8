"""An account's identity does not change with the spelling of its server or login (no DNS: injected)."""

from __future__ import annotations

import pytest

from services.intake.api_models import Endpoint
from services.intake.intake import pair_id
from services.intake.pst_upload import pst_pair_id
from shared import account_identity as ai
from shared import net_guard
from shared.net_guard import AllowList

LOCAL = AllowList.parse("127.0.0.1, ::1")
HOSTS = {"localhost": ["127.0.0.1"], "mail.example.org": ["192.0.2.10"], "liar.example.org": ["198.51.100.7"],
         "mixed.example.org": ["192.0.2.10", "10.0.0.1"]}
PTR = {"127.0.0.1": "localhost", "192.0.2.10": "Mail.Example.ORG.", "192.0.2.11": "liar.example.org",
       "192.0.2.12": "mixed.example.org", "192.0.2.13": "192.0.2.13"}
ALLOW_DOCS = AllowList.parse("127.0.0.1, 192.0.2.0/24, 198.51.100.0/24")


def forward(host: str, port: int) -> list[str]:
    if host not in HOSTS:
        raise OSError("no such name")
    return HOSTS[host]


def reverse(address: str) -> str | None:
    return PTR.get(address)


def ident(host: str, allow: AllowList = ALLOW_DOCS) -> str:
    return ai.host_identity(host, allow, resolver=forward, reverse=reverse)


@pytest.mark.parametrize("spelling", ["localhost", "LOCALHOST", "localhost.", " localhost ", "127.0.0.1", "127.1",
                                      "2130706433", "0x7f000001", "0177.0.0.1", "::ffff:127.0.0.1",
                                      "[::ffff:7f00:1]"])
def test_every_spelling_of_the_loopback_server_is_one_server(spelling: str) -> None:
    assert ident(spelling) == "localhost"


def test_an_address_is_named_by_its_forward_confirmed_reverse_name() -> None:
    assert ident("192.0.2.10") == "mail.example.org" == ident("Mail.Example.Org")


def test_a_reverse_name_that_does_not_lead_back_is_not_taken() -> None:
    # 192.0.2.11 claims liar.example.org, whose lookup gives another address: the address stays the identity.
    assert ident("192.0.2.11") == "192.0.2.11"
    # A reverse name that resolves to an address the guard refuses names no server this service would use.
    assert ident("192.0.2.12") == "192.0.2.12"
    # A reverse "name" that is itself an address, and no reverse name at all.
    assert ident("192.0.2.13") == "192.0.2.13"
    assert ident("192.0.2.99") == "192.0.2.99"


def test_ipv6_addresses_in_standard_form() -> None:
    assert ident("[2001:DB8:0:0::1]") == "2001:db8::1" == ident("2001:db8::0:1")


def test_a_name_costs_no_lookup_and_round_robin_cannot_change_it() -> None:
    def refuse(host: str, port: int) -> list[str]:
        raise AssertionError(f"looked up {host}")

    def refuse_ptr(address: str) -> str | None:
        raise AssertionError(f"reverse lookup of {address}")

    for _ in range(3):
        assert ai.host_identity("IMAP.Example.COM.", LOCAL, resolver=refuse, reverse=refuse_ptr) == "imap.example.com"


def test_international_names_in_either_form() -> None:
    assert ident("Bücher.Example") == "xn--bcher-kva.example" == ident("XN--BCHER-KVA.example.")


def test_standard_ports_are_one_account_other_ports_are_another_server() -> None:
    def account(port: int, host: str = "localhost", kind: str = "imap") -> list[str]:
        return ai.account_identity(kind, host, port, "Bob@Example.ORG", ALLOW_DOCS, resolver=forward,
                                   reverse=reverse)

    assert account(143) == account(993) == ["imap", "localhost", "bob@example.org"]
    assert account(110, kind="pop3") == account(995, kind="pop3") == ["pop3", "localhost", "bob@example.org"]
    assert account(443, kind="ews") == ["ews", "localhost", "bob@example.org"]
    assert account(10143) == account(10143, "127.0.0.1") == ["imap", "localhost:10143", "bob@example.org"]
    assert account(10143) != account(10144)
    assert account(10143, "2001:db8::1")[1] == "[2001:db8::1]:10143"


@pytest.mark.parametrize("login", ["bob@example.org", "BOB@Example.Org", "  bob@example.org\t"])
def test_login_is_stripped_and_case_folded(login: str) -> None:
    assert ai.login_identity(login) == "bob@example.org"


def test_scope_text_keeps_the_earlier_form_and_cannot_be_forged_with_a_bar() -> None:
    assert ai.scope_text("imap", "mail.example.org", "bob", "imap", "other.example", "al") == \
        "imap|mail.example.org|bob|imap|other.example|al"
    # Without JSON, these two different pairs of accounts would give the same text.
    a = ai.scope_text("imap", "h", "x|imap|h", "y")
    b = ai.scope_text("imap", "h", "x", "imap|h|y")
    assert a != b


def test_pair_ids_follow_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_guard, "default_resolver", forward)
    monkeypatch.setattr(ai, "default_reverse", reverse)

    def ep(host: str, login: str = "user@example.test", port: int = 10143) -> Endpoint:
        return Endpoint(type="imap", host=host, port=port, security="none", login=login, password="pw")

    first = pair_id(ep("127.0.0.1"), ep("127.0.0.1", "other@example.test"), ALLOW_DOCS)
    assert pair_id(ep("localhost"), ep("LocalHost.", "Other@Example.TEST"), ALLOW_DOCS) == first
    assert pair_id(ep("localhost", port=10144), ep("localhost", "other@example.test"), ALLOW_DOCS) != first
    assert pair_id(ep("127.0.0.1"), ep("127.0.0.1", "third@example.test"), ALLOW_DOCS) != first
    assert pst_pair_id("ab" * 32, ep("127.0.0.1"), ALLOW_DOCS) == pst_pair_id("ab" * 32, ep("localhost"), ALLOW_DOCS)
    assert pst_pair_id("ab" * 32, ep("127.0.0.1"), ALLOW_DOCS) != pst_pair_id("cd" * 32, ep("localhost"), ALLOW_DOCS)
