"""The Discovery port's contract, on every way the registry lists, with what a domain publishes written here.

Each way gets the same in-memory DNS and web (no network), so the contract holds for all of them alike: an
answer carries its way's name, names only well-formed hosts and ports, survives hostile or broken answers, and
finds what the published data says (expected results written by hand from the records below).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from shared.adapters import registry
from shared.adapters.dns_lookup import MxRecord, SrvRecord
from shared.adapters.guarded_http import HttpResponse
from shared.adapters.ports import Discovery, Lookups
from shared.adapters.server_suggestions import Suggestion

WAYS = list(registry.DISCOVERY_ORDER)


class Dns:
    """Answers from tables; ``fail`` makes every question a network failure."""

    def __init__(self, srv: Mapping[str, list[SrvRecord]] | None = None,
                 mx: Mapping[str, list[MxRecord]] | None = None,
                 cname: Mapping[str, list[str]] | None = None, fail: bool = False) -> None:
        self.srv_table, self.mx_table, self.cname_table, self.fail = srv or {}, mx or {}, cname or {}, fail

    def _answer(self, table: Mapping[str, list[object]], name: str) -> list[object]:
        if self.fail:
            raise OSError("DNS server unreachable")
        return list(table.get(name, []))

    def srv(self, name: str, timeout: float) -> list[SrvRecord]:
        return self._answer(self.srv_table, name)  # type: ignore[arg-type, return-value]

    def mx(self, domain: str, timeout: float) -> list[MxRecord]:
        return self._answer(self.mx_table, domain)  # type: ignore[arg-type, return-value]

    def cname(self, name: str, timeout: float) -> list[str]:
        return self._answer(self.cname_table, name)  # type: ignore[arg-type, return-value]

    def addresses(self, host: str, timeout: float) -> list[str]:
        return ["93.184.216.34"]


class Web:
    """Pages by URL (any method); anything else is a refused connection."""

    def __init__(self, pages: Mapping[str, tuple[int, bytes]] | None = None) -> None:
        self.pages = dict(pages or {})

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
                 timeout: float) -> HttpResponse:
        if url not in self.pages:
            raise OSError(f"connection refused: {url}")
        status, content = self.pages[url]
        return HttpResponse(status, {}, content)


def way(name: str, dns: Dns | None = None, web: Web | None = None) -> Discovery:
    lookups = Lookups(lambda: dns or Dns(), web or Web())
    return dict(registry.discoveries(lookups))[name]


def brief(found: list[Suggestion]) -> list[tuple[str, str, int, str]]:
    return [(s.protocol, s.host, s.port, s.security) for s in found]


# -- what every way promises ------------------------------------------------------------------------------------

BOMB = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>
<clientConfig><x>&b;</x></clientConfig>"""
HOSTILE_DNS = Dns(srv={f"{p}.example.com": [SrvRecord(0, 0, 70000, "bad host."), SrvRecord(0, 0, 993, ".")]
                       for p in ("_imaps._tcp", "_imap._tcp", "_pop3s._tcp", "_pop3._tcp", "_autodiscover._tcp")},
                  mx={"example.com": [MxRecord(0, "."), MxRecord(5, "evil host.example.com")]},
                  cname={"autodiscover.example.com": ["not a host!"]})
HOSTILE_WEB = Web({url: (200, body) for url, body in [
    ("https://autoconfig.example.com/mail/config-v1.1.xml", BOMB),
    ("https://example.com/.well-known/autoconfig/mail/config-v1.1.xml", b"\xff\xfe not xml"),
    ("https://autodiscover.example.com/autodiscover/autodiscover.xml", BOMB),
    ("https://example.com/autodiscover/autodiscover.xml", b"<Autodiscover><Protocol><Type>IMAP</Type>"
                                                          b"<Server>x..y</Server><Port>0</Port></Protocol>"),
]})


@pytest.mark.parametrize("name", WAYS)
def test_every_way_is_registered_and_answers_a_list(name: str) -> None:
    assert isinstance(way(name).discover("alice@example.com", "example.com", 1.0), list)


@pytest.mark.parametrize("name", WAYS)
def test_hostile_answers_give_only_well_formed_settings(name: str) -> None:
    found = way(name, HOSTILE_DNS, HOSTILE_WEB).discover("alice@example.com", "example.com", 1.0)
    for s in found:
        assert s.source == name
        assert s.host and " " not in s.host and ".." not in s.host and not s.host.endswith(".")
        assert 1 <= s.port <= 65535
        assert s.security in ("tls", "starttls", "none")
        assert s.protocol in ("imap", "pop3", "ews", "graph")
    # What is left from this data is the MX way's host-name guesses, and nothing else.
    assert brief(found) == ([("imap", "imap.example.com", 993, "tls"), ("imap", "mail.example.com", 993, "tls")]
                            if name == "mx" else [])


