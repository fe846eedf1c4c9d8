"""Unit tests for server-settings autodetection: pure parsing/ordering, and the steps with injected fakes."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake.api_errors import install_error_handlers
from services.intake.autodetect import Detector
from services.intake.autodetect_api import autodetect_router
from shared.adapters import provider_table as pt
from shared.adapters.dns_lookup import MxRecord, SrvRecord, order_srv
from shared.adapters.ews.pox import autodiscover_urls, parse_pox, pox_request, pox_suggestions
from shared.adapters.guarded_http import GuardedHttp, HttpResponse
from shared.adapters.imap.autoconfig import autoconfig_urls, expand_placeholders, parse_autoconfig
from shared.adapters.imap.mx_guess import mx_suggestions
from shared.adapters.imap.srv_discovery import srv_suggestions
from shared.adapters.server_suggestions import Suggestion, builtin_suggestions, ews_suggestion
from shared.config import DetectSettings
from shared.mail_address import InvalidEmail, parse_email
from shared.net_guard import AddressNotAllowed, AllowList

NOTHING = AllowList.parse("")
PUBLIC = "93.184.216.34"


def brief(suggestions: list[Suggestion]) -> list[tuple[str, str, int, str, str]]:
    return [(s.protocol, s.host, s.port, s.security, s.source) for s in suggestions]


# ---------------------------------------------------------------------------------------------------------------------
# the address


@pytest.mark.parametrize("email, domain", [
    ("alice@example.com", "example.com"),
    ("  Alice.Smith+tag@Example.COM  ", "example.com"),
    ("bob@mail.example.co.uk.", "mail.example.co.uk"),
    ("jörg@bücher.de", "xn--bcher-kva.de"),
])
def test_parse_email_accepts(email: str, domain: str) -> None:
    assert parse_email(email)[1] == domain


@pytest.mark.parametrize("email", [
    "", "   ", "alice", "alice@", "@example.com", "alice@localhost", "alice@[127.0.0.1]", "alice@127.0.0.1",
    "a@b@example.com", "alice@exa mple.com", "alice@-bad.com", "alice@bad-.com", "alice@exa..mple.com",
    "alice@exa\nmple.com", "x" * 250 + "@example.com", "alice@exam_ple.com",
])
def test_parse_email_refuses(email: str) -> None:
    with pytest.raises(InvalidEmail):
        parse_email(email)


# ---------------------------------------------------------------------------------------------------------------------
# the provider table


@pytest.mark.parametrize("email, first", [
    ("a@gmail.com", ("imap", "imap.gmail.com", 993, "tls", "builtin")),
    ("a@GoogleMail.com", ("imap", "imap.gmail.com", 993, "tls", "builtin")),
    ("a@outlook.com", ("ews", "outlook.office365.com", 443, "tls", "builtin")),
    ("a@hotmail.de", ("ews", "outlook.office365.com", 443, "tls", "builtin")),
    ("a@live.com", ("ews", "outlook.office365.com", 443, "tls", "builtin")),
    ("a@contoso.onmicrosoft.com", ("graph", "graph.microsoft.com", 443, "tls", "builtin")),  # Microsoft 365
    ("a@yahoo.com", ("imap", "imap.mail.yahoo.com", 993, "tls", "builtin")),
    ("a@icloud.com", ("imap", "imap.mail.me.com", 993, "tls", "builtin")),
    ("a@me.com", ("imap", "imap.mail.me.com", 993, "tls", "builtin")),
    ("a@mac.com", ("imap", "imap.mail.me.com", 993, "tls", "builtin")),
    ("a@gmx.de", ("imap", "imap.gmx.net", 993, "tls", "builtin")),
    ("a@gmx.net", ("imap", "imap.gmx.net", 993, "tls", "builtin")),
    ("a@gmx.com", ("imap", "imap.gmx.com", 993, "tls", "builtin")),
    ("a@web.de", ("imap", "imap.web.de", 993, "tls", "builtin")),
    ("a@fastmail.com", ("imap", "imap.fastmail.com", 993, "tls", "builtin")),
    ("a@ionos.de", ("imap", "imap.ionos.de", 993, "tls", "builtin")),
    ("a@1und1.de", ("imap", "imap.ionos.de", 993, "tls", "builtin")),
])
def test_builtin_table(email: str, first: tuple[str, str, int, str, str]) -> None:
    found = builtin_suggestions(email)
    assert brief(found)[0] == first
    assert all(s.login == email for s in found)


def test_builtin_table_details() -> None:
    assert ("ews", "outlook.office365.com", 443, "tls", "builtin") in brief(builtin_suggestions("a@msn.com"))
    assert ("imap", "outlook.office365.com", 993, "tls", "builtin") in brief(builtin_suggestions("a@msn.com"))
    assert "https://outlook.office365.com/EWS/Exchange.asmx" in (builtin_suggestions("a@outlook.com")[0].note or "")
    assert ("pop3", "pop3.web.de", 995, "tls", "builtin") in brief(builtin_suggestions("a@web.de"))
    assert ("pop3", "pop.gmail.com", 995, "tls", "builtin") in brief(builtin_suggestions("a@gmail.com"))
    assert [s.protocol for s in builtin_suggestions("a@icloud.com")] == ["imap"]  # iCloud has no POP3
    assert builtin_suggestions("a@example.com") == []
    assert builtin_suggestions("a@onmicrosoft.com") == []
    assert builtin_suggestions("a@notgmail.com") == []


def test_every_table_entry_is_well_formed() -> None:
    for provider in pt.PROVIDERS:
        assert provider.servers, provider.key
        for server in provider.servers:
            assert pt.normalise_host(server.host) == server.host
            assert 1 <= server.port <= 65535
            assert server.protocol in ("imap", "pop3", "ews", "graph")
        assert provider.domains or provider.mx_patterns, provider.key


def test_ovh_platforms_from_server_names() -> None:
    exchange = pt.provider_for_server_host("EX3.mail.ovh.net.")
    assert exchange is not None and exchange.key == "ovh-exchange"
    assert exchange.servers[0] == pt.Server("ews", "ex3.mail.ovh.net", 443)
    assert "https://ex3.mail.ovh.net/EWS/Exchange.asmx" in (exchange.note or "")
    pro = pt.provider_for_server_host("pro1.mail.ovh.net")
    assert pro is not None and pro.servers[0] == pt.Server("imap", "pro1.mail.ovh.net", 993)
    assert pt.provider_for_server_host("ssl0.ovh.net") is pt.OVH_MX_PLAN
    assert pt.provider_for_server_host("imap.gmail.com") is pt.GMAIL
    assert pt.provider_for_server_host("ex3.mail.ovh.net.evil.com") is None


# ---------------------------------------------------------------------------------------------------------------------
# Thunderbird autoconfig

AUTOCONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.com">
    <domain>example.com</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.com</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.com</hostname>
      <port>110</port>
      <socketType>plain</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>pop.example.com</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
      <authentication>OAuth2</authentication>
    </incomingServer>
    <incomingServer type="exchange">
      <hostname>outlook.example.com</hostname>
      <port>443</port>
      <username>%EMAILADDRESS%</username>
      <socketType>SSL</socketType>
      <ewsURL>https://outlook.example.com/EWS/Exchange.asmx</ewsURL>
    </incomingServer>
    <incomingServer type="imap"><hostname>bad host</hostname><port>993</port><socketType>SSL</socketType>
    </incomingServer>
    <incomingServer type="imap"><hostname>imap.example.com</hostname><port>99999</port><socketType>SSL</socketType>
    </incomingServer>
    <incomingServer type="imap"><hostname>imap.example.com</hostname><port>993</port><socketType>weird</socketType>
    </incomingServer>
    <incomingServer type="jmap"><hostname>jmap.example.com</hostname><port>443</port><socketType>SSL</socketType>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.com</hostname><port>587</port><socketType>STARTTLS</socketType>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


def test_parse_autoconfig() -> None:
    found = parse_autoconfig(AUTOCONFIG, "Alice@Example.com")
    assert brief(found) == [
        ("imap", "imap.example.com", 993, "tls", "autoconfig"),
        ("imap", "imap.example.com", 143, "starttls", "autoconfig"),
        ("pop3", "pop.example.com", 110, "none", "autoconfig"),
        ("pop3", "pop.example.com", 995, "tls", "autoconfig"),
        ("ews", "outlook.example.com", 443, "tls", "autoconfig"),
    ]
    assert [s.login for s in found] == ["Alice@Example.com", "Alice", "Alice", "Alice@Example.com",
                                        "Alice@Example.com"]
    assert "clear text" in (found[2].note or "")
    assert "OAuth2" in (found[3].note or "")
    assert found[0].note is None


def test_parse_autoconfig_with_namespace_and_junk() -> None:
    namespaced = AUTOCONFIG.replace(b'<clientConfig version="1.1">', b'<clientConfig xmlns="urn:x" version="1.1">')
    assert len(parse_autoconfig(namespaced, "a@example.com")) == 5
    assert parse_autoconfig(b"<html>not found</html>", "a@example.com") == []
    assert parse_autoconfig(b"<clientConfig", "a@example.com") == []
    assert parse_autoconfig(b"", "a@example.com") == []


def test_parse_autoconfig_refuses_entity_tricks() -> None:
    bomb = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<clientConfig><emailProvider><incomingServer type="imap"><hostname>&lol2;</hostname><port>993</port>
<socketType>SSL</socketType></incomingServer></emailProvider></clientConfig>"""
    assert parse_autoconfig(bomb, "a@example.com") == []
    external = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<clientConfig><emailProvider><incomingServer type="imap"><hostname>&e;</hostname></incomingServer>
