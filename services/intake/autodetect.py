"""Find the mail server settings of an e-mail address, so users need not know them.

Steps, in order; the first that yields a usable answer wins, and every answer
says where it came from:

1. ``builtin``      the provider table (services/intake/provider_table.py);
2. ``autoconfig``   the domain's Thunderbird-style autoconfig file;
3. ``srv``          DNS SRV records (RFC 6186);
4. ``autodiscover`` Exchange POX autodiscover (the EWS URL);
5. ``mx``           guesses from the MX records (a known provider's MX, else imap./mail.<domain>).

Why so careful: the address is typed by an anonymous user and names a domain the
user controls, so every answer (autoconfig files, SRV targets, autodiscover
replies) is attacker-supplied. Hence every host *suggested* passes the network
guard, every host *fetched from* passes it too (and is connected to by the
address the guard checked, so DNS rebinding cannot slip in), bodies are size
capped and parsed with defusedxml, and each step has a short timeout within a
bounded total. A network failure only means "this step had no answer".

The parsing and ordering functions are pure; DNS, HTTP, the resolver and the
clock are injected, so unit tests need no network and the integration tests
point the detector at local servers.
"""

from __future__ import annotations

import http.client
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from services.intake import provider_table as pt
from shared.config import DetectSettings as DetectSettings  # defined with the other settings
from shared.net_guard import AllowList, NetGuardError, Resolver, default_resolver, resolve_checked

log = logging.getLogger(__name__)

Source = Literal["builtin", "autoconfig", "srv", "autodiscover", "mx"]
T = TypeVar("T")

MAX_EMAIL_LENGTH = 254
MAX_BODY_BYTES = 256 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "mailferry-autodetect/1"


class InvalidEmail(ValueError):
    """The address is not one we can look up; ``str(error)`` is a plain message for the user."""


# --------------------------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Suggestion:
    """One server setting offered to the user, in the shape of the migration form's endpoint."""

    protocol: pt.Protocol
    host: str
    port: int
    security: pt.Security
    source: Source
    note: str | None = None
    login: str | None = None

    def key(self) -> tuple[str, str, int]:
        return (self.protocol, self.host, self.port)

    def to_json(self) -> dict[str, Any]:
        """The API's JSON: optional fields only when known."""
        out: dict[str, Any] = {"protocol": self.protocol, "host": self.host, "port": self.port,
                               "security": self.security, "source": self.source}
        if self.note:
            out["note"] = self.note
        if self.login:
            out["login"] = self.login
        return out


@dataclass(frozen=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str  # "." (or "") means "this service is decidedly not offered" (RFC 2782 / RFC 6186)


@dataclass(frozen=True)
class MxRecord:
    preference: int
    exchange: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


class DnsLookup(Protocol):
    """The DNS questions autodetection asks. Every method returns [] for "no answer" and may raise on failure."""

    def srv(self, name: str, timeout: float) -> list[SrvRecord]: ...

    def mx(self, domain: str, timeout: float) -> list[MxRecord]: ...

    def addresses(self, host: str, timeout: float) -> list[str]: ...

    def cname(self, name: str, timeout: float) -> list[str]: ...


# fetch(method, url, body, headers, timeout) -> response; raises on any failure (refused host included).
HttpFetch = Callable[[str, str, bytes | None, Mapping[str, str], float], HttpResponse]


# --------------------------------------------------------------------------------------------------------------------
# The address

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)


#: What ``parse_email`` accepts, as far as a regular expression can say it (the OpenAPI ``pattern``):
#: something, an ``@``, a domain with a dot; no spaces or control characters but around it.
EMAIL_LOOKUP_PATTERN = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+\.[^\s@\x00-\x1f\x7f-\x9f]+\s*$"


