"""What every protocol's connection shares: the operator's settings, the network guard, the TLS context.

The host name is resolved and checked once (:mod:`shared.net_guard`) and the socket goes to
exactly that address, while TLS still verifies the certificate against the host name (SNI) —
so DNS rebinding cannot redirect a checked connection and certificate checks are not weakened.
Each adapter's ``connection`` module builds its client on these.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass

from shared import net_guard
from shared.errors import AddressNotAllowed, HostNotFound


@dataclass(frozen=True)
class ConnectOptions:
    """Operator settings that shape every connection."""

    allow: net_guard.AllowList
    ca_file: str = ""
    timeout: float = 15.0


@functools.lru_cache(maxsize=8)
def tls_context(verify: bool, ca_file: str = "") -> ssl.SSLContext:
    """Verifying by default; ``verify=False`` only when the operator allowed it for this migration.

    Cached: loading the system's CA store costs ~15 ms of CPU, and workers open sessions often.
    """
    ctx = ssl.create_default_context()
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def resolve(host: str, port: int, allow: net_guard.AllowList) -> str:
    """Check the host with the network guard; our error kinds, plain words."""
    try:
        return net_guard.resolve_checked(host, port, allow)
    except net_guard.HostNotFound as exc:
        raise HostNotFound(str(exc)) from None
    except net_guard.AddressNotAllowed as exc:
        raise AddressNotAllowed(str(exc)) from None