</emailProvider></clientConfig>"""
    assert parse_autoconfig(external, "a@example.com") == []


def test_placeholders_and_urls() -> None:
    assert expand_placeholders("%EMAILLOCALPART%/%EMAILDOMAIN%/%EMAILADDRESS%", "bob@Example.org") == \
        "bob/example.org/bob@Example.org"
    assert autoconfig_urls("example.org") == [
        "https://autoconfig.example.org/mail/config-v1.1.xml",
        "https://example.org/.well-known/autoconfig/mail/config-v1.1.xml",
    ]
    assert autoconfig_urls("example.org", "http", 8080)[0] == "http://autoconfig.example.org:8080/mail/config-v1.1.xml"
    assert autodiscover_urls("example.org")[0] == "https://autodiscover.example.org/autodiscover/autodiscover.xml"


# ---------------------------------------------------------------------------------------------------------------------
# SRV


def test_srv_priority_first() -> None:
    records = [SrvRecord(20, 0, 993, "c."), SrvRecord(10, 0, 993, "a."), SrvRecord(15, 0, 993, "b.")]
    assert [r.target for r in order_srv(records, random.Random(1))] == ["a.", "b.", "c."]


def test_srv_weights_are_a_weighted_draw() -> None:
    heavy, light = SrvRecord(10, 90, 993, "heavy."), SrvRecord(10, 10, 993, "light.")
    firsts = [order_srv([light, heavy], random.Random(seed))[0].target for seed in range(2000)]
    share = firsts.count("heavy.") / len(firsts)
    assert 0.85 < share < 0.95
    # Every record is kept exactly once, priorities still win over weights.
    low = SrvRecord(5, 0, 993, "low.")
    ordered = order_srv([light, heavy, low], random.Random(3))
    assert ordered[0] == low and sorted(r.target for r in ordered) == ["heavy.", "light.", "low."]


def test_srv_zero_weight_can_still_be_chosen() -> None:
    zero, some = SrvRecord(1, 0, 993, "zero."), SrvRecord(1, 1, 993, "some.")
    firsts = {order_srv([some, zero], random.Random(seed))[0].target for seed in range(200)}
    assert firsts == {"zero.", "some."}


def test_srv_suggestions_across_services() -> None:
    answers = {
        "_imaps._tcp": [SrvRecord(10, 0, 993, "imap.example.com.")],
        "_imap._tcp": [SrvRecord(0, 0, 143, "imap.example.com.")],
        "_pop3s._tcp": [SrvRecord(10, 0, 995, "pop.example.com.")],
        "_pop3._tcp": [SrvRecord(0, 0, 0, ".")],  # "." = decidedly not offered
    }
    assert brief(srv_suggestions(answers, random.Random(0))) == [
        ("imap", "imap.example.com", 143, "starttls", "srv"),
        ("imap", "imap.example.com", 993, "tls", "srv"),
        ("pop3", "pop.example.com", 995, "tls", "srv"),
    ]


def test_srv_dot_target_and_empty() -> None:
    assert srv_suggestions({"_imaps._tcp": [SrvRecord(0, 0, 0, ".")]}) == []
    assert srv_suggestions({}) == []
    # Same priority: implicit TLS before STARTTLS, IMAP before POP3.
    same = {name: [SrvRecord(0, 0, port, f"{name[1:5]}.example.com.")]
            for name, port in (("_pop3._tcp", 110), ("_imap._tcp", 143), ("_pop3s._tcp", 995), ("_imaps._tcp", 993))}
    assert [(s.protocol, s.security) for s in srv_suggestions(same)] == [
        ("imap", "tls"), ("imap", "starttls"), ("pop3", "tls"), ("pop3", "starttls")]


# ---------------------------------------------------------------------------------------------------------------------
# MX


@pytest.mark.parametrize("mx, first", [
    ("contoso-com.mail.protection.outlook.com.", ("graph", "graph.microsoft.com", 443, "tls", "mx")),
    ("aspmx.l.google.com.", ("imap", "imap.gmail.com", 993, "tls", "mx")),
    ("ALT2.ASPMX.L.GOOGLE.COM", ("imap", "imap.gmail.com", 993, "tls", "mx")),
    ("smtp.google.com.", ("imap", "imap.gmail.com", 993, "tls", "mx")),
    ("mx1.mail.ovh.net.", ("imap", "ssl0.ovh.net", 993, "tls", "mx")),
    ("mx4.mail.ovh.net.", ("imap", "ssl0.ovh.net", 993, "tls", "mx")),
    ("in1-smtp.messagingengine.com.", ("imap", "imap.fastmail.com", 993, "tls", "mx")),
    ("mx00.ionos.de.", ("imap", "imap.ionos.de", 993, "tls", "mx")),
    ("mx01.kundenserver.de.", ("imap", "imap.ionos.de", 993, "tls", "mx")),
    ("mx01.mail.icloud.com.", ("imap", "imap.mail.me.com", 993, "tls", "mx")),
])
def test_mx_known_providers(mx: str, first: tuple[str, str, int, str, str]) -> None:
    found = mx_suggestions("example.com", [MxRecord(10, mx)])
    assert brief(found)[0] == first
    assert "MX record" in (found[0].note or "")


def test_mx_365_offers_graph_then_ews_and_imap() -> None:
    found = brief(mx_suggestions("example.com", [MxRecord(0, "example-com.mail.protection.outlook.com.")]))
    assert found[:3] == [("graph", "graph.microsoft.com", 443, "tls", "mx"),
                         ("ews", "outlook.office365.com", 443, "tls", "mx"),
                         ("imap", "outlook.office365.com", 993, "tls", "mx")]
    consumer = brief(mx_suggestions("example.com", [MxRecord(0, "example-com.olc.protection.outlook.com.")]))
    assert consumer[0] == ("ews", "outlook.office365.com", 443, "tls", "mx")  # Outlook.com: no organisation


def test_an_autodiscover_cname_to_exchange_online_suggests_microsoft_365() -> None:
    dns = FakeDns(cname={"autodiscover.example.com": ["autodiscover.outlook.com."]})
    http = FakeHttp({"https://autodiscover.example.com/autodiscover/autodiscover.xml": (401, b"")})
    found = detector(dns, http).detect("alice@example.com")
    assert brief(found)[:2] == [("graph", "graph.microsoft.com", 443, "tls", "autodiscover"),
                                ("ews", "outlook.office365.com", 443, "tls", "autodiscover")]
    assert "autodiscover.example.com → autodiscover.outlook.com" in (found[0].note or "")


def test_mx_lowest_preference_decides() -> None:
    records = [MxRecord(20, "aspmx.l.google.com."), MxRecord(5, "mx1.mail.ovh.net.")]
    assert mx_suggestions("example.com", records)[0].host == "ssl0.ovh.net"


def test_mx_unknown_gives_name_guesses() -> None:
    found = mx_suggestions("example.com", [MxRecord(10, "mx.example.com."), MxRecord(20, "backup.other.net.")])
    assert brief(found) == [
        ("imap", "imap.example.com", 993, "tls", "mx"),
        ("imap", "mail.example.com", 993, "tls", "mx"),
        ("imap", "mx.example.com", 993, "tls", "mx"),
    ]
    assert "guessed" in (found[0].note or "")
    assert [s.host for s in mx_suggestions("example.com", [])] == ["imap.example.com", "mail.example.com"]
    assert [s.host for s in mx_suggestions("example.com", [MxRecord(1, "mail.example.com.")])] == \
        ["imap.example.com", "mail.example.com"]
    # An MX that only *ends* like the domain is not inside it.
    assert "mx.badexample.com" not in [s.host for s in mx_suggestions("example.com", [MxRecord(1, "mx.badexample.com")])]


# ---------------------------------------------------------------------------------------------------------------------
# POX autodiscover

POX_OK = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <User><DisplayName>Alice</DisplayName><AutoDiscoverSMTPAddress>alice@example.com</AutoDiscoverSMTPAddress></User>
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
      <Protocol><Type>EXCH</Type><Server>internal.example.local</Server>
        <EwsUrl>https://internal.example.local/EWS/Exchange.asmx</EwsUrl></Protocol>
      <Protocol><Type>EXPR</Type><Server>mail.example.com</Server>
        <EwsUrl>https://mail.example.com/EWS/Exchange.asmx</EwsUrl></Protocol>
      <Protocol><Type>IMAP</Type><Server>imap.example.com</Server><Port>993</Port><SSL>on</SSL></Protocol>
      <Protocol><Type>POP3</Type><Server>pop.example.com</Server><Port>110</Port><SSL>on</SSL>
        <Encryption>TLS</Encryption></Protocol>
    </Account>
  </Response>
</Autodiscover>"""

