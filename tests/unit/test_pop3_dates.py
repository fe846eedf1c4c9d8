"""received_date: the topmost Received: time stamp, else Date:, always time-zone aware; and the bytes a message
was stored with, without the line break a POP3 server adds to an unterminated last line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.adapters.pop3.maildrop import pop3_item_key, received_date
from shared.adapters.pop3.source import as_stored


def msg(*headers: str, body: str = "body\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def test_topmost_received_wins_over_lower_ones_and_date() -> None:
    data = msg(
        "Received: from relay.example.net by mx.example.test; Wed, 2 Jul 2003 08:00:00 +0000",
        "Received: from client by relay.example.net; Tue, 1 Jul 2003 23:00:00 -0700",
        "Date: Mon, 30 Jun 2003 12:00:00 +0200",
    )
    assert received_date(data) == datetime(2003, 7, 2, 8, 0, tzinfo=UTC)


def test_folded_received_header_with_semicolons_in_the_clauses() -> None:
    data = msg(
        "Received: from mail.example.net (mail.example.net [192.0.2.7]);",
        "\tby mx.example.test (Postfix) with ESMTPS id 4F1;",
        "        Tue, 1 Jul 2003",
        " 10:52:37 +0200 (CEST)",
        "Date: Mon, 30 Jun 2003 12:00:00 +0000",
    )
    when = received_date(data)
    assert when == datetime(2003, 7, 1, 10, 52, 37, tzinfo=timezone(timedelta(hours=2)))
    assert when is not None and when.utcoffset() == timedelta(hours=2)


def test_lf_only_message_and_time_zone_kept() -> None:
    data = b"Received: by mx; Fri, 21 Nov 1997 09:55:06 -0600\nSubject: x\n\nbody\n"
    when = received_date(data)
    assert when is not None and when.utcoffset() == timedelta(hours=-6)
    assert when.astimezone(UTC) == datetime(1997, 11, 21, 15, 55, 6, tzinfo=UTC)


def test_missing_received_falls_back_to_date() -> None:
    data = msg("From: a@example.test", "Date: Thu, 13 Feb 1969 23:32:54 -0330", "Subject: old")
    when = received_date(data)
    assert when is not None and when.utcoffset() == -timedelta(hours=3, minutes=30)
    assert (when.year, when.month, when.day) == (1969, 2, 13)


def test_received_without_a_time_stamp_falls_back_to_date() -> None:
    data = msg("Received: from a by b with SMTP id 1", "Date: Tue, 1 Jul 2003 10:52:37 +0000")
    assert received_date(data) == datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)


@pytest.mark.parametrize("garbage", ["yesterday", "Tue, 99 Foo 2003 99:99:99 +0200", "", "   ", "; ;", "0"])
def test_garbage_received_date_falls_back_to_date(garbage: str) -> None:
    data = msg(f"Received: from a by b; {garbage}", "Date: Tue, 1 Jul 2003 10:52:37 +0100")
    assert received_date(data) == datetime(2003, 7, 1, 9, 52, 37, tzinfo=UTC)


def test_garbage_everywhere_is_none() -> None:
    assert received_date(msg("Received: from a by b; not a date", "Date: someday")) is None
    assert received_date(msg("Subject: no dates at all")) is None
    assert received_date(b"") is None
    assert received_date(b"\xff\xfe\x00 not even headers") is None


def test_minus_zero_and_missing_zone_are_utc() -> None:
    for stamp in ("Tue, 1 Jul 2003 10:52:37 -0000", "Tue, 1 Jul 2003 10:52:37"):
        when = received_date(msg(f"Received: by mx; {stamp}"))
        assert when == datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC), stamp
        assert when is not None and when.tzinfo is not None


def test_obsolete_zone_names_and_two_digit_years() -> None:
    when = received_date(msg("Date: 1 Jul 03 10:52:37 EST"))
    assert when == datetime(2003, 7, 1, 15, 52, 37, tzinfo=UTC)


def test_date_without_day_name_and_with_comment() -> None:
    when = received_date(msg("Received: by mx; 1 Jul 2003 10:52:37 +0200 (CEST)"))
    assert when == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)


def test_headers_in_the_body_are_ignored() -> None:
    data = msg("Subject: forwarded", body="Received: by x; Tue, 1 Jul 2003 10:52:37 +0000\r\n")
    assert received_date(data) is None


def test_non_ascii_bytes_in_headers_do_not_break_parsing() -> None:
    data = "Subject: Grüße\r\nReceived: by mx; Tue, 1 Jul 2003 10:52:37 +0000\r\n\r\nbody".encode()
    assert received_date(data) == datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)


def test_item_key_is_stable_short_and_safe() -> None:
    key = pop3_item_key("000000016b091f69")
    assert key == pop3_item_key("000000016b091f69")
    assert key != pop3_item_key("000000026b091f69")
    assert key.startswith("pop3:") and len(key) == 29
    assert all(c.isalnum() or c == ":" for c in key)
    assert pop3_item_key("weird uidl/with\\chars:and spaces").startswith("pop3:")


@pytest.mark.parametrize(("served", "size", "want"), [
    # a message whose last line had no line break: the server added CRLF before its ".", LIST did not count it
    (b"x\r\n", 1, b"x"),
    (b"Subject: a\r\n\r\nlast line\r\n", 23, b"Subject: a\r\n\r\nlast line"),
    (b"Subject: a\r\n\r\nlast line\r\n", 25, b"Subject: a\r\n\r\nlast line\r\n"),  # as stored: left alone
    (b"Subject: a\r\n\r\nbody\r\n", 10, b"Subject: a\r\n\r\nbody\r\n"),  # a size that explains nothing: as served
    (b"Subject: a\r\n\r\nbody\n\n", 18, b"Subject: a\r\n\r\nbody\n\n"),  # two more, but not a CRLF
    (b"x\r\n", None, b"x\r\n"),  # no size known
])
def test_the_line_break_a_pop3_server_adds_is_taken_off(served: bytes, size: int | None, want: bytes) -> None:
    assert as_stored(served, size) == want