def parse_email(email: str) -> tuple[str, str]:
    """(local part, domain in lower-case ASCII/IDNA form), or InvalidEmail with a message for the user.

    Only what a lookup needs is checked: one "@", a non-empty local part, and a domain of valid DNS labels
    with at least one dot. IP-literal domains are refused: there is nothing to look up for them.
    """
    text = (email or "").strip()
    if not text:
        raise InvalidEmail("please enter an e-mail address")
    if len(text) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(f"the e-mail address is longer than {MAX_EMAIL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidEmail("the e-mail address must not contain spaces or control characters")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("this is not an e-mail address (name@example.com)")
    if '"' not in local and "@" in local:
        raise InvalidEmail("the e-mail address contains more than one @")
    domain = domain.rstrip(".")
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidEmail(f"{domain} is not a valid domain name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise InvalidEmail(f"{domain} is not a valid domain name")
    return local, ascii_domain


# --------------------------------------------------------------------------------------------------------------------
# Step 1 and 5: the provider table


def provider_suggestions(provider: pt.Provider, source: Source, login: str | None = None,
                         note: str | None = None) -> list[Suggestion]:
    """A provider's servers as suggestions (the table's note unless another is given)."""
    return [Suggestion(s.protocol, s.host, s.port, s.security, source, note or provider.note, login)
            for s in provider.servers]


def builtin_suggestions(email: str) -> list[Suggestion]:
    """Step 1: the provider table by the address's domain (pure)."""
    _local, domain = parse_email(email)
    provider = pt.provider_for_domain(domain)
    return provider_suggestions(provider, "builtin", login=email.strip()) if provider else []


# --------------------------------------------------------------------------------------------------------------------
# Step 2: Thunderbird autoconfig

_SOCKET_TYPES: dict[str, pt.Security] = {"ssl": "tls", "tls": "tls", "starttls": "starttls", "plain": "none"}
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", re.ASCII)


def autoconfig_urls(domain: str, scheme: str = "https", port: int | None = None) -> list[str]:
    """The two places Thunderbird looks first: the autoconfig host and the domain's well-known path."""
    where = f":{port}" if port else ""
    return [
        f"{scheme}://autoconfig.{domain}{where}/mail/config-v1.1.xml",
        f"{scheme}://{domain}{where}/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


def _local_name(tag: Any) -> str:
    """Tag without namespace: autoconfig files come with and without one."""
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def _child_text(el: Element, name: str) -> str:
    for child in el:
        if _local_name(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _children_text(el: Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in el if _local_name(child.tag) == name]


def _parse_xml(body: bytes) -> Element | None:
    """defusedxml: no entities, no DTD tricks, no external fetches. None for anything unparsable."""
    try:
        root: Element = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError):
        return None
    return root


def expand_placeholders(text: str, email: str) -> str:
    """Thunderbird's placeholders: %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN%."""
    local, _at, domain = email.strip().rpartition("@")
    return (text.replace("%EMAILADDRESS%", email.strip())
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain.lower()))


def _valid_host(host: str) -> bool:
    return bool(_HOST.fullmatch(host)) and ".." not in host


def _auth_note(methods: Sequence[str]) -> str | None:
    lowered = {m.lower() for m in methods if m}
    if lowered and lowered <= {"oauth2"}:
        return "the provider announces OAuth2 logins only; a password may be refused"
    return None


def parse_autoconfig(body: bytes, email: str) -> list[Suggestion]:
    """Step 2's parser: incomingServer entries of type imap/pop3 (and exchange with an ewsURL).

    Entries with an unknown socketType, a bad port or an odd host name are skipped, not guessed at.
    """
    root = _parse_xml(body)
    if root is None or _local_name(root.tag) != "clientConfig":
        return []
    found: list[Suggestion] = []
    for provider in (el for el in root if _local_name(el.tag) == "emailProvider"):
        for server in (el for el in provider if _local_name(el.tag) == "incomingServer"):
            kind = (server.get("type") or "").lower()
            if kind == "exchange":
                url = _child_text(server, "ewsURL")
                ews = ews_suggestion(url, "autoconfig") if url else None
                if ews is not None:
                    login = expand_placeholders(_child_text(server, "username"), email) or None
                    found.append(replace(ews, login=login))
                continue
            if kind not in ("imap", "pop3"):
                continue
            host = expand_placeholders(_child_text(server, "hostname"), email).lower().rstrip(".")
            security = _SOCKET_TYPES.get(_child_text(server, "socketType").lower())
            port_text = _child_text(server, "port")
            if not _valid_host(host) or security is None or not port_text.isdigit():
                continue
            port = int(port_text)
            if not 1 <= port <= 65535:
                continue
            login = expand_placeholders(_child_text(server, "username"), email) or None
            note = _auth_note(_children_text(server, "authentication"))
            if security == "none":
                note = "unencrypted: the password would cross the network in clear text"
            proto: pt.Protocol = "imap" if kind == "imap" else "pop3"
            found.append(Suggestion(proto, host, port, security, "autoconfig", note, login))
    return found


# --------------------------------------------------------------------------------------------------------------------
# Step 3: SRV (RFC 6186)

# (record name prefix, protocol, security, tie-break rank: implicit TLS first (RFC 8314), IMAP before POP3)
SRV_SERVICES: tuple[tuple[str, pt.Protocol, pt.Security, int], ...] = (
    ("_imaps._tcp", "imap", "tls", 0),
    ("_imap._tcp", "imap", "starttls", 1),
    ("_pop3s._tcp", "pop3", "tls", 2),
    ("_pop3._tcp", "pop3", "starttls", 3),
)


def offered(records: Iterable[SrvRecord]) -> list[SrvRecord]:
    """Drop "." targets: RFC 2782 says the service is decidedly not available there."""
    return [r for r in records if pt.normalise_host(r.target) not in ("", ".") and 1 <= r.port <= 65535]


def order_srv(records: Sequence[SrvRecord], rng: random.Random | None = None) -> list[SrvRecord]:
    """RFC 2782 order: lowest priority first; within one priority a weighted random draw, zero weights first.

    ``rng`` is injected so tests can pin the draw.
    """
    draw = rng or random.Random()
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in records}):
        group = sorted((r for r in records if r.priority == priority), key=lambda r: r.weight != 0)
        while group:
            total = sum(r.weight for r in group)
            pick = draw.randint(0, total) if total else 0
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= pick:
                    ordered.append(group.pop(index))
                    break
    return ordered