POX_ERROR = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response><Error Time="00:00:00" Id="0"><ErrorCode>500</ErrorCode><Message>The email address can't be found.</Message>
  </Error></Response></Autodiscover>"""

POX_REDIRECT = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account><Action>redirectUrl</Action>
      <RedirectUrl>https://ad.hoster.example/autodiscover/autodiscover.xml</RedirectUrl></Account>
  </Response></Autodiscover>"""


def test_parse_pox() -> None:
    answer = parse_pox(POX_OK)
    assert answer.ews_urls == ("https://mail.example.com/EWS/Exchange.asmx",
                               "https://internal.example.local/EWS/Exchange.asmx")
    assert brief(pox_suggestions(answer)) == [
        ("ews", "mail.example.com", 443, "tls", "autodiscover"),
        ("ews", "internal.example.local", 443, "tls", "autodiscover"),
        ("imap", "imap.example.com", 993, "tls", "autodiscover"),
        ("pop3", "pop.example.com", 110, "starttls", "autodiscover"),
    ]


def test_parse_pox_errors_and_redirects() -> None:
    assert pox_suggestions(parse_pox(POX_ERROR)) == []
    assert pox_suggestions(parse_pox(b"<html/>")) == []
    assert pox_suggestions(parse_pox(b"garbage")) == []
    assert parse_pox(POX_REDIRECT).redirect_url == "https://ad.hoster.example/autodiscover/autodiscover.xml"


