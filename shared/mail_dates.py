"""Dates a message gives in its own header fields (``Date:``, ``Received:``), read alike by every adapter.

Senders write anything there: a zone that carries the date past year 9999 (``31 Dec 9999 23:59:59 -1400``)
or before year 1 once it is taken to UTC, no zone at all, words instead of digits. Every target converts
the date to UTC (Exchange and Microsoft 365 keep only that), so a date with no UTC form would fail the write
of a message that is otherwise fine: such a date is read as no date, like one that cannot be parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime

#: How much of a message is searched for its header block: a Date field further down is not read.
HEADER_BYTES = 262144


def header_date(value: str) -> datetime | None:
    """An RFC 5322 date as a time-zone-aware datetime (no zone or ``-0000``: UTC), or None when it cannot be
    parsed or has no UTC form."""
    text = " ".join(value.split())
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:  # "-0000" or no zone: RFC 5322 says UTC, the local zone unknown
            when = when.replace(tzinfo=UTC)
        when.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when


def header_block(data: bytes) -> bytes:
    """The message's header block: up to the first empty line (CRLF or bare LF), at most HEADER_BYTES."""
    end = len(data)
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = data.find(sep, 0, HEADER_BYTES)
        if pos != -1:
            end = min(end, pos)
    return data[: min(end, HEADER_BYTES)]


def date_field(data: bytes) -> datetime | None:
    """The message's ``Date:`` (:func:`header_date`), or None."""
    try:
        value = BytesHeaderParser(policy=compat32).parsebytes(header_block(data)).get("Date")
    except Exception:  # a malformed header block is a message without a readable date, not a failed write
        return None
    return header_date(str(value)) if value is not None else None