def srv_suggestions(answers: Mapping[str, Sequence[SrvRecord]], rng: random.Random | None = None
                    ) -> list[Suggestion]:
    """Step 3's ranking over all four services together (RFC 6186 section 3.4: priorities compare across
    services), ties broken IMAPS > IMAP > POP3S > POP3; within one service and priority, RFC 2782 weights."""
    ranked: list[tuple[int, int, int, Suggestion]] = []
    for prefix, protocol, security, rank in SRV_SERVICES:
        records = offered(answers.get(prefix, ()))
        for position, record in enumerate(order_srv(records, rng)):
            host = pt.normalise_host(record.target)
            if not _valid_host(host):
                continue
            ranked.append((record.priority, rank, position,
                           Suggestion(protocol, host, record.port, security, "srv")))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


# --------------------------------------------------------------------------------------------------------------------
# Step 4: Exchange POX autodiscover

POX_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
POX_RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def autodiscover_urls(domain: str, scheme: str = "https", port: int | None = None) -> list[str]:
    """The two POX URLs Outlook tries first (the domain itself second: it is often a web host that 404s)."""
    where = f":{port}" if port else ""
    return [
        f"{scheme}://autodiscover.{domain}{where}/autodiscover/autodiscover.xml",
        f"{scheme}://{domain}{where}/autodiscover/autodiscover.xml",
    ]


def pox_request(email: str) -> bytes:
    """The POX request body; the address is escaped, since it is the user's text."""
    from xml.sax.saxutils import escape

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{POX_REQUEST_NS}"><Request>'
        f"<EMailAddress>{escape(email.strip())}</EMailAddress>"
        f"<AcceptableResponseSchema>{POX_RESPONSE_SCHEMA}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


@dataclass(frozen=True)
class PoxAnswer:
    ews_urls: tuple[str, ...] = ()
    servers: tuple[Suggestion, ...] = ()
    redirect_url: str | None = None
    redirect_addr: str | None = None


def _iter_named(root: Element, name: str) -> Iterable[Element]:
    return (el for el in root.iter() if _local_name(el.tag) == name)


