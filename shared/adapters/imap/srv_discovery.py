"""DNS SRV records for mail access (RFC 6186): the IMAP and POP3 servers a domain announces in its DNS.

The Discovery port's SRV way: the four services are asked at once and ranked together. The ranking is pure.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from functools import partial

from shared.adapters import provider_table as pt
from shared.adapters.dns_lookup import SrvRecord, offered, order_srv
from shared.adapters.ports import Lookups
from shared.adapters.server_suggestions import Suggestion, valid_host
from shared.adapters.side_by_side import parallel

# (record name prefix, protocol, security, tie-break rank: implicit TLS first (RFC 8314), IMAP before POP3)
SRV_SERVICES: tuple[tuple[str, pt.Protocol, pt.Security, int], ...] = (
    ("_imaps._tcp", "imap", "tls", 0),
    ("_imap._tcp", "imap", "starttls", 1),
    ("_pop3s._tcp", "pop3", "tls", 2),
    ("_pop3._tcp", "pop3", "starttls", 3),
)


def srv_suggestions(answers: Mapping[str, Sequence[SrvRecord]], rng: random.Random | None = None
                    ) -> list[Suggestion]:
    """The ranking over all four services together (RFC 6186 section 3.4: priorities compare across
    services), ties broken IMAPS > IMAP > POP3S > POP3; within one service and priority, RFC 2782 weights."""
    ranked: list[tuple[int, int, int, Suggestion]] = []
    for prefix, protocol, security, rank in SRV_SERVICES:
        records = offered(answers.get(prefix, ()))
        for position, record in enumerate(order_srv(records, rng)):
            host = pt.normalise_host(record.target)
            if not valid_host(host):
                continue
            ranked.append((record.priority, rank, position,
                           Suggestion(protocol, host, record.port, security, "srv")))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]



class SrvDiscovery:
    """The Discovery port on RFC 6186 SRV records."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def discover(self, _email: str, domain: str, timeout: float) -> list[Suggestion]:
        dns = self.lookups.dns()
        if dns is None:
            return []
        names = [prefix for prefix, *_rest in SRV_SERVICES]
        results = parallel([partial(dns.srv, f"{name}.{domain}", timeout) for name in names], timeout + 0.5,
                           "SRV lookup")
        answers = {name: result or [] for name, result in zip(names, results, strict=True)}
        return srv_suggestions(answers, self.lookups.rng)