@pytest.mark.parametrize("name", WAYS)
def test_a_network_failure_is_no_answer_or_an_os_error(name: str) -> None:
    try:
        found = way(name, Dns(fail=True), Web()).discover("alice@example.com", "example.com", 1.0)
    except OSError:
        return
    assert all(s.source == name for s in found)


# -- what each way finds in published data ---------------------------------------------------------------------

def test_provider_table_knows_a_big_provider_without_asking_anyone() -> None:
    dns = Dns(fail=True)
    found = way("builtin", dns, Web()).discover("bob@gmail.com", "gmail.com", 1.0)
    assert ("imap", "imap.gmail.com", 993, "tls") in brief(found)
    assert all(s.login == "bob@gmail.com" for s in found)


AUTOCONFIG = b"""<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="shop.test">
  <incomingServer type="pop3"><hostname>pop.%EMAILDOMAIN%</hostname><port>995</port>
    <socketType>SSL</socketType><username>%EMAILLOCALPART%</username></incomingServer>
  <incomingServer type="imap"><hostname>imap.shop.test</hostname><port>143</port>
    <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></incomingServer>
  <incomingServer type="imap"><hostname>imap.shop.test</hostname><port>99999</port>
    <socketType>SSL</socketType></incomingServer>
</emailProvider></clientConfig>"""


def test_autoconfig_reads_the_published_file() -> None:
    web = Web({"https://autoconfig.shop.test/mail/config-v1.1.xml": (200, AUTOCONFIG)})
    found = way("autoconfig", web=web).discover("carl@shop.test", "shop.test", 1.0)
    assert [(s.protocol, s.host, s.port, s.security, s.login) for s in found] == [
        ("pop3", "pop.shop.test", 995, "tls", "carl"),
        ("imap", "imap.shop.test", 143, "starttls", "carl@shop.test"),
    ]


def test_srv_ranks_priorities_across_services_and_drops_refusals() -> None:
    dns = Dns(srv={"_imaps._tcp.shop.test": [SrvRecord(10, 0, 993, "imap.shop.test.")],
                   "_pop3s._tcp.shop.test": [SrvRecord(5, 0, 995, "pop.shop.test.")],
                   "_imap._tcp.shop.test": [SrvRecord(0, 0, 143, ".")]})
    found = way("srv", dns).discover("carl@shop.test", "shop.test", 1.0)
    assert brief(found) == [("pop3", "pop.shop.test", 995, "tls"), ("imap", "imap.shop.test", 993, "tls")]


POX = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
 <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
  <Account><AccountType>email</AccountType><Action>settings</Action>
   <Protocol><Type>EXCH</Type><EwsUrl>https://inside.corp.test/EWS/Exchange.asmx</EwsUrl></Protocol>
   <Protocol><Type>EXPR</Type><EwsUrl>https://webmail.corp.test/EWS/Exchange.asmx</EwsUrl></Protocol>
   <Protocol><Type>IMAP</Type><Server>imap.corp.test</Server><Port>993</Port><SSL>on</SSL></Protocol>
  </Account>
 </Response>
</Autodiscover>"""


def test_autodiscover_puts_outside_access_first() -> None:
    web = Web({"https://autodiscover.corp.test/autodiscover/autodiscover.xml": (200, POX)})
    found = way("autodiscover", web=web).discover("dana@corp.test", "corp.test", 1.0)
    assert brief(found) == [("ews", "webmail.corp.test", 443, "tls"), ("ews", "inside.corp.test", 443, "tls"),
                            ("imap", "imap.corp.test", 993, "tls")]


def test_autodiscover_recognises_microsoft_365_from_the_cname() -> None:
    dns = Dns(cname={"autodiscover.corp.test": ["autodiscover.outlook.com."]})
    found = way("autodiscover", dns).discover("dana@corp.test", "corp.test", 1.0)
    assert brief(found)[0] == ("graph", "graph.microsoft.com", 443, "tls")
    assert "autodiscover.corp.test" in (found[0].note or "")


def test_mx_recognises_microsoft_365_and_guesses_otherwise() -> None:
    m365 = Dns(mx={"corp.test": [MxRecord(0, "corp-test.mail.protection.outlook.com.")]})
    assert brief(way("mx", m365).discover("e@corp.test", "corp.test", 1.0))[:2] == [
        ("graph", "graph.microsoft.com", 443, "tls"), ("ews", "outlook.office365.com", 443, "tls")]
    own = Dns(mx={"shop.test": [MxRecord(20, "backup.elsewhere.test."), MxRecord(10, "mx1.shop.test.")]})
    assert brief(way("mx", own).discover("e@shop.test", "shop.test", 1.0)) == [
        ("imap", "imap.shop.test", 993, "tls"), ("imap", "mail.shop.test", 993, "tls"),
        ("imap", "mx1.shop.test", 993, "tls")]
