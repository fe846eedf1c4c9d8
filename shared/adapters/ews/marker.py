"""The mailferry marker on the contacts, groups, events and tasks the loader creates in Exchange.

Every such item is stamped with a custom named MAPI property (mailferry's own property set
GUID and a name) holding the ledger identity of its source item: the pair id and the item key.
A crash between creating an item and writing its ledger entry leaves the item *in flight*; the
retry looks for the marker instead of creating the item a second time. A named property is used,
never a property tag: Exchange forbids addressing the custom range (0x8000-0xFFFE) by tag.
The pair id is part of the value because item keys alone can repeat across ledgers (two PST
files into one mailbox have the same node ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.adapters.ews.fields import FIELD

SEARCH_CHUNK = 50  # markers per FindItem restriction, so a large retry never sends one huge Or


def marker(scope: str, item_key: str, part: int = 0) -> str:
    """The value stamped on part ``part`` of the item ``item_key`` of the ledger ``scope``."""
    return f"{scope}:{item_key}" if part == 0 else f"{scope}:{item_key}#{part}"


def find_marked(folder: Any, markers: Sequence[str]) -> dict[str, list[str]]:
    """Marker → ids of the items in ``folder`` that carry it.

    Usually one; more when a create was sent twice (exchangelib sends a request again after a read
    timeout), and then every copy must be recorded so that undo removes them all. A restriction
    on the property finds the items (FindItem); exchangelib reads extended properties only with
    GetItem, so their values come in one more round trip per chunk.
    """
    found: dict[str, list[str]] = {}
    for i in range(0, len(markers), SEARCH_CHUNK):
        chunk = set(markers[i:i + SEARCH_CHUNK])
        for item in folder.filter(**{f"{FIELD}__in": sorted(chunk)}).only(FIELD):
            value = getattr(item, FIELD, None)
            if not isinstance(item, Exception) and value in chunk:
                found.setdefault(value, []).append(item.id)
    return found
