"""Sources that fetch a message in one piece (EWS, POP3, PST): their items cut to the inline limit.

IMAP reads a large message in ranges (:mod:`shared.adapters.imap.fetch_task`); these sources
get it whole, so it is cut here into the same ordered chunk records.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.events import MailChunk, MailItem


def as_chunks(item: MailItem, limit: int) -> Iterator[MailItem | MailChunk]:
    """A message already in memory (sources without partial fetch), cut to the inline limit if needed."""
    if len(item.data) <= limit:
        yield item
        return
    pieces = [item.data[i:i + limit] for i in range(0, len(item.data), limit)]
    for seq, piece in enumerate(pieces):
        yield MailChunk(migration_id=item.migration_id, item_key=item.meta.item_key, seq=seq,
                        last=seq == len(pieces) - 1, meta=item.meta if seq == 0 else None, data=piece)
