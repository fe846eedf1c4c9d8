"""The neutral item every item reader produces: a :class:`PimItem` named by its operation and source id.

The key is a hash of the source's own id, so the same source item gets the same key on every
pass (the ledger's dedupe), whatever system it is read from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from shared.events import Event, ItemResult, PimItem, encode
from shared.formats import item_attachments
from shared.formats.item_attachments import ItemAttachment

# Operation → the item type its results are counted as.
ITEM_TYPE = {"contacts": "contact", "contact_groups": "contact_group", "calendars": "calendar", "tasks": "task",
             "rules": "rule", "auto_reply": "auto_reply"}


def pim_key(operation: str, source_id: str) -> str:
    return f"{operation}:{hashlib.sha256(source_id.encode()).hexdigest()[:24]}"


def pim_item(mid: str, operation: str, source_id: str, fmt: str, name: str, payload: str,
          lossy: list[str] | None = None) -> PimItem:
    return PimItem(migration_id=mid, item_key=pim_key(operation, source_id), item_type=ITEM_TYPE[operation],
                   format=fmt, name=(name or "")[:200], payload=payload, lossy=lossy or [])


# An item read whole travels as one record, and the items topic takes 2 MiB a record: a larger one (a contact
# with a photo of several megabytes, an event with a huge body) is reported failed instead of sent, so it cannot
# stop its operation (the broker would refuse the record again on every retry).
MAX_RECORD_BYTES = 2_000_000
RECORD_MARGIN = 16_384  # the envelope, the name and the report notes beside the payload


def payload_size(payload: str) -> int:
    """The bytes a payload takes in a record (JSON escapes line breaks and quotes)."""
    return len(json.dumps(payload, ensure_ascii=False).encode())


def too_large(item: Event) -> ItemResult | None:
    """The failed result for an item read whole that is too large for one record, else None."""
    size = len(encode(item))
    if size <= MAX_RECORD_BYTES:
        return None
    kind = item.item_type if isinstance(item, PimItem) else "rule"  # else a Sieve script
    fields: dict[str, Any] = {"item_type": kind, "subject": str(getattr(item, "name", ""))[:200]}
    return ItemResult(item_key=str(getattr(item, "item_key", "")), result="failed", bytes=size,
                      reason=f"too large to carry: {size / 1e6:.1f} MB as one record, at most "
                             f"{MAX_RECORD_BYTES / 1e6:.1f} MB", **fields)


def carry_attachments(extra: list[str], attachments: Sequence[ItemAttachment], used: int,
                      line_name: str = item_attachments.ICAL_NAME) -> list[str]:
    """Adds to a record's kept lines the attachments that fit in one record beside ``used`` bytes of payload
    (the item without them); returns the report's note for each one left out."""
    kept, notes = item_attachments.fit(attachments, MAX_RECORD_BYTES - used - RECORD_MARGIN, MAX_RECORD_BYTES)
    extra.extend(a.line(line_name) for a in kept)
    return notes