def test_pox_request_escapes_the_address() -> None:
    body = pox_request("a<b>&c@example.com")
    assert b"a&lt;b&gt;&amp;c@example.com" in body
    assert b"outlook/responseschema/2006a" in body


def test_ews_suggestion() -> None:
    assert brief([ews_suggestion("https://ex2.mail.ovh.net/EWS/Exchange.asmx", "autodiscover")]) == [  # type: ignore[list-item]
        ("ews", "ex2.mail.ovh.net", 443, "tls", "autodiscover")]
    odd = ews_suggestion("https://Mail.Example.com:8443/ews/other.asmx", "autodiscover")
    assert odd is not None and (odd.host, odd.port) == ("mail.example.com", 8443)
    assert "not the usual" in (odd.note or "")
    assert ews_suggestion("ftp://x.example.com/EWS/Exchange.asmx", "autodiscover") is None
    assert ews_suggestion("https://[bad/EWS", "autodiscover") is None


# ---------------------------------------------------------------------------------------------------------------------
# the detector with fakes


class FakeDns:
    """DnsLookup from dictionaries; records every question."""

    def __init__(self, srv: Mapping[str, list[SrvRecord]] | None = None,
                 mx: Mapping[str, list[MxRecord]] | None = None, fail: bool = False,
                 cname: Mapping[str, list[str]] | None = None) -> None:
        self.srv_answers = dict(srv or {})
        self.mx_answers = dict(mx or {})
        self.cname_answers = dict(cname or {})
        self.fail = fail
        self.asked: list[str] = []

    def srv(self, name: str, timeout: float) -> list[SrvRecord]:
        self.asked.append(name)
        if self.fail:
            raise OSError("DNS down")
        return self.srv_answers.get(name, [])

    def mx(self, domain: str, timeout: float) -> list[MxRecord]:
        self.asked.append("MX " + domain)
        if self.fail:
            raise OSError("DNS down")
        return self.mx_answers.get(domain, [])

    def cname(self, name: str, timeout: float) -> list[str]:
        self.asked.append("CNAME " + name)
        if self.fail:
            raise OSError("DNS down")
        return self.cname_answers.get(name, [])

    def addresses(self, host: str, timeout: float) -> list[str]:
        raise AssertionError("the resolver is injected in these tests")


