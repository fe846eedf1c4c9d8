"""Built-in server settings of well-known mail providers (discovery by the table, and MX or autodiscover matches).

Why a table at all: the big providers publish no autoconfig file or SRV record for
their consumer domains (or publish one that only offers OAuth), so asking the
network first would be slow and often wrong. The table is data only; the lookups
below are pure so they can be tested without a network.

Sources: the providers' own help pages as remembered at the time of writing (no
network access while this was written). Entries marked ``UNSURE`` should be
checked against the provider's current help page before relying on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Protocol = Literal["imap", "pop3", "ews", "graph"]
Security = Literal["tls", "starttls", "none"]


@dataclass(frozen=True)
class Server:
    """One way into a mailbox, in the shape the migration form wants it."""

    protocol: Protocol
    host: str
    port: int
    security: Security = "tls"


@dataclass(frozen=True)
class Provider:
    """A provider: its servers in the order we suggest them, and what the user should know."""

    key: str
    name: str
    servers: tuple[Server, ...]
    note: str | None = None
    domains: tuple[str, ...] = ()
    # Patterns (full match, lower case, no trailing dot) of the provider's MX hosts.
    mx_patterns: tuple[str, ...] = ()
    compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", tuple(re.compile(p) for p in self.mx_patterns))


_APP_LOGIN_NOTE = "this provider usually requires an app password (not your normal password) for other programs"
_M365_NOTE = (
    "Microsoft may refuse password logins for IMAP/POP/EWS (basic authentication is switched off for most "
    "tenants); use an OAuth token or an app password if the login check fails"
)

OVH_MX_PLAN = Provider(
    key="ovh-mxplan",
    name="OVHcloud MX Plan",
    servers=(
        Server("imap", "ssl0.ovh.net", 993),
        Server("pop3", "ssl0.ovh.net", 995),
    ),
    note="OVHcloud MX Plan; Email Pro and Hosted Exchange accounts use the proN.mail.ovh.net / exN.mail.ovh.net "
         "server shown in the OVHcloud control panel instead",
    # MX Plan, Email Pro and Hosted Exchange all receive through mxN.mail.ovh.net, so an MX match cannot tell
    # them apart: MX Plan (the most common) is suggested, and the note says where to look otherwise.
    mx_patterns=(r"mx\d*\.mail\.ovh\.net", r"mx\d*\.ovh\.net", r"mxb\.ovh\.net"),
)


def ovh_email_pro(number: int) -> Provider:
    """OVH Email Pro: IMAP/POP on proN.mail.ovh.net (N is the platform, shown in the control panel)."""
    host = f"pro{number}.mail.ovh.net"
    return Provider(
        key="ovh-emailpro",
        name="OVHcloud Email Pro",
        servers=(Server("imap", host, 993), Server("pop3", host, 995)),
        note="OVHcloud Email Pro",
    )


def ovh_exchange(number: int) -> Provider:
    """OVH Hosted Exchange: EWS at https://exN.mail.ovh.net/EWS/Exchange.asmx, IMAP on the same host."""
    host = f"ex{number}.mail.ovh.net"
    return Provider(
        key="ovh-exchange",
        name="OVHcloud Hosted Exchange",
        servers=(Server("ews", host, 443), Server("imap", host, 993)),
        note="OVHcloud Hosted Exchange (EWS URL https://" + host + "/EWS/Exchange.asmx)",
    )


GMAIL = Provider(
    key="gmail",
    name="Gmail / Google Workspace",
    servers=(Server("imap", "imap.gmail.com", 993), Server("pop3", "pop.gmail.com", 995)),
    note=_APP_LOGIN_NOTE + "; IMAP must be allowed in the Gmail settings",
    domains=("gmail.com", "googlemail.com"),
    # aspmx.l.google.com and altN.aspmx.l.google.com; aspmxN.googlemail.com; smtp.google.com (the single MX
    # Google has recommended for new Workspace domains since 2023).
    mx_patterns=(r"(?:alt\d+\.)?aspmx\.l\.google\.com", r"aspmx\d*\.googlemail\.com", r"smtp\.google\.com"),
)

# Exchange Online's EWS, IMAP and POP3 (for tenants that still allow them, and Outlook.com accounts).
_OUTLOOK_SERVERS = (Server("ews", "outlook.office365.com", 443), Server("imap", "outlook.office365.com", 993),
                    Server("pop3", "outlook.office365.com", 995))

