"""DNS answers a discovery asks for (SRV, MX, CNAME, addresses), on dnspython, and RFC 2782's SRV order.

The records are neutral; ``DnsLookup`` is what discoveries are given, so tests hand them an in-memory one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.adapters import provider_table as pt
from shared.net_guard import Resolver


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


class DnsLookup(Protocol):
    """The DNS questions discovery asks. Every method returns [] for "no answer" and may raise on failure."""

    def srv(self, name: str, timeout: float) -> list[SrvRecord]: ...

    def mx(self, domain: str, timeout: float) -> list[MxRecord]: ...

    def addresses(self, host: str, timeout: float) -> list[str]: ...

    def cname(self, name: str, timeout: float) -> list[str]: ...



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