class FakeHttp:
    """HttpFetch from a URL → (status, body) table; anything else is a connection failure."""

    def __init__(self, pages: Mapping[str, tuple[int, bytes]] | None = None, delay: float = 0.0) -> None:
        self.pages = dict(pages or {})
        self.delay = delay
        self.calls: list[tuple[str, str]] = []

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
                 timeout: float) -> HttpResponse:
        self.calls.append((method, url))
        if self.delay:
            time.sleep(self.delay)
        if url not in self.pages:
            raise OSError(f"connection refused: {url}")
        status, content = self.pages[url]
        return HttpResponse(status, {}, content)


def resolver_for(table: Mapping[str, str], default: str | None = PUBLIC):
    def resolve(host: str, port: int) -> list[str]:
        address = table.get(host, default)
        if address is None:
            raise OSError("no such host")
        return [address]

    return resolve


def detector(dns: FakeDns | None = None, http: FakeHttp | None = None, table: Mapping[str, str] | None = None,
             default: str | None = PUBLIC, **settings: object) -> Detector:
    return Detector(NOTHING, DetectSettings(**settings),  # type: ignore[arg-type]
                    dns=dns or FakeDns(), http_fetch=http or FakeHttp(),
                    resolver=resolver_for(table or {}, default), rng=random.Random(0))


