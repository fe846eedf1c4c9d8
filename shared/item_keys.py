"""The identities every service agrees on: a source message's key, a folder's key, and the Kafka key of an
``items`` record.

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


def items_record_key(migration_id: str, folder_id: str | None = None) -> str:
    """The Kafka key of an e-mail ``items`` record; one key keeps its records in order on one partition, which
    the loader relies on for a large message's chunks and for a folder's messages.

    A large mailbox's messages are keyed per folder (``folder_id`` given), so its folders spread over the
    partitions and over the loader replicas. A mailbox small enough to be read whole at planning is keyed by
    the migration alone, and so are every migration's folder events (sent before it is known to be small): all
    of a small mailbox is on one partition, so one loader writes it on one session (per folder, each loader
    replica used to log in to it). The loader creates a message's folder with its batch whatever came first,
    so a large mailbox's folder events need not share its messages' partitions."""
    return migration_id if folder_id is None else f"{migration_id}/{folder_id}"
