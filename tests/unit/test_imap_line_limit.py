"""Answer lines: imaplib's 1 MB limit for every session, far longer ones where the extractor lists a folder."""

from __future__ import annotations

import imaplib
import io

import pytest

from shared.adapters.imap.connection import _PinnedPlain, _PinnedTls
from shared.adapters.imap.source import LISTING_MAX_LINE

SEARCH_200000 = b"* SEARCH " + b" ".join(str(n).encode() for n in range(1, 200_001)) + b"\r\n"


def _reader(data: bytes, cls: type[_PinnedPlain] = _PinnedPlain, max_line: int | None = None) -> _PinnedPlain:
    imap = object.__new__(cls)  # no connection: only the line reader is under test
    imap.file = io.BytesIO(data)  # type: ignore[assignment]
    if max_line is not None:
        imap.max_line = max_line
    return imap


def test_a_session_holds_no_line_over_imaplibs_limit() -> None:
    assert len(SEARCH_200000) > 1_000_000
    for cls in (_PinnedPlain, _PinnedTls):
        with pytest.raises(imaplib.IMAP4.error, match="more than 1000000 bytes"):
            _reader(SEARCH_200000, cls).readline()
    assert _reader(b"* OK hi\r\n").readline() == b"* OK hi\r\n"


def test_with_the_listing_limit_a_search_answer_of_200000_uids_is_one_readable_line() -> None:
    for cls in (_PinnedPlain, _PinnedTls):
        assert _reader(SEARCH_200000 + b"A1 OK\r\n", cls, LISTING_MAX_LINE).readline() == SEARCH_200000