def ews_suggestion(url: str, source: Source) -> Suggestion | None:
    """An EWS URL as host/port/security (the service always talks to /EWS/Exchange.asmx on that host)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("https", "http") or not _valid_host(host):
        return None
    security: pt.Security = "tls" if parts.scheme == "https" else "none"
    port = port or (443 if security == "tls" else 80)
    note = f"EWS URL {parts.scheme}://{parts.netloc}{parts.path}"
    if parts.path.lower() != "/ews/exchange.asmx":
        note += " (not the usual /EWS/Exchange.asmx path)"
    return Suggestion("ews", host, port, security, source, note)


def parse_pox(body: bytes) -> PoxAnswer:
    """Step 4's parser: EwsUrl of EXPR (outside access) before EXCH, IMAP/POP3 Protocol entries, redirects."""
    root = _parse_xml(body)
    if root is None or _local_name(root.tag) != "Autodiscover":
        return PoxAnswer()
    for account in _iter_named(root, "Account"):
        action = _child_text(account, "Action").lower()
        if action == "redirecturl":
            return PoxAnswer(redirect_url=_child_text(account, "RedirectUrl") or None)
        if action == "redirectaddr":
            return PoxAnswer(redirect_addr=_child_text(account, "RedirectAddr") or None)
    urls: list[tuple[int, str]] = []
    servers: list[Suggestion] = []
    order = {"EXPR": 0, "EXCH": 1, "WEB": 2}
    for proto in _iter_named(root, "Protocol"):
        kind = _child_text(proto, "Type").upper()
        ews = _child_text(proto, "EwsUrl")
        if ews:
            urls.append((order.get(kind, 3), ews))
        if kind in ("IMAP", "POP3"):
            host = _child_text(proto, "Server").lower().rstrip(".")
            port_text = _child_text(proto, "Port")
            encryption = _child_text(proto, "Encryption").lower()
            ssl_on = _child_text(proto, "SSL").lower() != "off"
            security: pt.Security = (
                "starttls" if encryption == "tls" else "none" if encryption == "none" or not ssl_on else "tls")
            if _valid_host(host) and port_text.isdigit() and 1 <= int(port_text) <= 65535:
                protocol: pt.Protocol = "imap" if kind == "IMAP" else "pop3"
                servers.append(Suggestion(protocol, host, int(port_text), security, "autodiscover"))
    unique_urls = tuple(dict.fromkeys(url for _rank, url in sorted(urls, key=lambda item: item[0])))
    return PoxAnswer(ews_urls=unique_urls, servers=tuple(servers))


def pox_suggestions(answer: PoxAnswer) -> list[Suggestion]:
    """EWS first (autodiscover is Exchange's own channel), then any IMAP/POP3 it announced."""
    found = [s for s in (ews_suggestion(url, "autodiscover") for url in answer.ews_urls) if s is not None]
    return found + list(answer.servers)


# --------------------------------------------------------------------------------------------------------------------
# Step 5: MX

_GUESS_NOTE = "guessed from the domain name: not checked that a mail server answers there"


def mx_suggestions(domain: str, records: Sequence[MxRecord]) -> list[Suggestion]:
    """Step 5 (pure): a known provider's MX gives its settings; otherwise host-name guesses to be resolved.

    Guesses: imap.<domain>, mail.<domain>, and the primary MX itself when it lies inside the domain (small
    hosters often receive and serve mail on the same machine). The caller drops guesses that do not resolve.
    """
    ordered = sorted(records, key=lambda r: r.preference)
    for record in ordered:
        provider = pt.provider_for_mx(record.exchange)
        if provider is not None:
            return provider_suggestions(provider, "mx", note=f"{provider.name}, recognised from the domain's "
                                                             f"MX record {pt.normalise_host(record.exchange)}"
                                        + (f"; {provider.note}" if provider.note else ""))
    hosts = [f"imap.{domain}", f"mail.{domain}"]
    real = [pt.normalise_host(r.exchange) for r in ordered if pt.normalise_host(r.exchange) not in ("", ".")]
    if real and real[0].endswith("." + domain) and real[0] not in hosts:
        hosts.append(real[0])
    return [Suggestion("imap", host, 993, "tls", "mx", _GUESS_NOTE) for host in hosts]


# --------------------------------------------------------------------------------------------------------------------
# I/O: DNS (dnspython) and a guarded HTTP client