# Microsoft 365 (Exchange Online, an organisation's tenant): Graph first — EWS is switched off there by default
# since 2026-10-01 and removed on 2027-04-01; EWS, IMAP and POP3 follow for tenants that still allow them.
MICROSOFT_365 = Provider(
    key="microsoft365",
    name="Microsoft 365 / Exchange Online",
    servers=(Server("graph", "graph.microsoft.com", 443), *_OUTLOOK_SERVERS),
    note="Microsoft 365: sign in with Microsoft (or through your organisation's app, where the operator set one "
         "up); " + _M365_NOTE + " (EWS URL https://outlook.office365.com/EWS/Exchange.asmx)",
    mx_patterns=(r"[a-z0-9-]+\.mail\.protection\.outlook\.com",),
)

# Outlook.com, Hotmail, Live: Microsoft's consumer accounts (not reached by an organisation's Graph app).
MICROSOFT = Provider(
    key="microsoft",
    name="Outlook.com / Microsoft 365",
    servers=_OUTLOOK_SERVERS,
    note=_M365_NOTE + " (EWS URL https://outlook.office365.com/EWS/Exchange.asmx)",
    domains=(
        "outlook.com", "outlook.de", "outlook.fr", "outlook.at", "outlook.be", "outlook.es", "outlook.it",
        "hotmail.com", "hotmail.de", "hotmail.fr", "hotmail.co.uk", "hotmail.it", "hotmail.es",
        "live.com", "live.de", "live.fr", "live.co.uk", "live.at", "live.nl", "msn.com", "windowslive.com",
    ),
    mx_patterns=(r"[a-z0-9-]+\.olc\.protection\.outlook\.com",),
)

YAHOO = Provider(
    key="yahoo",
    name="Yahoo Mail",
    servers=(Server("imap", "imap.mail.yahoo.com", 993), Server("pop3", "pop.mail.yahoo.com", 995)),
    note=_APP_LOGIN_NOTE,
    domains=("yahoo.com", "yahoo.de", "yahoo.fr", "yahoo.co.uk", "yahoo.es", "yahoo.it", "ymail.com",
             "rocketmail.com"),
    mx_patterns=(r"mta\d+\.am\d+\.yahoodns\.net",),
)

ICLOUD = Provider(
    key="icloud",
    name="iCloud Mail",
    # iCloud offers no POP3.
    servers=(Server("imap", "imap.mail.me.com", 993),),
    note="iCloud requires an app-specific password for other programs",
    domains=("icloud.com", "me.com", "mac.com"),
    mx_patterns=(r"mx\d+\.mail\.icloud\.com",),
)

GMX = Provider(
    key="gmx",
    name="GMX",
    servers=(Server("imap", "imap.gmx.net", 993), Server("pop3", "pop.gmx.net", 995)),
    note="GMX: access by IMAP/POP3 must first be switched on in the GMX mail settings",
    domains=("gmx.de", "gmx.net", "gmx.at", "gmx.ch"),
    mx_patterns=(r"mx\d*\.gmx\.net",),
)

GMX_COM = Provider(
    key="gmx-com",
    name="GMX (international)",
    # UNSURE: imap.gmx.com / pop.gmx.com for the international gmx.com service (from memory).
    servers=(Server("imap", "imap.gmx.com", 993), Server("pop3", "pop.gmx.com", 995)),
    note="GMX: access by IMAP/POP3 may have to be switched on in the GMX mail settings",
    domains=("gmx.com", "gmx.us", "gmx.co.uk", "gmx.fr"),
)

WEB_DE = Provider(
    key="web-de",
    name="WEB.DE",
    # POP3 host is pop3.web.de (not pop.web.de).
    servers=(Server("imap", "imap.web.de", 993), Server("pop3", "pop3.web.de", 995)),
    note="WEB.DE: access by IMAP/POP3 must first be switched on in the WEB.DE mail settings",
    domains=("web.de",),
    mx_patterns=(r"mx\d*\.web\.de",),
)

