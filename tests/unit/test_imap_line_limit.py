"""Every IMAP session reads answer lines far longer than imaplib's 1 MB limit (a SEARCH without ESEARCH)."""

from __future__ import annotations

import imaplib
import io

import pytest

from shared.imap_connection import _PinnedPlain, _PinnedTls


def _reader(data: bytes, cls: type[_PinnedPlain] = _PinnedPlain) -> _PinnedPlain:
    imap = object.__new__(cls)  # no connection: only the line reader is under test
    imap.file = io.BytesIO(data)  # type: ignore[assignment]
    return imap


def test_a_search_answer_of_200000_uids_is_one_readable_line() -> None:
    line = b"* SEARCH " + b" ".join(str(n).encode() for n in range(1, 200_001)) + b"\r\n"
    assert len(line) > 1024 * 1024
    for cls in (_PinnedPlain, _PinnedTls):
        assert _reader(line + b"A1 OK\r\n", cls).readline() == line


def test_a_line_over_the_limit_is_refused_in_imaplibs_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_PinnedPlain, "max_line", 10)
    with pytest.raises(imaplib.IMAP4.error, match="more than 10 bytes"):
        _reader(b"* SEARCH 1 2 3 4 5\r\n").readline()
    assert _reader(b"* OK hi\r\n").readline() == b"* OK hi\r\n"
