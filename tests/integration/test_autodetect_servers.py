"""Autodetection against real local servers: a dnslib DNS server (SRV, MX, A) and an http.server web server
(Thunderbird autoconfig files, POX autodiscover answers). The detector is pointed at them through its settings
(name server address/port, plain HTTP on the test port); every name it looks up goes through the local DNS, and
every fetch through the network guard, with 127.0.0.1 allow-listed except where a test checks the refusal."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

dnslib = pytest.importorskip("dnslib")

from dnslib import AAAA, MX, QTYPE, RCODE, RR, SRV, A  # noqa: E402
from dnslib.server import BaseResolver, DNSLogger, DNSServer  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from services.intake.autodetect import Detector  # noqa: E402
from services.intake.autodetect_api import autodetect_router  # noqa: E402
from shared.adapters.server_suggestions import Suggestion  # noqa: E402
from shared.config import DetectSettings  # noqa: E402
from shared.net_guard import AllowList  # noqa: E402

pytestmark = pytest.mark.integration

LOCAL = AllowList.parse("127.0.0.1")
NOTHING = AllowList.parse("")

AUTOCONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{domain}">
    <domain>{domain}</domain>
    <incomingServer type="imap">
      <hostname>{imap}</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username><authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>{pop}</hostname><port>110</port><socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username><authentication>password-cleartext</authentication>
    </incomingServer>
  </emailProvider>
</clientConfig>
"""

POX = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <User><AutoDiscoverSMTPAddress>{email}</AutoDiscoverSMTPAddress></User>
    <Account><AccountType>email</AccountType><Action>settings</Action>
      <Protocol><Type>EXPR</Type><Server>ews.ad.test</Server><EwsUrl>https://ews.ad.test/EWS/Exchange.asmx</EwsUrl>
      </Protocol>
    </Account>
  </Response>
