"""Checking both logins on the real servers before anything is queued.

Both sides are checked at once (two threads), so a user waits for the slower
server, not the sum. Errors keep their kind and say which side they concern.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.intake.api_models import Endpoint
from shared.errors import ConnectionCheckFailed, ProtocolError
from shared.imap_connection import ConnectOptions, login_imap


class SideFailed(Exception):
    def __init__(self, side: str, error: ConnectionCheckFailed) -> None:
        super().__init__(str(error))
        self.side = side
        self.error = error


def check_endpoint(ep: Endpoint, opts: ConnectOptions) -> None:
    if ep.type != "imap":
        raise ProtocolError(f"{ep.type} accounts cannot be checked by this version")
    client = login_imap(ep.host, ep.port, ep.security, ep.tls_verify, ep.login, ep.password, opts)
    try:
        client.logout()
    except Exception:
        client.shutdown()


def check_both(source: Endpoint, target: Endpoint, opts: ConnectOptions, pool: ThreadPoolExecutor) -> None:
    """Raises :class:`SideFailed` for the first side (source first) that failed."""
    futures = {side: pool.submit(check_endpoint, ep, opts) for side, ep in (("source", source), ("target", target))}
    for side, fut in futures.items():
        try:
            fut.result()
        except ConnectionCheckFailed as exc:
            raise SideFailed(side, exc) from None
