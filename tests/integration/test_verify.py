"""The verifier against real Dovecot accounts: it must fail every wrong copy, including a wrong folder map.

The copies here are made by a few lines of imapclient written for this test (not by mailferry), so
each kind of mistake can be made on purpose: a folder renamed the way the old mapping did (Archiv →
Archive), a folder too many, a message missing or extra, a flag lost, INTERNALDATE in another zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from imapclient import IMAPClient

from mailferry import verify
from tests.conftest import Accounts

PLUS_TWO = timezone(timedelta(hours=2))
SOURCE = {  # folder → [(bytes, flags, INTERNALDATE)]
    "INBOX": [(b"Subject: a\r\nMessage-ID: <a@x>\r\n\r\none\r\n", ("\\Seen",), datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_TWO))],
    "Archiv": [(b"Subject: b\r\nMessage-ID: <b@x>\r\n\r\ntwo\r\n", ("$Work",), datetime(2019, 1, 2, 3, 4, tzinfo=PLUS_TWO))],
    "Archiv/2019": [(b"Subject: c\r\nMessage-ID: <c@x>\r\n\r\nthree\r\n", ("\\Flagged", "\\Seen"),
                     datetime(2019, 6, 7, 8, 9, 10, tzinfo=PLUS_TWO))],
}
# Source and target accounts of the shared Dovecot both have Sent, Drafts, Trash, Junk and Archive.
SPECIALS = ("Sent", "Drafts", "Trash", "Junk", "Archive")
RIGHT = {"INBOX": "INBOX", "Archiv": "Archiv", "Archiv/2019": "Archiv/2019", **{n: n for n in SPECIALS}}

Message = tuple[bytes, tuple[str, ...], datetime]


def fill(client: IMAPClient, folders: dict[str, list[Message]]) -> None:
    for folder, msgs in folders.items():
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for data, flags, when in msgs:
            client.append(folder, data, flags=flags, msg_time=when)


def copy(accounts: Accounts, src: str, dst: str, rename: Callable[[str], str] = lambda n: n,
         change: Callable[[str, Message], Message | None] = lambda _f, m: m) -> None:
    """The test's own copy: every source message into ``rename(folder)``, as ``change`` leaves it."""
    out: dict[str, list[Message]] = {}
    for folder, msgs in SOURCE.items():
        for m in msgs:
            changed = change(folder, m)
            if changed is not None:
                out.setdefault(rename(folder), []).append(changed)
    with accounts.client(dst) as c:
        fill(c, out)


@pytest.fixture
def pair(accounts: Accounts) -> tuple[str, str]:
    src, dst = accounts.new("vsrc"), accounts.new("vdst")
    with accounts.client(src) as c:
        fill(c, SOURCE)
    with accounts.client(dst):
        pass  # the first login creates the target's own special folders
    return src, dst


def check(accounts: Accounts, src: str, dst: str, expected: dict[str, str | None]) -> verify.Comparison:
    with accounts.client(src) as a, accounts.client(dst) as b:
        return verify.compare(a, b, expected)


def test_a_faithful_copy_passes(accounts: Accounts, pair: tuple[str, str]) -> None:
    copy(accounts, *pair)
    result = check(accounts, *pair, RIGHT)
    assert result.identical, result.problems()
    assert result.messages == 3


def test_the_old_archiv_to_archive_mapping_fails(accounts: Accounts, pair: tuple[str, str]) -> None:
    copy(accounts, *pair, rename=lambda n: n.replace("Archiv", "Archive", 1) if n.startswith("Archiv") else n)
    result = check(accounts, *pair, RIGHT)
    assert not result.identical
    assert result.missing_folders == ["Archiv", "Archiv/2019"]
    assert result.extra_folders == ["Archive/2019"]  # "Archive" is expected (the account's own), but not with mail
    assert {(f.target, f.extra) for f in result.folders if f.extra} == {("Archive", 1)}


def test_a_target_folder_nobody_expected_fails(accounts: Accounts, pair: tuple[str, str]) -> None:
    copy(accounts, *pair)
    with accounts.client(pair[1]) as c:
        c.create_folder("Stray")
    result = check(accounts, *pair, RIGHT)
    assert not result.identical and result.extra_folders == ["Stray"]


def test_a_source_folder_without_a_stated_target_fails(accounts: Accounts, pair: tuple[str, str]) -> None:
    copy(accounts, *pair)
    partial = {k: v for k, v in RIGHT.items() if k != "Archiv/2019"}
    result = check(accounts, *pair, partial)
    assert not result.identical and result.unstated == ["Archiv/2019"]


@pytest.mark.parametrize("change", [
    lambda f, m: None if f == "INBOX" else m,  # a message missing
    lambda f, m: (m[0], (), m[2]) if f == "INBOX" else m,  # \Seen lost
    lambda f, m: (m[0], ("\\Seen", "$Other"), m[2]) if f == "INBOX" else m,  # a keyword added
    lambda f, m: (m[0] + b"x", m[1], m[2]) if f == "Archiv" else m,  # one byte more
    lambda f, m: (m[0], m[1], m[2] + timedelta(seconds=1)) if f == "Archiv" else m,  # a second later
], ids=["missing", "flag lost", "keyword added", "bytes", "date"])
def test_every_difference_in_a_message_fails(accounts: Accounts, pair: tuple[str, str],
                                              change: Callable[[str, Message], Message | None]) -> None:
    copy(accounts, *pair, change=change)
    result = check(accounts, *pair, RIGHT)
    assert not result.identical
    assert sum(f.missing + f.extra for f in result.folders) >= 1


def test_a_message_too_many_fails_and_what_was_there_before_is_accounted(accounts: Accounts,
                                                                          pair: tuple[str, str]) -> None:
    src, dst = pair
    own = (b"Subject: mine\r\n\r\nalready there\r\n", ("\\Seen",), datetime(2020, 1, 1, tzinfo=PLUS_TWO))
    with accounts.client(dst) as c:
        fill(c, {"INBOX": [own]})
        before = verify.snapshot(c)
    copy(accounts, src, dst)
    assert not check(accounts, src, dst, RIGHT).identical  # the target's own message is extra without ``before``
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, RIGHT, before)
    assert result.identical, result.problems()


def test_internaldate_text_keeps_the_zone() -> None:
    """Dovecot's maildir keeps the instant and answers in its own zone, so the zone cannot be changed on
    purpose above; a server that keeps it (and so the fingerprint) tells the same instant in two zones apart."""
    when = datetime(2019, 6, 7, 8, 9, 10, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    assert verify.internaldate_text(when) == "07-Jun-2019 08:09:10 -0330"
    assert verify.internaldate_text(when.astimezone(UTC)) == "07-Jun-2019 11:39:10 +0000"
    assert verify.instant("07-Jun-2019 08:09:10 -0330") == int(when.timestamp())
    with pytest.raises(ValueError, match="time zone"):
        verify.internaldate_text(datetime(2019, 6, 7))