def test_builtin_wins_without_any_network() -> None:
    dns, http = FakeDns(fail=True), FakeHttp()
    found = detector(dns, http).detect("alice@gmail.com")
    assert found[0].host == "imap.gmail.com" and found[0].source == "builtin"
    assert dns.asked == [] and http.calls == []


def test_autoconfig_comes_before_srv() -> None:
    http = FakeHttp({"https://autoconfig.example.com/mail/config-v1.1.xml": (200, AUTOCONFIG)})
    dns = FakeDns(srv={"_imaps._tcp.example.com": [SrvRecord(0, 0, 993, "srv.example.com.")]})
    found = detector(dns, http).detect("alice@example.com")
    assert {s.source for s in found} == {"autoconfig"}
    assert dns.asked == []


def test_autoconfig_well_known_path() -> None:
    http = FakeHttp({"https://example.com/.well-known/autoconfig/mail/config-v1.1.xml": (200, AUTOCONFIG),
                     "https://autoconfig.example.com/mail/config-v1.1.xml": (404, b"<clientConfig/>")})
    assert detector(http=http).detect("alice@example.com")[0].source == "autoconfig"


def test_srv_when_no_autoconfig() -> None:
    dns = FakeDns(srv={"_imaps._tcp.example.com": [SrvRecord(0, 0, 993, "mail.example.com.")]},
                  mx={"example.com": [MxRecord(10, "aspmx.l.google.com.")]})
    assert brief(detector(dns).detect("alice@example.com")) == [("imap", "mail.example.com", 993, "tls", "srv")]


