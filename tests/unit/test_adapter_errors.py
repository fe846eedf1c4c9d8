"""Library exceptions become the ports' error kinds at the adapter's boundary (shared/adapters/imap/errors.py),
so the worker loop decides retry or give-up by kind alone, without knowing imaplib."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest

from shared.adapters.imap.errors import translate, translated
from shared.errors import ItemRejected, ServerRefused, Transient
from shared.worker_loop import retryable


def test_a_dropped_connection_is_transient_and_a_refusal_is_not() -> None:
    assert isinstance(translate(imaplib.IMAP4.abort("socket error: EOF"), "FETCH"), Transient)
    assert isinstance(translate(TimeoutError("timed out"), "FETCH"), Transient)
    assert isinstance(translate(ConnectionResetError(104, "reset"), "FETCH"), Transient)
    refused = translate(imaplib.IMAP4.error("EXAMINE failed: NO [NONEXISTENT] Mailbox doesn't exist"), "the listing")
    assert isinstance(refused, ServerRefused) and "Mailbox doesn't exist" in str(refused)
    assert translate(ValueError("not ours"), "FETCH") is None
    assert retryable(Transient("x")) and not retryable(ServerRefused("x"))
    assert not retryable(imaplib.IMAP4.abort("untranslated"))  # the loop no longer knows imaplib


class Session:
    @translated("FETCH")
    def fetch(self, fail_after: int) -> Iterator[int]:
        yield from range(fail_after)
        raise imaplib.IMAP4.abort("socket error: EOF")

    @translated("APPEND")
    def append(self, exc: Exception) -> None:
        raise exc


def test_a_decorated_generator_yields_what_it_read_then_raises_the_kind() -> None:
    got: list[int] = []
    with pytest.raises(Transient, match="lost during FETCH"):
        for n in Session().fetch(2):
            got.append(n)
    assert got == [0, 1]


def test_our_own_kinds_pass_unchanged() -> None:
    with pytest.raises(ItemRejected, match="too large"):
        Session().append(ItemRejected("too large"))
    with pytest.raises(ServerRefused, match="refused APPEND"):
        Session().append(imaplib.IMAP4.error("APPEND command error: BAD"))
    with pytest.raises(KeyError):
        Session().append(KeyError("a bug stays a bug"))
