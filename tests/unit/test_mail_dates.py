"""Dates from a message's own header fields: what senders really write, read alike by every adapter.

A date whose zone carries it past year 9999 (or before year 1) in UTC has no UTC form: Exchange and
Microsoft 365 keep only that, so before this was read as no date the write of the whole batch failed
with OverflowError and was retried until it was given up as poison.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.adapters.ews.mail_target import sent_date
from shared.adapters.graph.mime_message import PR_CLIENT_SUBMIT_TIME, graph_message
from shared.adapters.pop3.maildrop import received_date
from shared.mail_dates import date_field, header_date

PAST_9999 = "Fri, 31 Dec 9999 23:59:59 -1400"  # 1 Jan 10000 13:59:59 in UTC
BEFORE_1 = "Mon, 01 Jan 0001 00:00:00 +1400"  # the parser reads a year below 100 as 19xx/20xx: a date all the same


def message(*headers: str, end: bytes = b"\r\n") -> bytes:
    return end.join(h.encode() for h in headers) + end + end + b"body" + end


@pytest.mark.parametrize(("value", "want"), [
    ("Tue, 02 Jan 2024 10:00:00 +0100", datetime(2024, 1, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))),
    ("2 Jan 2024 10:00 -0000", datetime(2024, 1, 2, 10, 0, tzinfo=UTC)),  # no zone known: UTC
    (PAST_9999, None),
    ("Fri, 31 Dec 9999 23:59:59 +0000", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),  # the last one there is
    ("32 Dec 2020 25:61:61 +0000", None),
    ("", None),
    ("  tomorrow  ", None),
])
def test_a_header_date_is_read_only_when_it_has_a_utc_form(value: str, want: datetime | None) -> None:
    got = header_date(value)
    assert got == want
    assert got is None or (want is not None and got.utcoffset() == want.utcoffset())


def test_date_field_reads_a_bare_lf_header_block_and_stops_at_the_body() -> None:
    assert date_field(message("Subject: x", "Date: Wed, 03 Jan 2024 08:00:00 +0000", end=b"\n")) == \
        datetime(2024, 1, 3, 8, 0, tzinfo=UTC)
    assert date_field(b"Subject: x\r\n\r\nDate: Wed, 03 Jan 2024 08:00:00 +0000\r\n") is None  # in the body
    assert date_field(b"x") is None


def test_every_adapter_takes_a_date_past_9999_for_no_date() -> None:
    data = message("From: a@example.net", f"Date: {PAST_9999}", "Subject: far")
    assert sent_date(data) is None  # Exchange (EWS): no "sent" time set, the message written all the same
    props = graph_message(data, [], datetime(2024, 1, 1, tzinfo=UTC), "m").body["singleValueExtendedProperties"]
    assert PR_CLIENT_SUBMIT_TIME not in {p["id"] for p in props}  # Microsoft 365 likewise
    assert received_date(data) is None  # POP3: the time of the copy, as for a message without a date
    assert received_date(message(f"Received: by mx; {PAST_9999}", "Date: Tue, 02 Jan 2024 10:00:00 +0000")) == \
        datetime(2024, 1, 2, 10, 0, tzinfo=UTC)  # a Received stamp that cannot be read: the Date field


def test_a_date_in_year_one_is_kept_as_the_parser_reads_it() -> None:
    assert sent_date(message(f"Date: {BEFORE_1}")) == datetime(2000, 12, 31, 10, 0, tzinfo=UTC)
