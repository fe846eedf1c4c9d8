"""Large attachments through an upload session: byte ranges PUT to the pre-authenticated URL Graph gave.

The URL carries its own token, so the request carries no Authorization header (Graph refuses one); each
PUT still holds a slot of the mailbox's budget. A busy answer is waited out for its Retry-After; after a
lost answer the session's ``NextExpectedRanges`` says where to go on from.
"""

from __future__ import annotations

import httpx

from shared.adapters.graph.client import RETRY_STATUS, GraphClient, retry_after
from shared.adapters.graph.mime_message import UPLOAD_PIECE
from shared.adapters.graph.transport import transport_error
from shared.errors import ServerRefused, Throttled, Transient

ATTEMPTS = 8


def _next_start(resp: httpx.Response, fallback: int) -> int:
    try:
        ranges = resp.json().get("NextExpectedRanges") or resp.json().get("nextExpectedRanges") or []
        return int(str(ranges[0]).split("-", 1)[0]) if ranges else fallback
    except (ValueError, AttributeError, IndexError):
        return fallback


def upload_attachment(client: GraphClient, url: str, content: bytes, piece: int = UPLOAD_PIECE) -> None:
    """Every byte of ``content`` sent in order; raises our error kinds when Graph will not take them."""
    total = len(content)
    start = 0
    failures = 0
    while start < total:
        end = min(start + piece, total) - 1
        headers = {"Content-Range": f"bytes {start}-{end}/{total}", "Content-Type": "application/octet-stream"}
        try:
            with client.budget.slots(1):
                resp = client.http.put(url, content=content[start:end + 1], headers=headers)
        except httpx.TransportError as exc:
            failure = transport_error(exc, "Microsoft 365's upload service")
            failures += 1
            if not isinstance(failure, Transient) or failures >= ATTEMPTS:
                raise failure from None
            client.sleep(retry_after({}, failures, client.max_retry_after))
            continue
        if resp.status_code in RETRY_STATUS:
            failures += 1
            if failures >= ATTEMPTS:
                raise Throttled("Microsoft 365 kept refusing an attachment's upload as busy")
            wait = retry_after(resp.headers, failures, client.max_retry_after)
            client.retried_after.append(wait)
            client.sleep(wait)
            continue
        if resp.status_code == 416:  # the session has other bytes than we thought: go on from where it is
            start = _next_start(resp, start)
            continue
        if resp.status_code >= 300:
            raise ServerRefused(f"Microsoft 365 refused an attachment's bytes ({resp.status_code})")
        start = end + 1 if resp.status_code == 201 else _next_start(resp, end + 1)
