"""The neutral item every item reader produces: a :class:`PimItem` named by its operation and source id.

The key is a hash of the source's own id, so the same source item gets the same key on every
pass (the ledger's dedupe), whatever system it is read from.
"""

from __future__ import annotations

import hashlib

from shared.events import PimItem

# Operation → the item type its results are counted as.
ITEM_TYPE = {"contacts": "contact", "contact_groups": "contact_group", "calendars": "calendar", "tasks": "task",
             "rules": "rule", "auto_reply": "auto_reply"}


def pim_key(operation: str, source_id: str) -> str:
    return f"{operation}:{hashlib.sha256(source_id.encode()).hexdigest()[:24]}"


def pim_item(mid: str, operation: str, source_id: str, fmt: str, name: str, payload: str,
          lossy: list[str] | None = None) -> PimItem:
    return PimItem(migration_id=mid, item_key=pim_key(operation, source_id), item_type=ITEM_TYPE[operation],
                   format=fmt, name=(name or "")[:200], payload=payload, lossy=lossy or [])
