"""POP3 messages by reference when the server's UIDLs repeat (shared.adapters.pop3.source.numbered_refs)."""

from __future__ import annotations

from shared.adapters.pop3.source import numbered_refs


def test_unique_uidls_are_the_references() -> None:
    assert numbered_refs([(1, "a"), (2, "b")]) == [(1, "a"), (2, "b")]


def test_each_repeat_of_a_uidl_is_named_by_its_place_among_them() -> None:
    got = numbered_refs([(1, "x"), (2, "y"), (3, "x"), (4, "x"), (5, "y")])
    assert got == [(1, "x"), (2, "y"), (3, "x 2"), (4, "x 3"), (5, "y 2")]
    assert len({ref for _n, ref in got}) == 5
