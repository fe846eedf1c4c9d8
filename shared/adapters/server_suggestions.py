"""What a discovery answers: server settings suggested for an address, and the provider table's own answer.

Pure. Every suggestion says where it came from (``source``); the hosts in it are what a domain published,
so the caller passes each through the network guard before offering it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.adapters import provider_table as pt
from shared.mail_address import parse_email

#: How a suggestion was found: the provider table, Thunderbird autoconfig, DNS SRV, Exchange autodiscover, MX.
SourceName = Literal["builtin", "autoconfig", "srv", "autodiscover", "mx"]

_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", re.ASCII)


@dataclass(frozen=True)
class Suggestion:
    """One server setting offered to the user, in the shape of the migration form's endpoint."""

    protocol: pt.Protocol
    host: str
    port: int
    security: pt.Security
    source: SourceName
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


def valid_host(host: str) -> bool:
    """A plain DNS host name (lower case, no trailing dot): what a published setting must name to be kept."""
    return bool(_HOST.fullmatch(host)) and ".." not in host


def provider_suggestions(provider: pt.Provider, source: SourceName, login: str | None = None,
                         note: str | None = None) -> list[Suggestion]:
    """A provider's servers as suggestions (the table's note unless another is given)."""
    return [Suggestion(s.protocol, s.host, s.port, s.security, source, note or provider.note, login)
            for s in provider.servers]


def builtin_suggestions(email: str) -> list[Suggestion]:
    """The provider table by the address's domain (pure)."""
    _local, domain = parse_email(email)
    provider = pt.provider_for_domain(domain)
    return provider_suggestions(provider, "builtin", login=email.strip()) if provider else []


class ProviderTableDiscovery:
    """The Discovery port on the provider table: no network at all, so it is asked first."""

    def discover(self, email: str, _domain: str, _timeout: float) -> list[Suggestion]:
        return builtin_suggestions(email)


def ews_suggestion(url: str, source: SourceName) -> Suggestion | None:
    """An EWS URL as host/port/security (the service always talks to /EWS/Exchange.asmx on that host)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("https", "http") or not valid_host(host):
        return None
    security: pt.Security = "tls" if parts.scheme == "https" else "none"
    port = port or (443 if security == "tls" else 80)
    note = f"EWS URL {parts.scheme}://{parts.netloc}{parts.path}"
    if parts.path.lower() != "/ews/exchange.asmx":
        note += " (not the usual /EWS/Exchange.asmx path)"
    return Suggestion("ews", host, port, security, source, note)
