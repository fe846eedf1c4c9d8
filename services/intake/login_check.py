"""Checking both logins on the real servers before anything is queued.

Both sides are checked at once (two threads), so a user waits for the slower
server, not the sum. Errors keep their kind and say which side they concern.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.intake.api_models import Endpoint
from shared.adapters.ews.connection import check_login
from shared.adapters.imap.connection import login_imap
from shared.adapters.net import ConnectOptions
from shared.adapters.pop3.connection import login_pop3
from shared.adapters.sieve.client import connect_sieve, sieve_port, sieve_security
from shared.errors import ConnectionCheckFailed, ProtocolError


class SideFailed(Exception):
    def __init__(self, side: str, error: ConnectionCheckFailed) -> None:
        super().__init__(str(error))
        self.side = side
        self.error = error


def check_endpoint(ep: Endpoint, opts: ConnectOptions, sieve: bool = False) -> None:
    if ep.type == "ews":
        check_login(ep.host, ep.port, ep.security, ep.login, ep.password, ep.auth, tls_verify=ep.tls_verify)
        return
    if ep.type == "pop3":
        login_pop3(ep.host, ep.port, ep.security, ep.tls_verify, ep.login, ep.password, opts).logout()
        return
    if ep.type != "imap":
        raise ProtocolError(f"{ep.type} accounts cannot be checked by this version")
    client = login_imap(ep.host, ep.port, ep.security, ep.tls_verify, ep.login, ep.password, opts)
    try:
        client.logout()
    except Exception:
        client.shutdown()
    if sieve:
        connect_sieve(ep.host, sieve_port(ep.sieve_port), sieve_security(ep.security), ep.tls_verify,
                      ep.login, ep.password, opts).logout()


def check_both(source: Endpoint, target: Endpoint, opts: ConnectOptions, pool: ThreadPoolExecutor,
               sieve: bool = False) -> dict[str, ConnectionCheckFailed | None]:
    """Each side's failure, or None where the login succeeded: both are always known (the target's
    outcome counts against its login's limit even when the source failed)."""
    futures = {side: pool.submit(check_endpoint, ep, opts, sieve)
               for side, ep in (("source", source), ("target", target))}
    outcomes: dict[str, ConnectionCheckFailed | None] = {}
    for side, fut in futures.items():
        try:
            fut.result()
            outcomes[side] = None
        except ConnectionCheckFailed as exc:
            outcomes[side] = exc
    return outcomes


def raise_first_failure(outcomes: dict[str, ConnectionCheckFailed | None]) -> None:
    """Raises :class:`SideFailed` for the first side (source first) that failed."""
    for side in ("source", "target"):
        failure = outcomes.get(side)
        if failure is not None:
            raise SideFailed(side, failure)
