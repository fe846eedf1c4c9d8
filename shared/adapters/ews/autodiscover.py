"""Finding an Exchange (EWS) server from an address: the Discovery port's autodiscover way, and the
authenticated lookup intake makes when an Exchange account is given without a server.

Anonymous (autodetection): the ``_autodiscover._tcp`` SRV target and the ``autodiscover.<domain>`` CNAME may
name a known host (OVH Hosted Exchange, Microsoft 365's autodiscover.outlook.com), and the POX URLs are asked;
an answer from POX wins over what the names alone say. With the user's login (``find_server``): Exchange
answers POX only to an authenticated request, so the login and password go along, over the scheme the
operator configured (HTTPS in production). Every host asked, redirects included, passes the network guard.
"""

from __future__ import annotations

import base64
import logging
from functools import partial

from shared.adapters import provider_table as pt
from shared.adapters.dns_lookup import DnsPythonLookup, dns_resolver, offered, order_srv
from shared.adapters.ews.pox import PoxAnswer, autodiscover_urls, parse_pox, pox_request, pox_suggestions
from shared.adapters.guarded_http import GuardedHttp
from shared.adapters.ports import Lookups
from shared.adapters.server_suggestions import Suggestion, provider_suggestions
from shared.adapters.side_by_side import parallel
from shared.config import DetectSettings
from shared.errors import HostNotFound
from shared.mail_address import parse_email
from shared.net_guard import AllowList, NetGuardError

log = logging.getLogger(__name__)

_POX_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


class AutodiscoverDiscovery:
    """The Discovery port on Exchange autodiscover, without a login."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def known_host(self, domain: str, timeout: float, urls: list[str]) -> list[Suggestion]:
        """What the autodiscover DNS names alone say; the SRV target's POX URL is added to ``urls``."""
        dns = self.lookups.dns()
        if dns is None:
            return []
        scheme, port = self.lookups.http_scheme, self.lookups.http_port
        known: list[Suggestion] = []
        try:
            targets = order_srv(offered(dns.srv(f"_autodiscover._tcp.{domain}", timeout)), self.lookups.rng)
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
        return known

    def discover(self, email: str, domain: str, timeout: float) -> list[Suggestion]:
        fetch = self.lookups.fetch
        urls = autodiscover_urls(domain, self.lookups.http_scheme, self.lookups.http_port)
        known = self.known_host(domain, timeout, urls)
        body = pox_request(email)

        def post(url: str) -> list[Suggestion]:
            response = fetch("POST", url, body, _POX_HEADERS, timeout)
            if response.status != 200:
                return []
            answer = parse_pox(response.body)
            if answer.redirect_url:
                redirected = fetch("POST", answer.redirect_url, body, _POX_HEADERS, timeout)
                answer = parse_pox(redirected.body) if redirected.status == 200 else PoxAnswer()
            return pox_suggestions(answer)

        for found in parallel([partial(post, url) for url in urls], timeout + 0.5, "autodiscover"):
            if found:
                return found
        return known


def find_server(login: str, password: str, settings: DetectSettings, allow: AllowList) -> tuple[str, int, str]:
    """(host, port, security) of the EWS endpoint for ``login``; HostNotFound when autodiscover has none,
    InvalidEmail when the login is not an address."""
    _local, domain = parse_email(login)
    resolver = dns_resolver(DnsPythonLookup(settings.nameservers, settings.dns_port), settings.step_timeout) \
        if settings.nameservers else None
    fetch = GuardedHttp(allow=allow, resolver=resolver, scheme=settings.http_scheme, ca_file=settings.ca_file)
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    headers = {**_POX_HEADERS, "Authorization": f"Basic {token}"}
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
