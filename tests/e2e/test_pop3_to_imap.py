"""POP3 → IMAP through the whole stack: everything into the Inbox, dates from the headers, no duplicates."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

from mailferry import seed, verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate


def received(i: int) -> bytes:
    when = datetime(2022, 3, 1 + i % 27, 8, i % 60, tzinfo=UTC)
    return (f"Received: from mx.example.net by mail.example.test; {format_datetime(when)}\r\n").encode()


def test_pop3_source_into_imap_inbox_then_a_delta_pass(running_stack: StackInfo, accounts: Accounts,
                                                       dovecot: DovecotServer) -> None:
    src, dst = accounts.new("pop"), accounts.new("dst")
    rng = random.Random(3)
    with accounts.client(src) as c:  # Dovecot's POP3 serves the IMAP INBOX of the same account
        for i in range(40):
            c.append("INBOX", received(i) + seed.generated(i, rng))
    plain = accounts.endpoint(src, type="pop3", port=dovecot.pop3_port, security="none")
    _mid, st = migrate(running_stack, plain, accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 40
    with accounts.client(src) as a, accounts.client(dst) as b:
        source = verify.snapshot_folder(a, "INBOX")
        target = verify.snapshot_folder(b, "INBOX")
    assert {sha for sha, _f, _d in source} == {sha for sha, _f, _d in target}  # same bytes
    dates = sorted(verify.instant(d) for _s, _f, d in target)
    assert dates[0] == int(datetime(2022, 3, 1, 8, 0, tzinfo=UTC).timestamp())  # from the Received header
    with accounts.client(src) as c:
        for i in range(40, 45):
            c.append("INBOX", received(i) + seed.generated(i, rng))
    _mid2, st2 = migrate(running_stack, plain, accounts.endpoint(dst))
    assert st2["state"] == "completed"
    assert st2["items"]["emails"]["done"] == 5 and st2["items"]["emails"]["skipped"] == 40
    with accounts.client(dst) as b:
        b.select_folder("INBOX", readonly=True)
        assert len(b.search("ALL")) == 45