</Autodiscover>"""


# ---------------------------------------------------------------------------------------------------------------------
# the local DNS server

LOOPBACK = A("127.0.0.1")

ZONE: dict[tuple[str, str], list[object]] = {
    # autoconfig.ac.test serves a file naming imap.ac.test / pop.ac.test
    ("autoconfig.ac.test.", "A"): [LOOPBACK],
    ("imap.ac.test.", "A"): [LOOPBACK],
    ("pop.ac.test.", "A"): [LOOPBACK],
    ("ac.test.", "MX"): [MX("mx.ac.test.", 10)],
    ("_imaps._tcp.ac.test.", "SRV"): [SRV(0, 0, 993, "srv-should-not-win.ac.test.")],
    # only the domain's well-known path
    ("wk.test.", "A"): [LOOPBACK],
    ("imap.wk.test.", "A"): [LOOPBACK],
    ("pop.wk.test.", "A"): [LOOPBACK],
    # RFC 6186 SRV records (no web server names at all)
    ("_imaps._tcp.srv.test.", "SRV"): [SRV(10, 0, 993, "mail1.srv.test.")],
    ("_imap._tcp.srv.test.", "SRV"): [SRV(0, 0, 143, "mail2.srv.test.")],
    ("_pop3s._tcp.srv.test.", "SRV"): [SRV(0, 0, 0, ".")],
    ("_pop3._tcp.srv.test.", "SRV"): [SRV(20, 10, 110, "pop-a.srv.test."), SRV(20, 0, 110, "pop-b.srv.test.")],
    ("mail1.srv.test.", "A"): [LOOPBACK],
    ("mail2.srv.test.", "A"): [LOOPBACK],
    ("pop-a.srv.test.", "A"): [LOOPBACK],
    ("pop-b.srv.test.", "A"): [LOOPBACK],
    ("srv.test.", "MX"): [MX("aspmx.l.google.com.", 1)],
    # POX autodiscover
    ("autodiscover.ad.test.", "A"): [LOOPBACK],
    ("ews.ad.test.", "A"): [LOOPBACK],
    ("ad.test.", "MX"): [MX("mx1.mail.ovh.net.", 1)],
    # MX only: a Microsoft 365 tenant, an OVH MX Plan, an unknown hoster
    ("m365.test.", "MX"): [MX("m365-test.mail.protection.outlook.com.", 0)],
    ("outlook.office365.com.", "A"): [LOOPBACK],
    ("ovh.test.", "MX"): [MX("mx2.mail.ovh.net.", 5), MX("mx3.mail.ovh.net.", 100)],
    ("ssl0.ovh.net.", "A"): [LOOPBACK],
    ("guess.test.", "MX"): [MX("mx.guess.test.", 10)],
    ("imap.guess.test.", "A"): [LOOPBACK],
    ("mx.guess.test.", "A"): [LOOPBACK],
    # autoconfig naming internal hosts: dropped, the SRV answer is used instead
    ("autoconfig.private.test.", "A"): [LOOPBACK],
    ("imap.private.test.", "A"): [A("10.1.2.3")],
    ("pop.private.test.", "AAAA"): [AAAA("fd00::1")],
    ("_imaps._tcp.private.test.", "SRV"): [SRV(0, 0, 993, "public.private.test.")],
    ("public.private.test.", "A"): [LOOPBACK],
    # a redirect into the internal network
    ("autoconfig.redir.test.", "A"): [LOOPBACK],
    ("internal.redir.test.", "A"): [A("10.0.0.8")],
    ("imap.redir.test.", "A"): [LOOPBACK],
    # a redirect to another allowed host
    ("autoconfig.moved.test.", "A"): [LOOPBACK],
    ("imap.moved.test.", "A"): [LOOPBACK],
    ("pop.moved.test.", "A"): [LOOPBACK],
    # a web server that never finishes answering
    ("autoconfig.slow.test.", "A"): [LOOPBACK],
    ("_imaps._tcp.slow.test.", "SRV"): [SRV(0, 0, 993, "imap.slow.test.")],
    ("imap.slow.test.", "A"): [LOOPBACK],
    # HTTPS: a certificate for autoconfig.tls.test; autoconfig.wrong.test presents the same (wrong) one
    ("autoconfig.tls.test.", "A"): [LOOPBACK],
    ("imap.tls.test.", "A"): [LOOPBACK],
    ("pop.tls.test.", "A"): [LOOPBACK],
    ("autoconfig.wrong.test.", "A"): [LOOPBACK],
    ("imap.wrong.test.", "A"): [LOOPBACK],
    # names resolving to loopback while loopback is not allow-listed
    ("autoconfig.ssrf.test.", "A"): [LOOPBACK],
    ("imap.ssrf.test.", "A"): [LOOPBACK],
}


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Answers from ZONE: NXDOMAIN for unknown names, an empty NOERROR for known names without that type."""

    def __init__(self) -> None:
        self.questions: list[tuple[str, str]] = []

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        self.questions.append((name, qtype))
        for rdata in ZONE.get((name, qtype), []):
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=rdata, ttl=60))
        if not any(known == name for known, _type in ZONE):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def dns_server() -> Iterator[tuple[int, ZoneResolver]]:
    resolver = ZoneResolver()
    logger = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(resolver, address="127.0.0.1", port=0, logger=logger)
    server.start_thread()
    try:
        yield server.server.server_address[1], resolver
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------------------------------
# the local web server


@dataclass
class Web:
    port: int = 0
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (host, method, path)