def test_autodiscover_when_no_srv() -> None:
    http = FakeHttp({"https://autodiscover.example.com/autodiscover/autodiscover.xml": (200, POX_OK)})
    dns = FakeDns(mx={"example.com": [MxRecord(10, "aspmx.l.google.com.")]})
    found = detector(dns, http).detect("alice@example.com")
    assert found[0] == Suggestion("ews", "mail.example.com", 443, "tls", "autodiscover",
                                  "EWS URL https://mail.example.com/EWS/Exchange.asmx")
    assert ("POST", "https://autodiscover.example.com/autodiscover/autodiscover.xml") in http.calls


def test_autodiscover_follows_a_redirect_url() -> None:
    http = FakeHttp({"https://autodiscover.example.com/autodiscover/autodiscover.xml": (200, POX_REDIRECT),
                     "https://ad.hoster.example/autodiscover/autodiscover.xml": (200, POX_OK)})
    assert detector(http=http).detect("alice@example.com")[0].host == "mail.example.com"


def test_autodiscover_srv_at_ovh_exchange() -> None:
    """The POX answer needs a login; the _autodiscover SRV target alone says "OVH Hosted Exchange"."""
    dns = FakeDns(srv={"_autodiscover._tcp.example.com": [SrvRecord(0, 0, 443, "ex4.mail.ovh.net.")]},
                  mx={"example.com": [MxRecord(1, "mx1.mail.ovh.net.")]})
    http = FakeHttp({"https://ex4.mail.ovh.net:443/autodiscover/autodiscover.xml": (401, b"")})
    found = detector(dns, http).detect("alice@example.com")
    assert brief(found)[0] == ("ews", "ex4.mail.ovh.net", 443, "tls", "autodiscover")


def test_mx_last() -> None:
    dns = FakeDns(mx={"example.com": [MxRecord(0, "example-com.mail.protection.outlook.com.")]})
    found = detector(dns).detect("alice@example.com")
    assert {s.source for s in found} == {"mx"}
    assert found[0].protocol == "graph" and found[1].protocol == "ews" and found[1].host == "outlook.office365.com"


def test_mx_guesses_must_resolve() -> None:
    dns = FakeDns(mx={"example.com": [MxRecord(0, "mx.elsewhere.net.")]})
    found = detector(dns, table={"mail.example.com": PUBLIC}, default=None).detect("alice@example.com")
    assert brief(found) == [("imap", "mail.example.com", 993, "tls", "mx")]


def test_guard_drops_private_hosts_and_moves_on(caplog: pytest.LogCaptureFixture) -> None:
    http = FakeHttp({"https://autoconfig.example.com/mail/config-v1.1.xml": (200, AUTOCONFIG)})
    dns = FakeDns(srv={"_imaps._tcp.example.com": [SrvRecord(0, 0, 993, "mail.example.com.")]})
    table = {"imap.example.com": "10.0.0.5", "pop.example.com": "127.0.0.1", "outlook.example.com": "169.254.169.254"}
    with caplog.at_level(logging.INFO, logger="services.intake.autodetect"):
        found = detector(dns, http, table).detect("alice@example.com")
    assert brief(found) == [("imap", "mail.example.com", 993, "tls", "srv")]
    assert "dropped autoconfig suggestion imap.example.com:993" in caplog.text
    assert "10.0.0.5" in caplog.text
    assert all("10.0.0.5" not in (s.note or "") for s in found)


def test_allow_list_admits() -> None:
    http = FakeHttp({"https://autoconfig.example.com/mail/config-v1.1.xml": (200, AUTOCONFIG)})
    det = Detector(AllowList.parse("10.0.0.0/8"), DetectSettings(), dns=FakeDns(), http_fetch=http,
                   resolver=resolver_for({}, "10.1.1.1"))
    assert det.detect("alice@example.com")[0].source == "autoconfig"


