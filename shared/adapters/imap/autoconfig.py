"""Thunderbird's autoconfig file (config-v1.1.xml): the IMAP and POP3 servers a domain publishes for mail clients.

The Discovery port's autoconfig way: fetch the file from the domain's two usual places, keep only well-formed
incomingServer entries (an ``exchange`` one with its EWS URL too). The parser is pure; the fetch is injected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from shared.adapters import provider_table as pt
from shared.adapters.ports import Lookups
from shared.adapters.server_suggestions import Suggestion, ews_suggestion, valid_host
from shared.adapters.side_by_side import parallel
from shared.adapters.xml_reading import child_text, children_text, local_name, parse_xml

_SOCKET_TYPES: dict[str, pt.Security] = {"ssl": "tls", "tls": "tls", "starttls": "starttls", "plain": "none"}


def autoconfig_urls(domain: str, scheme: str = "https", port: int | None = None) -> list[str]:
    """The two places Thunderbird looks first: the autoconfig host and the domain's well-known path."""
    where = f":{port}" if port else ""
    return [
        f"{scheme}://autoconfig.{domain}{where}/mail/config-v1.1.xml",
        f"{scheme}://{domain}{where}/.well-known/autoconfig/mail/config-v1.1.xml",
    ]


def expand_placeholders(text: str, email: str) -> str:
    """Thunderbird's placeholders: %EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN%."""
    local, _at, domain = email.strip().rpartition("@")
    return (text.replace("%EMAILADDRESS%", email.strip())
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain.lower()))


def _auth_note(methods: Sequence[str]) -> str | None:
    lowered = {m.lower() for m in methods if m}
    if lowered and lowered <= {"oauth2"}:
        return "the provider announces OAuth2 logins only; a password may be refused"
    return None


def parse_autoconfig(body: bytes, email: str) -> list[Suggestion]:
    """The file's parser: incomingServer entries of type imap/pop3 (and exchange with an ewsURL).

    Entries with an unknown socketType, a bad port or an odd host name are skipped, not guessed at.
    """
    root = parse_xml(body)
    if root is None or local_name(root.tag) != "clientConfig":
        return []
    found: list[Suggestion] = []
    for provider in (el for el in root if local_name(el.tag) == "emailProvider"):
        for server in (el for el in provider if local_name(el.tag) == "incomingServer"):
            kind = (server.get("type") or "").lower()
            if kind == "exchange":
                url = child_text(server, "ewsURL")
                ews = ews_suggestion(url, "autoconfig") if url else None
                if ews is not None:
                    login = expand_placeholders(child_text(server, "username"), email) or None
                    found.append(replace(ews, login=login))
                continue
            if kind not in ("imap", "pop3"):
                continue
            host = expand_placeholders(child_text(server, "hostname"), email).lower().rstrip(".")
            security = _SOCKET_TYPES.get(child_text(server, "socketType").lower())
            port_text = child_text(server, "port")
            if not valid_host(host) or security is None or not port_text.isdigit():
                continue
            port = int(port_text)
            if not 1 <= port <= 65535:
                continue
            login = expand_placeholders(child_text(server, "username"), email) or None
            note = _auth_note(children_text(server, "authentication"))
            if security == "none":
                note = "unencrypted: the password would cross the network in clear text"
            proto: pt.Protocol = "imap" if kind == "imap" else "pop3"
            found.append(Suggestion(proto, host, port, security, "autoconfig", note, login))
    return found


class AutoconfigDiscovery:
    """The Discovery port on autoconfig files: both places asked at once, the autoconfig host's answer first."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def discover(self, email: str, domain: str, timeout: float) -> list[Suggestion]:
        fetch = self.lookups.fetch

        def get(url: str) -> list[Suggestion]:
            response = fetch("GET", url, None, {"Accept": "application/xml, text/xml"}, timeout)
            return parse_autoconfig(response.body, email) if response.status == 200 else []

        urls = autoconfig_urls(domain, self.lookups.http_scheme, self.lookups.http_port)
        for found in parallel([partial(get, url) for url in urls], timeout + 0.5, "autoconfig"):
            if found:
                return found
        return []