FASTMAIL = Provider(
    key="fastmail",
    name="Fastmail",
    servers=(Server("imap", "imap.fastmail.com", 993), Server("pop3", "pop.fastmail.com", 995)),
    note="Fastmail requires an app password for other programs",
    # Fastmail has many more sign-up domains; these are the common ones.
    domains=("fastmail.com", "fastmail.fm", "fastmail.de", "fastmail.net", "fastmail.org", "fastmail.us",
             "messagingengine.com"),
    mx_patterns=(r"in\d+-smtp\.messagingengine\.com",),
)

IONOS = Provider(
    key="ionos",
    name="IONOS (1&1)",
    servers=(Server("imap", "imap.ionos.de", 993), Server("pop3", "pop.ionos.de", 995)),
    note="IONOS by 1&1 (Germany); accounts of ionos.com / ionos.co.uk use imap.ionos.com / imap.ionos.co.uk",
    domains=("ionos.de", "1und1.de", "1and1.de"),
    # mx00/mx01.ionos.de and the older mx00/mx01.kundenserver.de.
    mx_patterns=(r"mx\d+\.ionos\.de", r"mx\d+\.kundenserver\.de"),
)

IONOS_COM = Provider(
    key="ionos-com",
    name="IONOS (international)",
    # UNSURE: imap.ionos.com / pop.ionos.com, imap.ionos.co.uk / pop.ionos.co.uk (from memory).
    servers=(Server("imap", "imap.ionos.com", 993), Server("pop3", "pop.ionos.com", 995)),
    note="IONOS (international)",
    domains=("ionos.com", "1and1.com"),
    mx_patterns=(r"mx\d+\.ionos\.com",),
)

IONOS_UK = Provider(
    key="ionos-uk",
    name="IONOS (UK)",
    servers=(Server("imap", "imap.ionos.co.uk", 993), Server("pop3", "pop.ionos.co.uk", 995)),
    note="IONOS (UK)",
    domains=("ionos.co.uk", "1and1.co.uk"),
    mx_patterns=(r"mx\d+\.ionos\.co\.uk",),
)

PROVIDERS: tuple[Provider, ...] = (
    GMAIL, MICROSOFT_365, MICROSOFT, YAHOO, ICLOUD, GMX, GMX_COM, WEB_DE, FASTMAIL, IONOS, IONOS_COM, IONOS_UK,
    OVH_MX_PLAN,
)

_BY_DOMAIN: dict[str, Provider] = {domain: p for p in PROVIDERS for domain in p.domains}

# Domains under which every subdomain belongs to one provider.
_SUFFIXES: tuple[tuple[str, Provider], ...] = ((".onmicrosoft.com", MICROSOFT_365),)

_OVH_PRO = re.compile(r"pro(\d+)\.mail\.ovh\.net")
_OVH_EXCHANGE = re.compile(r"ex(\d+)\.mail\.ovh\.net")


def normalise_host(host: str) -> str:
    """Lower case without the trailing dot DNS answers carry, so patterns match whatever the source."""
    return host.strip().rstrip(".").lower()


def provider_for_domain(domain: str) -> Provider | None:
    """The provider whose own mail domain this is (gmail.com, web.de...), or None."""
    name = normalise_host(domain)
    found = _BY_DOMAIN.get(name)
    if found is not None:
        return found
    for suffix, provider in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return provider
    return None


def provider_for_mx(mx_host: str) -> Provider | None:
    """The provider that receives mail through this MX host, or None if it is not a known one."""
    name = normalise_host(mx_host)
    for provider in PROVIDERS:
        if any(pattern.fullmatch(name) for pattern in provider.compiled):
            return provider
    return None


def provider_for_server_host(host: str) -> Provider | None:
    """A provider recognised from one of its *server* names (e.g. an autodiscover SRV target exN.mail.ovh.net).

    OVH's numbered platforms are built on the fly because the number is part of the host name.
    """
    name = normalise_host(host)
    if match := _OVH_EXCHANGE.fullmatch(name):
        return ovh_exchange(int(match.group(1)))
    if match := _OVH_PRO.fullmatch(name):
        return ovh_email_pro(int(match.group(1)))
    if name == "ssl0.ovh.net":
        return OVH_MX_PLAN
    if name in ("outlook.office365.com", "autodiscover-s.outlook.com", "autodiscover.outlook.com"):
        return MICROSOFT_365  # an organisation's domain pointing its autodiscover at Exchange Online
    for provider in PROVIDERS:
        if any(server.host == name for server in provider.servers):
            return provider
    return None
