"""The pure parts of the IMAP target adapter: UID sets, APPENDUID, settable flags."""

from __future__ import annotations

import pytest

from shared.adapters.imap.target import append_limit, parse_appenduid, settable_flags
from shared.uid_sets import expand_uid_set


@pytest.mark.parametrize("text, expected", [
    ("7", [7]),
    ("4:6,9", [4, 5, 6, 9]),
    ("1:3", [1, 2, 3]),
    ("5:5", [5]),
    ("10,2:3", [10, 2, 3]),
])
def test_expand_uid_set(text: str, expected: list[int]) -> None:
    assert expand_uid_set(text) == expected


def test_expand_uid_set_reversed_range_covers_the_same_uids() -> None:
    assert sorted(expand_uid_set("6:4")) == [4, 5, 6]


def test_expand_uid_set_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        expand_uid_set("4:*")


@pytest.mark.parametrize("response, expected", [
    (b"[APPENDUID 38505 3955] APPEND completed", (38505, [3955])),
    ("[APPENDUID 38505 3955] APPEND completed", (38505, [3955])),
    (b"A003 OK [APPENDUID 1 4:6,9] MULTIAPPEND done", (1, [4, 5, 6, 9])),
    (b"ok [appenduid 12 1] done", (12, [1])),
    (b"APPEND completed", None),
    (b"[APPENDUID 12] broken", None),
    ("", None),
])
def test_parse_appenduid(response: bytes | str, expected: tuple[int, list[int]] | None) -> None:
    assert parse_appenduid(response) == expected


def test_settable_flags_drop_recent_in_any_case_and_keep_order() -> None:
    flags = ["\\Seen", "\\Recent", "$Label1", "\\RECENT", "\\Flagged", "\\recent", "\\Answered"]
    assert settable_flags(flags) == ("\\Seen", "$Label1", "\\Flagged", "\\Answered")
    assert settable_flags([]) == ()
    assert settable_flags(settable_flags(flags)) == settable_flags(flags)


@pytest.mark.parametrize(("caps", "expected"), [({"IMAP4REV1", "APPENDLIMIT=35651584"}, 35651584),
                                                ({"appendlimit=10"}, 10), ({"APPENDLIMIT"}, None), ({"IMAP4REV1"}, None)])
def test_append_limit_from_the_capabilities(caps: set[str], expected: int | None) -> None:
    """RFC 7889: ``APPENDLIMIT=n`` for the whole server; a bare ``APPENDLIMIT`` means it differs by folder."""
    assert append_limit(caps) == expected