class DnsPythonLookup:
    """DnsLookup on dnspython; configured name servers (tests: the local dnslib server) or the system's."""

    def __init__(self, nameservers: Sequence[str] = (), port: int = 53) -> None:
        import dns.resolver

        self._resolver = dns.resolver.Resolver(configure=not nameservers)
        if nameservers:
            self._resolver.nameservers = list(nameservers)
            self._resolver.port = port
        self._resolver.cache = None

    def _query(self, name: str, rdtype: str, timeout: float) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answer = self._resolver.resolve(name.rstrip(".") + ".", rdtype, lifetime=timeout,
                                            raise_on_no_answer=False, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise OSError(f"DNS {rdtype} query for {name} failed: {type(exc).__name__}") from None
        return list(answer.rrset or ())

    def srv(self, name: str, timeout: float) -> list[SrvRecord]:
        return [SrvRecord(rr.priority, rr.weight, rr.port, rr.target.to_text()) for rr in
                self._query(name, "SRV", timeout)]

    def mx(self, domain: str, timeout: float) -> list[MxRecord]:
        return [MxRecord(rr.preference, rr.exchange.to_text()) for rr in self._query(domain, "MX", timeout)]

    def cname(self, name: str, timeout: float) -> list[str]:
        return [rr.target.to_text() for rr in self._query(name, "CNAME", timeout)]

    def addresses(self, host: str, timeout: float) -> list[str]:
        found = [rr.address for rr in self._query(host, "A", timeout)]
        try:
            found += [rr.address for rr in self._query(host, "AAAA", timeout)]
        except OSError:
            if not found:
                raise
        return found


def dns_resolver(dns: DnsLookup, timeout: float) -> Resolver:
    """A net_guard resolver that asks the configured DNS servers (so tests' names resolve consistently)."""

    def resolve(host: str, _port: int) -> list[str]:
        found = dns.addresses(host, timeout)
        if not found:
            raise OSError(f"{host} has no address")
        return found

    return resolve


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the guard checked; ``host`` stays the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; ``host`` is used for SNI and the certificate check."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class FetchRefused(OSError):
    """The fetch was not made or its answer not read (guard refusal, bad redirect, oversized body)."""


@dataclass
class GuardedHttp:
    """HTTP(S) client for attacker-named URLs: every host (redirects too) through the network guard.

    Redirects stay on ``scheme`` (no https→http downgrade) and are followed at most MAX_REDIRECTS times,
    re-sending the same method and body (what autodiscover clients do). Bodies are capped at ``max_bytes``
    and reading stops at the deadline, so a slow server cannot hold a worker.
    """

    allow: AllowList
    resolver: Resolver | None = None
    scheme: str = "https"
    ca_file: str = ""
    max_bytes: int = MAX_BODY_BYTES
    clock: Callable[[], float] = time.monotonic
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:
            self._context = ssl.create_default_context(cafile=self.ca_file or None)
        return self._context

    def __call__(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
                 timeout: float) -> HttpResponse:
        deadline = self.clock() + timeout
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._once(method, url, body, headers, deadline)
            location = response.headers.get("location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return response
        raise FetchRefused(f"too many redirects from {url}")

    def _once(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str],
              deadline: float) -> HttpResponse:
        parts = urlsplit(url)
        if parts.scheme != self.scheme or not parts.hostname:
            raise FetchRefused(f"refusing to fetch {url}: only {self.scheme} URLs are followed")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_checked(host, port, self.allow, resolver=self.resolver)  # raises NetGuardError
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise FetchRefused("timed out")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPSConnection(host, port, address, remaining, self._tls())
        else:
            conn = _PinnedHTTPConnection(host, port, address, remaining)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
            chunks: list[bytes] = []
            size = 0
            while True:
                if self.clock() > deadline:
                    raise FetchRefused(f"{host} answered too slowly")
                chunk = resp.read1(16384)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchRefused(f"{host} answered with more than {self.max_bytes} bytes")
                chunks.append(chunk)
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, b"".join(chunks))
        finally:
            conn.close()


# --------------------------------------------------------------------------------------------------------------------
# Orchestration