def make_handler(web: Web) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _host(self) -> str:
            return (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()

        def _send(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            host = self._host()
            web.hits.append((host, "GET", self.path))
            domain = host.removeprefix("autoconfig.")
            served = {("wk.test", "/.well-known/autoconfig/mail/config-v1.1.xml")}
            refused = ("autoconfig.ssrf.test", "/mail/config-v1.1.xml")
            config = AUTOCONFIG.format(domain=domain, imap="imap.%EMAILDOMAIN%", pop=f"pop.{domain}")
            if host == "autoconfig.slow.test":
                time.sleep(4)
                self._send(200, config)
            elif host == "autoconfig.redir.test":
                self._send(302, "", {"Location": f"http://internal.redir.test:{web.port}/mail/config-v1.1.xml"})
            elif host == "autoconfig.moved.test":
                self._send(301, "", {"Location": f"http://autoconfig.ac.test:{web.port}/mail/config-v1.1.xml"})
            elif (host, self.path) in served or (host.startswith("autoconfig.") and (host, self.path) != refused
                                                  and self.path == "/mail/config-v1.1.xml"):
                self._send(200, config)
            else:
                self._send(404, "<html>not here</html>")

        def do_POST(self) -> None:
            host = self._host()
            web.hits.append((host, "POST", self.path))
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if host == "autodiscover.ad.test" and self.path == "/autodiscover/autodiscover.xml" \
                    and "<EMailAddress>" in body:
                email = body.split("<EMailAddress>", 1)[1].split("<", 1)[0]
                self._send(200, POX.format(email=email))
            else:
                self._send(404, "<html>not here</html>")

    return Handler


@pytest.fixture(scope="module")
def web_server() -> Iterator[Web]:
    web = Web()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(web))
    server.daemon_threads = True
    web.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Web, str]]:
    """The same web server behind TLS, with a self-signed certificate for autoconfig.tls.test only."""
    import ssl

    from mailferry.dovecot import _make_certificate

    cert, key = _make_certificate(tmp_path_factory.mktemp("tls"), ["autoconfig.tls.test"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    web = Web()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(web))
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    web.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield web, str(cert)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(dns_server: tuple[int, ZoneResolver], web_server: Web) -> DetectSettings:
    return DetectSettings(nameservers=("127.0.0.1",), dns_port=dns_server[0], http_scheme="http",
                          http_port=web_server.port, step_timeout=1.5, total_timeout=6.0)


def brief(suggestions: list[Suggestion]) -> list[tuple[str, str, int, str, str]]:
    return [(s.protocol, s.host, s.port, s.security, s.source) for s in suggestions]


# ---------------------------------------------------------------------------------------------------------------------
# the steps, each against the real servers


def test_autoconfig_host(settings: DetectSettings, web_server: Web) -> None:
    found = Detector(LOCAL, settings).detect("alice@ac.test")
    assert brief(found) == [("imap", "imap.ac.test", 993, "tls", "autoconfig"),
                            ("pop3", "pop.ac.test", 110, "starttls", "autoconfig")]
    assert [s.login for s in found] == ["alice", "alice@ac.test"]
    assert ("autoconfig.ac.test", "GET", "/mail/config-v1.1.xml") in web_server.hits


def test_autoconfig_well_known(settings: DetectSettings) -> None:
    found = Detector(LOCAL, settings).detect("bob@wk.test")
    assert brief(found)[0] == ("imap", "imap.wk.test", 993, "tls", "autoconfig")


def test_srv_records(settings: DetectSettings, dns_server: tuple[int, ZoneResolver]) -> None:
    found = Detector(LOCAL, settings).detect("carol@srv.test")
    assert brief(found)[:2] == [("imap", "mail2.srv.test", 143, "starttls", "srv"),
                                ("imap", "mail1.srv.test", 993, "tls", "srv")]
    assert {s.host for s in found[2:]} == {"pop-a.srv.test", "pop-b.srv.test"}  # "." for _pop3s: not offered
    assert all(s.protocol == "pop3" and s.security == "starttls" for s in found[2:])
    assert ("_imaps._tcp.srv.test.", "SRV") in dns_server[1].questions


def test_autodiscover_pox(settings: DetectSettings, web_server: Web) -> None:
    found = Detector(LOCAL, settings).detect("dave@ad.test")
    assert brief(found) == [("ews", "ews.ad.test", 443, "tls", "autodiscover")]
    assert "https://ews.ad.test/EWS/Exchange.asmx" in (found[0].note or "")
    assert ("autodiscover.ad.test", "POST", "/autodiscover/autodiscover.xml") in web_server.hits


def test_mx_microsoft_365(settings: DetectSettings) -> None:
    found = Detector(LOCAL, settings).detect("erin@m365.test")
    assert brief(found)[:2] == [("ews", "outlook.office365.com", 443, "tls", "mx"),
                                ("imap", "outlook.office365.com", 993, "tls", "mx")]


def test_mx_ovh(settings: DetectSettings) -> None:
    found = Detector(LOCAL, settings).detect("frank@ovh.test")
    assert brief(found)[0] == ("imap", "ssl0.ovh.net", 993, "tls", "mx")


def test_mx_guesses_only_names_that_resolve(settings: DetectSettings) -> None:
    found = Detector(LOCAL, settings).detect("gina@guess.test")
    assert brief(found) == [("imap", "imap.guess.test", 993, "tls", "mx"),
                            ("imap", "mx.guess.test", 993, "tls", "mx")]  # mail.guess.test does not exist


def test_builtin_needs_no_lookup_but_still_passes_the_guard(settings: DetectSettings) -> None:
    # imap.gmail.com is asked of the local DNS, which does not know it: the guard drops it, and the other
    # steps find nothing for gmail.com either (no answers in the local zone).
    assert Detector(LOCAL, settings).detect("henry@gmail.com") == []


def test_https_pins_the_checked_address_and_verifies_the_name(dns_server: tuple[int, ZoneResolver],
                                                              tls_server: tuple[Web, str]) -> None:
    """The production path: HTTPS to the address the guard checked, SNI and certificate check by host name."""
    web, ca_file = tls_server
    tls = DetectSettings(nameservers=("127.0.0.1",), dns_port=dns_server[0], http_port=web.port, ca_file=ca_file,
                         step_timeout=1.5, total_timeout=6.0)
    assert tls.http_scheme == "https"
    found = Detector(LOCAL, tls).detect("quinn@tls.test")
    assert brief(found)[0] == ("imap", "imap.tls.test", 993, "tls", "autoconfig")
    assert ("autoconfig.tls.test", "GET", "/mail/config-v1.1.xml") in web.hits
    # A certificate for another name: no answer from autoconfig, the MX-step guess is all there is.
    found = Detector(LOCAL, tls).detect("quinn@wrong.test")
    assert brief(found) == [("imap", "imap.wrong.test", 993, "tls", "mx")]
    assert not [hit for hit in web.hits if hit[0] == "autoconfig.wrong.test"]


# ---------------------------------------------------------------------------------------------------------------------
# the guard


def test_internal_hosts_are_dropped(settings: DetectSettings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="services.intake.autodetect"):
        found = Detector(LOCAL, settings).detect("ivan@private.test")
    assert brief(found) == [("imap", "public.private.test", 993, "tls", "srv")]
    assert "imap.private.test resolves to 10.1.2.3" in caplog.text
    assert "fd00::1" in caplog.text


def test_redirect_into_the_internal_network_is_not_followed(settings: DetectSettings, web_server: Web,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):  # the refused fetch is logged where the adapters' lookups run
        found = Detector(LOCAL, settings).detect("jack@redir.test")
    assert brief(found)[0] == ("imap", "imap.redir.test", 993, "tls", "mx")
    assert "10.0.0.8" in caplog.text
    assert not [hit for hit in web_server.hits if hit[0] == "internal.redir.test"]


def test_redirect_to_an_allowed_host_is_followed(settings: DetectSettings) -> None:
    found = Detector(LOCAL, settings).detect("kim@moved.test")
    assert brief(found)[0] == ("imap", "imap.moved.test", 993, "tls", "autoconfig")


def test_no_fetch_from_refused_addresses(settings: DetectSettings, web_server: Web) -> None:
    before = len(web_server.hits)
    assert Detector(NOTHING, settings).detect("lena@ssrf.test") == []
    assert not [hit for hit in web_server.hits[before:] if hit[0].endswith("ssrf.test")]


# ---------------------------------------------------------------------------------------------------------------------
# time and failures


def test_slow_server_costs_one_step_timeout(settings: DetectSettings) -> None:
    started = time.monotonic()
    found = Detector(LOCAL, settings).detect("mia@slow.test")
    elapsed = time.monotonic() - started
    assert brief(found) == [("imap", "imap.slow.test", 993, "tls", "srv")]
    assert elapsed < 3.5


def test_dns_server_down(settings: DetectSettings, web_server: Web) -> None:
    dead = DetectSettings(nameservers=("127.0.0.1",), dns_port=_free_udp_port(), http_scheme="http",
                          http_port=web_server.port, step_timeout=0.5, total_timeout=2.0)
    started = time.monotonic()
    assert Detector(LOCAL, dead).detect("nina@ac.test") == []
    assert time.monotonic() - started < 4.0


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------------------------------
# the HTTP API, wired as intake wires it


@pytest.fixture
def api(settings: DetectSettings) -> TestClient:
    app = FastAPI()
    app.include_router(autodetect_router(LOCAL, settings))
    return TestClient(app)


def test_api_against_the_local_servers(api: TestClient) -> None:
    answer = api.get("/api/v1/autodetect", params={"email": "olga@srv.test"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["email"] == "olga@srv.test"
    assert body["suggestions"][0] == {"protocol": "imap", "host": "mail2.srv.test", "port": 143,
                                      "security": "starttls", "source": "srv"}
    answer = api.get("/api/v1/autodetect", params={"email": "olga@ac.test"})
    assert answer.json()["suggestions"][0]["source"] == "autoconfig"


def test_api_not_found_and_invalid(api: TestClient) -> None:
    answer = api.get("/api/v1/autodetect", params={"email": "paul@nowhere.test"})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    answer = api.get("/api/v1/autodetect", params={"email": "paul@"})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "email"
