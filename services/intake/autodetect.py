"""Find the mail server settings of an e-mail address, so users need not know them.

The ways of finding them are the adapters' (the Discovery port, shared/adapters/ports.py), asked in the
registry's order; the first that yields a usable answer wins, and every answer says where it came from:
``builtin`` (the provider table), ``autoconfig``, ``srv``, ``autodiscover``, ``mx``.

Why so careful: the address is typed by an anonymous user and names a domain the user controls, so every
answer is attacker-supplied. Hence every host *suggested* passes the network guard here, every host
*fetched from* passes it in the guarded fetch the adapters are handed, and each way has a short timeout
within a bounded total. A network failure only means "this way had no answer".

DNS, HTTP, the resolver and the clock are injected, so unit tests need no network and the integration
tests point the detector at local servers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from shared.adapters import registry
from shared.adapters.dns_lookup import DnsLookup, DnsPythonLookup, dns_resolver
from shared.adapters.guarded_http import GuardedHttp, HttpFetch
from shared.adapters.ports import Lookups
from shared.adapters.server_suggestions import Suggestion
from shared.adapters.side_by_side import parallel
from shared.config import DetectSettings
from shared.mail_address import parse_email
from shared.net_guard import AllowList, NetGuardError, Resolver, default_resolver, resolve_checked

log = logging.getLogger(__name__)


@dataclass
class Detector:
    """Asks the registered discoveries for one address. Build once; ``detect`` is safe to call from many threads."""

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
        self.lookups = Lookups(self._dns, self.http_fetch, s.http_scheme, s.http_port, self.rng)

    def _dns(self) -> DnsLookup | None:
        """The system DNS client, built on first use: a host without resolv.conf then only loses the DNS steps."""
        if self.dns is None:
            try:
                self.dns = DnsPythonLookup()
            except Exception as exc:  # dnspython raises NoResolverConfiguration and friends
                log.warning("autodetect: no DNS configuration: %s", exc)
                return None
        return self.dns

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

        verdicts = parallel([partial(check, s) for s in unique], timeout, "guard check")
        return [s for s, ok in zip(unique, verdicts, strict=True) if ok]

    def detect(self, email: str) -> list[Suggestion]:
        """The suggestions of the first way that has any the guard admits; [] if none does.

        Raises InvalidEmail for a malformed address; network trouble never raises.
        """
        _local, domain = parse_email(email)
        deadline = self.clock() + self.settings.total_timeout
        for name, way in registry.discoveries(self.lookups):
            remaining = deadline - self.clock()
            if remaining <= 0:
                log.info("autodetect: out of time before the %s step for %s", name, domain)
                break
            timeout = min(self.settings.step_timeout, remaining)
            try:
                found = way.discover(email, domain, timeout)
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
