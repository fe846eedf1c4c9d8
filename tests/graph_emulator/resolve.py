"""Turning ids and well-known names in a request path into stored entries, with Graph's errors."""

from __future__ import annotations

import base64
import binascii

from .call import Call
from .errors import GraphError, not_found
from .store import Entry


def well_formed(entry_id: str) -> bool:
    if not entry_id.startswith(("AAMkA", "AAkALg")):
        return False
    body = entry_id[5:] if entry_id.startswith("AAMkA") else entry_id[6:]
    try:
        base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return False
    return True


def malformed() -> GraphError:
    return GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")


def entry(call: Call, entry_id: str, kind: str, well_known: bool = False) -> Entry:
    """The entry of this kind named by id (or, where `well_known`, by a well-known name)."""
    if well_known:
        wk = call.mailbox.well_known.get(entry_id.lower())
        if wk is not None and call.mailbox.entries[wk].kind == kind:
            return call.mailbox.entries[wk]
    if not well_formed(entry_id):
        raise malformed()
    found = call.mailbox.get(entry_id, kind)
    if found is None:
        raise not_found()
    return found
