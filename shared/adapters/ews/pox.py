"""Exchange's POX autodiscover (the Outlook 2006 schema): the request, and what an answer says (pure).

An answer names EWS URLs (outside access first), may announce IMAP/POP3 servers, or redirects to another URL
or address. It is a stranger's XML: read with defusedxml, and only well-formed settings are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from shared.adapters import provider_table as pt
from shared.adapters.server_suggestions import Suggestion, ews_suggestion, valid_host
from shared.adapters.xml_reading import child_text, iter_named, local_name, parse_xml

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


def parse_pox(body: bytes) -> PoxAnswer:
    """The answer's parser: EwsUrl of EXPR (outside access) before EXCH, IMAP/POP3 Protocol entries, redirects."""
    root = parse_xml(body)
    if root is None or local_name(root.tag) != "Autodiscover":
        return PoxAnswer()
    for account in iter_named(root, "Account"):
        action = child_text(account, "Action").lower()
        if action == "redirecturl":
            return PoxAnswer(redirect_url=child_text(account, "RedirectUrl") or None)
        if action == "redirectaddr":
            return PoxAnswer(redirect_addr=child_text(account, "RedirectAddr") or None)
    urls: list[tuple[int, str]] = []
    servers: list[Suggestion] = []
    order = {"EXPR": 0, "EXCH": 1, "WEB": 2}
    for proto in iter_named(root, "Protocol"):
        kind = child_text(proto, "Type").upper()
        ews = child_text(proto, "EwsUrl")
        if ews:
            urls.append((order.get(kind, 3), ews))
        if kind in ("IMAP", "POP3"):
            host = child_text(proto, "Server").lower().rstrip(".")
            port_text = child_text(proto, "Port")
            encryption = child_text(proto, "Encryption").lower()
            ssl_on = child_text(proto, "SSL").lower() != "off"
            security: pt.Security = (
                "starttls" if encryption == "tls" else "none" if encryption == "none" or not ssl_on else "tls")
            if valid_host(host) and port_text.isdigit() and 1 <= int(port_text) <= 65535:
                protocol: pt.Protocol = "imap" if kind == "IMAP" else "pop3"
                servers.append(Suggestion(protocol, host, int(port_text), security, "autodiscover"))
    unique_urls = tuple(dict.fromkeys(url for _rank, url in sorted(urls, key=lambda item: item[0])))
    return PoxAnswer(ews_urls=unique_urls, servers=tuple(servers))


def pox_suggestions(answer: PoxAnswer) -> list[Suggestion]:
    """EWS first (autodiscover is Exchange's own channel), then any IMAP/POP3 it announced."""
    found = [s for s in (ews_suggestion(url, "autodiscover") for url in answer.ews_urls) if s is not None]
    return found + list(answer.servers)
