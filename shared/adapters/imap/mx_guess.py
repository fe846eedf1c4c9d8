"""Server guesses from a domain's MX records: a known provider's mail exchanger gives its settings (Microsoft 365's
``*.mail.protection.outlook.com`` gives Graph first); otherwise IMAP host names to try.

The Discovery port's last way, since its guesses are the least sure. The guessing is pure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from shared.adapters import provider_table as pt
from shared.adapters.dns_lookup import MxRecord
from shared.adapters.ports import Lookups
from shared.adapters.server_suggestions import Suggestion, provider_suggestions, valid_host

log = logging.getLogger(__name__)

_GUESS_NOTE = "guessed from the domain name: not checked that a mail server answers there"


def mx_suggestions(domain: str, records: Sequence[MxRecord]) -> list[Suggestion]:
    """Pure: a known provider's MX gives its settings; otherwise host-name guesses to be resolved.

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
    if real and real[0].endswith("." + domain) and real[0] not in hosts and valid_host(real[0]):
        hosts.append(real[0])
    return [Suggestion("imap", host, 993, "tls", "mx", _GUESS_NOTE) for host in hosts]


class MxDiscovery:
    """The Discovery port on MX records."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def discover(self, _email: str, domain: str, timeout: float) -> list[Suggestion]:
        dns = self.lookups.dns()
        records: list[MxRecord] = []
        if dns is not None:
            try:
                records = dns.mx(domain, timeout)
            except OSError as exc:
                log.info("autodetect: MX lookup gave no answer: %s", exc)
        return mx_suggestions(domain, records)
