"""Finding a user's Exchange (EWS) server from the address alone: POX autodiscover with the user's login.

Used when an Exchange account is given without a server. Exchange answers POX
autodiscover only to an authenticated request, so the login and password go
along (over the scheme the operator configured, HTTPS in production); every host
asked, redirects included, passes the network guard first.
"""

from __future__ import annotations

import base64

from services.intake.autodetect import (
    DetectSettings,
    DnsPythonLookup,
    GuardedHttp,
    autodiscover_urls,
    dns_resolver,
    parse_email,
    parse_pox,
    pox_request,
    pox_suggestions,
)
from shared.errors import HostNotFound
from shared.net_guard import AllowList, NetGuardError


def discover_ews(login: str, password: str, settings: DetectSettings, allow: AllowList) -> tuple[str, int, str]:
    """(host, port, security) of the EWS endpoint for ``login``; HostNotFound when autodiscover has none."""
    _local, domain = parse_email(login)
    resolver = dns_resolver(DnsPythonLookup(settings.nameservers, settings.dns_port), settings.step_timeout) \
        if settings.nameservers else None
    fetch = GuardedHttp(allow=allow, resolver=resolver, scheme=settings.http_scheme, ca_file=settings.ca_file)
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Basic {token}"}
    body = pox_request(login)
    for url in autodiscover_urls(domain, settings.http_scheme, settings.http_port):
        try:
            response = fetch("POST", url, body, headers, settings.step_timeout)
        except (OSError, NetGuardError):
            continue  # this URL gave no answer (no such host, refused address, timeout): try the next
        if response.status != 200:
            continue
        for suggestion in pox_suggestions(parse_pox(response.body)):
            if suggestion.protocol == "ews":
                return suggestion.host, suggestion.port, suggestion.security
    raise HostNotFound(f"autodiscover found no Exchange server for {domain}; give the server name instead")