def _parallel(tasks: Sequence[Callable[[], T]], timeout: float, what: str) -> list[T | None]:
    """Run tasks side by side; a task that fails or is still running at the timeout gives None.

    Leftover threads are abandoned, not awaited: each has its own socket timeout, so they end on their own.
    """
    if not tasks or timeout <= 0:
        return [None] * len(tasks)
    pool = ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="autodetect")
    try:
        futures = [pool.submit(task) for task in tasks]
        wait(futures, timeout=timeout, return_when=ALL_COMPLETED)
        results: list[T | None] = []
        for future in futures:
            if not future.done():
                log.info("autodetect: %s did not answer in time", what)
                results.append(None)
                continue
            exc = future.exception()
            if exc is not None:
                log.info("autodetect: %s gave no answer: %s", what, exc)
                results.append(None)
            else:
                results.append(future.result())
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Detector:
    """Runs the five steps for one address. Build once; ``detect`` is safe to call from many threads."""

    allow: AllowList
    settings: DetectSettings = field(default_factory=DetectSettings)
    dns: DnsLookup | None = None
    http_fetch: HttpFetch | None = None
    resolver: Resolver | None = None
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        s = self.settings
        if self.dns is None and s.nameservers:
            self.dns = DnsPythonLookup(s.nameservers, s.dns_port)
        if self.resolver is None:
            self.resolver = dns_resolver(self.dns, s.step_timeout) if s.nameservers and self.dns else None
        if self.http_fetch is None:
            self.http_fetch = GuardedHttp(self.allow, self.resolver, s.http_scheme, s.ca_file, s.max_body_bytes,
                                          self.clock)

    def _dns(self) -> DnsLookup | None:
        """The system DNS client, built on first use: a host without resolv.conf then only loses the DNS steps."""
        if self.dns is None:
            try:
                self.dns = DnsPythonLookup()
            except Exception as exc:  # dnspython raises NoResolverConfiguration and friends
                log.warning("autodetect: no DNS configuration: %s", exc)
                return None
        return self.dns

    # -- the steps ---------------------------------------------------------------------------------------------------

    def step_builtin(self, email: str, _domain: str, _timeout: float) -> list[Suggestion]:
        return builtin_suggestions(email)

    def step_autoconfig(self, email: str, domain: str, timeout: float) -> list[Suggestion]:
        fetch = self.http_fetch
        assert fetch is not None
        urls = autoconfig_urls(domain, self.settings.http_scheme, self.settings.http_port)

        def get(url: str) -> list[Suggestion]:
            response = fetch("GET", url, None, {"Accept": "application/xml, text/xml"}, timeout)
            return parse_autoconfig(response.body, email) if response.status == 200 else []

        results = _parallel([partial(get, url) for url in urls], timeout + 0.5, "autoconfig")
        for found in results:  # the autoconfig host first, the well-known path second
            if found:
                return found
        return []

    def step_srv(self, _email: str, domain: str, timeout: float) -> list[Suggestion]:
        dns = self._dns()
        if dns is None:
            return []
        names = [prefix for prefix, *_rest in SRV_SERVICES]
        results = _parallel([partial(dns.srv, f"{name}.{domain}", timeout) for name in names], timeout + 0.5,
                            "SRV lookup")
        answers = {name: result or [] for name, result in zip(names, results, strict=True)}
        return srv_suggestions(answers, self.rng)

    def step_autodiscover(self, email: str, domain: str, timeout: float) -> list[Suggestion]:
        fetch = self.http_fetch
        assert fetch is not None
        scheme, port = self.settings.http_scheme, self.settings.http_port
        urls = autodiscover_urls(domain, scheme, port)
        known: list[Suggestion] = []
        dns = self._dns()
        if dns is not None:
            try:
                targets = order_srv(offered(dns.srv(f"_autodiscover._tcp.{domain}", timeout)), self.rng)
            except OSError as exc:
                log.info("autodetect: autodiscover SRV lookup gave no answer: %s", exc)
                targets = []
            for record in targets[:1]:
                target = pt.normalise_host(record.target)
                urls.append(f"{scheme}://{target}:{port or record.port}/autodiscover/autodiscover.xml")
                provider = pt.provider_for_server_host(target)
                if provider is not None:  # e.g. OVH Hosted Exchange: exN.mail.ovh.net
                    known = provider_suggestions(provider, "autodiscover")
            try:  # Microsoft 365 domains point autodiscover.<domain> at autodiscover.outlook.com (a CNAME)
                aliases = dns.cname(f"autodiscover.{domain}", timeout)
            except OSError as exc:
                log.info("autodetect: autodiscover CNAME lookup gave no answer: %s", exc)
                aliases = []
            for alias in aliases[:1]:
                provider = pt.provider_for_server_host(alias)
                if provider is not None and not known:
                    known = provider_suggestions(provider, "autodiscover", note=(
                        f"{provider.name}, recognised from autodiscover.{domain} → {pt.normalise_host(alias)}"
                        + (f"; {provider.note}" if provider.note else "")))
        body = pox_request(email)
        headers = {"Content-Type": "text/xml; charset=utf-8"}

        def post(url: str) -> list[Suggestion]:
            response = fetch("POST", url, body, headers, timeout)
            if response.status != 200:
                return []
            answer = parse_pox(response.body)
            if answer.redirect_url:
                redirected = fetch("POST", answer.redirect_url, body, headers, timeout)
                answer = parse_pox(redirected.body) if redirected.status == 200 else PoxAnswer()
            return pox_suggestions(answer)

        results = _parallel([partial(post, url) for url in urls], timeout + 0.5, "autodiscover")
        for found in results:
            if found:
                return found
        return known

    def step_mx(self, _email: str, domain: str, timeout: float) -> list[Suggestion]:
        dns = self._dns()
        records: list[MxRecord] = []
        if dns is not None:
            try:
                records = dns.mx(domain, timeout)
            except OSError as exc:
                log.info("autodetect: MX lookup gave no answer: %s", exc)
        return mx_suggestions(domain, records)

    # -- the guard ---------------------------------------------------------------------------------------------------

    def admitted(self, suggestions: Sequence[Suggestion], timeout: float) -> list[Suggestion]:
        """Keep suggestions whose host resolves and passes the network guard; say why others went (log only).

        Users never learn that a host was refused for being internal: the answer to an attacker probing the
        service's network is the same as for a host that does not exist.
        """
        unique = list({s.key(): s for s in suggestions}.values())

        def check(s: Suggestion) -> bool:
            try:
                resolve_checked(s.host, s.port, self.allow, resolver=self.resolver or default_resolver)
            except (NetGuardError, ValueError) as exc:
                log.info("autodetect: dropped %s suggestion %s:%d: %s", s.source, s.host, s.port, exc)
                return False
            return True

        verdicts = _parallel([partial(check, s) for s in unique], timeout, "guard check")
        return [s for s, ok in zip(unique, verdicts, strict=True) if ok]

    def detect(self, email: str) -> list[Suggestion]:
        """The suggestions of the first step that has any the guard admits; [] if none does.

        Raises InvalidEmail for a malformed address; network trouble never raises.
        """
        _local, domain = parse_email(email)
        steps: list[tuple[str, Callable[[str, str, float], list[Suggestion]]]] = [
            ("builtin", self.step_builtin),
            ("autoconfig", self.step_autoconfig),
            ("srv", self.step_srv),
            ("autodiscover", self.step_autodiscover),
            ("mx", self.step_mx),
        ]
        deadline = self.clock() + self.settings.total_timeout
        for name, step in steps:
            remaining = deadline - self.clock()
            if remaining <= 0:
                log.info("autodetect: out of time before the %s step for %s", name, domain)
                break
            timeout = min(self.settings.step_timeout, remaining)
            try:
                found = step(email, domain, timeout)
            except Exception:
                log.exception("autodetect: the %s step failed for %s", name, domain)
                continue
            if not found:
                continue
            remaining = deadline - self.clock()
            kept = self.admitted(found, max(min(self.settings.step_timeout, remaining), 0.5))
            if kept:
                log.info("autodetect: %d suggestion(s) for %s from %s", len(kept), domain, name)
                return kept
        log.info("autodetect: nothing found for %s", domain)
        return []
