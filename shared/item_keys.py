"""The identities every service agrees on: a source message's key and a folder's key.

The extractor names items with them, the loader records them in the ledger and reports
them, the tracker counts each key once. The key schemes of sources without UIDs (an EWS
ItemId, a POP3 UIDL, a PST node id) belong to their adapter packages.
"""

from __future__ import annotations


def item_key(folder_id: str, uidvalidity: int, uid: int) -> str:
    """Stable identity of a source message: the dedupe key everywhere."""
    return f"{folder_id}:{uidvalidity}:{uid}"


def folder_key(folder_id: str) -> str:
    return f"folder:{folder_id}"