def test_nothing_found_and_failures_are_not_errors() -> None:
    dns = FakeDns(fail=True)
    assert detector(dns, default=None).detect("alice@example.com") == []

    class Broken(FakeHttp):
        def __call__(self, *args: object, **kwargs: object) -> HttpResponse:
            raise RuntimeError("bug in a fetcher")

    assert detector(FakeDns(), Broken(), default=None).detect("alice@example.com") == []


def test_invalid_email_raises() -> None:
    with pytest.raises(InvalidEmail):
        detector().detect("not-an-address")


def test_total_time_is_bounded() -> None:
    slow = FakeHttp(delay=2.0)
    det = detector(FakeDns(), slow, default=None, step_timeout=0.3, total_timeout=0.8)
    started = time.monotonic()
    assert det.detect("alice@example.com") == []
    assert time.monotonic() - started < 1.8


def test_guarded_http_refuses_private_addresses_without_connecting() -> None:
    fetch = GuardedHttp(NOTHING, resolver_for({"autoconfig.example.com": "192.168.1.1"}))
    with pytest.raises(AddressNotAllowed):
        fetch("GET", "https://autoconfig.example.com/mail/config-v1.1.xml", None, {}, 1.0)
    with pytest.raises(OSError, match="only https"):
        fetch("GET", "http://autoconfig.example.com/mail/config-v1.1.xml", None, {}, 1.0)
    with pytest.raises(AddressNotAllowed):
        fetch("GET", "https://169.254.169.254/latest/meta-data/", None, {}, 1.0)


# ---------------------------------------------------------------------------------------------------------------------
# the API


def client(det: Detector) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)  # as intake's app does: a missing parameter answers in the API's error shape
    app.include_router(autodetect_router(NOTHING, detector=det))
    return TestClient(app)


def test_api_ok() -> None:
    answer = client(detector()).get("/api/v1/autodetect", params={"email": "alice@gmail.com"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["email"] == "alice@gmail.com"
    first = body["suggestions"][0]
    assert {k: first[k] for k in ("protocol", "host", "port", "security", "source")} == {
        "protocol": "imap", "host": "imap.gmail.com", "port": 993, "security": "tls", "source": "builtin"}
    assert first["login"] == "alice@gmail.com" and "note" in first


@pytest.mark.parametrize("email", ["", "nope", "a@b", "a b@example.com"])
def test_api_invalid(email: str) -> None:
    answer = client(detector()).get("/api/v1/autodetect", params={"email": email})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request" and error["field"] == "email" and error["message"]


def test_api_missing_parameter_is_the_same_error() -> None:
    answer = client(detector()).get("/api/v1/autodetect")
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_api_not_found() -> None:
    answer = client(detector(FakeDns(fail=True), default=None)).get("/api/v1/autodetect",
                                                                    params={"email": "alice@example.com"})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found" and "example.com" in error["message"]


def test_api_lookups_at_once_are_bounded_and_the_rest_told_to_come_back() -> None:
    """Slow lookups hold the web server's threads: past the bound a request is answered 429 with Retry-After at
    once, and a slot freed serves the next one."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()
    started = threading.Semaphore(0)

    class Slow(Detector):
        def detect(self, email: str) -> list[Suggestion]:  # type: ignore[override]
            started.release()
            release.wait(30)
            return detector().detect(email)

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(autodetect_router(NOTHING, detector=Slow(NOTHING, DetectSettings()), at_once=2))
    with TestClient(app) as http, ThreadPoolExecutor(2) as pool:
        held = [pool.submit(http.get, "/api/v1/autodetect", params={"email": "alice@gmail.com"}) for _ in range(2)]
        assert started.acquire(timeout=30) and started.acquire(timeout=30)
        busy = http.get("/api/v1/autodetect", params={"email": "bob@gmail.com"})
        assert (busy.status_code, busy.json()["error"]["code"], busy.headers["retry-after"]) == (429, "rate_limited",
                                                                                                  "2")
        release.set()
        assert [f.result(timeout=30).status_code for f in held] == [200, 200]
        assert http.get("/api/v1/autodetect", params={"email": "bob@gmail.com"}).status_code == 200
