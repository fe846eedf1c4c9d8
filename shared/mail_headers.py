"""Message-ID and Subject of a message, read fast, for the target's duplicate check and the report.

Every source adapter reads them from the bytes it fetched; the loader looks a message up
on the target by its Message-ID after a lost answer.
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header


def header_fields(data: bytes) -> tuple[str, str]:
    """Message-ID and Subject, decoded, for the target check and the report.

    Found with ``bytes.find`` in a lower-cased copy of the header block, not the ``email``
    package (its header registry cost more CPU than everything else the extractor does per
    message) nor a regular expression (which tries every position of a 3 KB header of real mail).
    """
    limit = min(len(data), HEADER_SCAN_BYTES)  # searched in place: a slice would copy the message
    crlf = data.find(b"\r\n\r\n", 0, limit)
    bare = data.find(b"\n\n", 0, crlf if crlf >= 0 else limit)  # a bare-LF header ends before any CRLF one
    end = bare if bare >= 0 else crlf if crlf >= 0 else limit
    head = data[:end].lower()
    mid = _unfold(_field(data, head, b"message-id")).decode("utf-8", "replace").strip()
    subject = _decode_words(_unfold(_field(data, head, b"subject")))
    return mid[:998], " ".join(subject.split())[:200]


HEADER_SCAN_BYTES = 65536
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_BLANK = b" \t"


def _field(data: bytes, head: bytes, name: bytes) -> bytes:
    """The raw value of the first ``name:`` field (folded lines included); ``head`` is the header
    block of ``data`` lower-cased, so offsets agree."""
    at = -1
    while (at := head.find(name, at + 1)) >= 0:
        if at and head[at - 1] != 0x0A:  # not at the start of a line
            continue
        colon = at + len(name)
        while colon < len(head) and head[colon] in _BLANK:
            colon += 1
        if colon == len(head) or head[colon] != 0x3A:
            continue
        stop = colon
        while (stop := data.find(b"\n", stop + 1, len(head))) >= 0 and stop + 1 < len(head) \
                and data[stop + 1] in _BLANK:
            pass  # a folded line goes on with the value
        return data[colon + 1:stop if stop >= 0 else len(head)]
    return b""


def _unfold(value: bytes) -> bytes:
    if b"\n" in value:
        value = _FOLD.sub(b"", value)
    return value.replace(b"\r", b"")


def _decode_words(value: bytes) -> str:
    """RFC 2047 encoded words decoded; raw 8-bit bytes read as UTF-8; never raises."""
    text = value.decode("utf-8", "replace").strip()
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # a malformed encoded word must not stop the migration
        return text
