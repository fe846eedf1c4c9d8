"""FETCH answers in the shapes imaplib hands them over (as read off Dovecot, Gmail- and Cyrus-style orders)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from imapclient.datetime_util import parse_to_datetime

from shared.adapters.imap.fetch_parse import internaldate, parse_bodies, parse_meta, responses
from shared.uid_sets import uid_set


def test_uid_set_compacts_runs_and_sorts() -> None:
    assert uid_set([7, 1, 2, 3, 9, 10, 3]) == "1:3,7,9:10"
    assert uid_set([5]) == "5"
    assert uid_set([]) == ""


def test_bodies_with_uid_before_or_after_the_literal() -> None:
    data = [
        (b"1 (UID 10 BODY[] {5}", b"hello"), b")",
        (b"2 (BODY[] {3}", b"abc"), b" UID 11)",  # some servers put UID after the body
    ]
    assert parse_bodies(data) == {10: b"hello", 11: b"abc"}


def test_bodies_skip_unsolicited_flag_updates_and_nil() -> None:
    data = [
        b"4 (FLAGS (\\Seen))",  # another client changed a flag meanwhile
        (b"1 (UID 10 BODY[] {2}", b"ok"), b")",
        b"3 (UID 12 BODY[] NIL)",
    ]
    assert parse_bodies(data) == {10: b"ok"}


def test_bodies_partial_and_quoted_and_binary() -> None:
    raw = bytes(range(256))
    data = [
        (b"1 (UID 10 BODY[]<1048576> {256}", raw), b")",
        b'2 (UID 11 BODY[] "a \\"quoted\\" body")',
    ]
    assert parse_bodies(data) == {10: raw, 11: b'a "quoted" body'}


def test_a_literal_that_is_not_the_body_is_ignored() -> None:
    assert parse_bodies([(b"1 (UID 10 BODY[HEADER] {2}", b"hi"), b")"]) == {}


def test_meta_in_any_order_keeps_the_servers_time_zone() -> None:
    data = [
        b'1 (UID 10 RFC822.SIZE 1234 FLAGS (\\Seen $Work) INTERNALDATE "01-May-2024 14:00:00 +0200")',
        b'2 (INTERNALDATE "02-Jan-2023 09:30:05 -0500" FLAGS () UID 11 RFC822.SIZE 5)',
        b"3 (FLAGS (\\Deleted))",
    ]
    out = parse_meta(data)
    assert sorted(out) == [10, 11]
    assert out[10].size == 1234 and out[10].flags == ("\\Seen", "$Work")
    assert out[10].internaldate.utcoffset() == timedelta(hours=2)
    assert (out[10].internaldate.hour, out[10].internaldate.day) == (14, 1)
    assert out[11].flags == () and out[11].size == 5
    assert out[11].internaldate.utcoffset() == timedelta(hours=-5)


def test_responses_pairs_each_literal_with_the_rest_of_its_line() -> None:
    data = [(b"1 (UID 1 BODY[] {1}", b"x"), b")", b"2 (FLAGS ())", (b"3 (UID 3 BODY[] {1}", b"y"), b" UID 3)"]
    assert list(responses(data)) == [
        (b"1 (UID 1 BODY[] {1}", b"x", b")"), (b"2 (FLAGS ())", None, b""), (b"3 (UID 3 BODY[] {1}", b"y", b" UID 3)")]


@pytest.mark.parametrize("raw", [
    b"01-Mar-2021 12:07:00 +0200", b" 1-Mar-2021 12:07:00 +0200", b"31-Dec-1999 23:59:59 -0930",
    b"29-feb-2024 00:00:00 +0000", b"15-JUN-2010 08:30:15 -0000", b"07-Jul-2007 07:07:07 +1400",
])
def test_internaldate_reads_the_fixed_form_as_the_general_parser_does(raw: bytes) -> None:
    got, want = internaldate(raw), parse_to_datetime(raw, normalise=False)
    assert got == want and got.utcoffset() == want.utcoffset()


def test_internaldate_leaves_other_forms_to_the_general_parser() -> None:
    assert internaldate(b"Mon, 1 Mar 2021 12:07:00 +0200") == parse_to_datetime(b"Mon, 1 Mar 2021 12:07:00 +0200",
                                                                                 normalise=False)
    with pytest.raises(ValueError):
        internaldate(b"not a date")
