"""The count of sessions open at once, from a written Dovecot log excerpt (tests/session_log.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.session_log import (
    closest_handover,
    count,
    counts_over_time,
    logins_by_user,
    open_sessions,
    peak,
    sessions,
)

UID = "Debug: Effective uid=107, gid=113, home=/m/x"
# As ``DovecotServer(session_times=True)`` writes it. Out of the order they happened in: C's start (1.000500)
# is written before E's end (0.700000) and A's end (1.000000), and the login process's Login lines are read
# late by the log process. Counted in the order of the file, C would start while E, A and B are open (4);
# by the server's own stamps A and E ended before C started.
EXCERPT = f"""\
2026-12-06 10:00:00.000000 imap-login: Info: Disconnected (no auth attempts in 0 secs): user=<>, session=<ZZZZ>
2026-12-06 10:00:00.010000 imap(a@x)<101><AAAA>: {UID}
2026-12-06 10:00:00.050000 imap-login: Info: Login: user=<a@x>, method=PLAIN, rip=127.0.0.1, mpid=101, session=<AAAA>
2026-12-06 10:00:00.500000 imap(b@x)<102><BBBB>: {UID}
2026-12-06 10:00:01.000500 imap(c@x)<103><CCCC>: {UID}
2026-12-06 10:00:00.700000 imap(e@x)<100><EEEE>: Info: Disconnected: Logged out in=300 out=900 deleted=0
2026-12-06 10:00:01.000000 imap(a@x)<101><AAAA>: Info: Disconnected: Logged out in=120 out=4000 deleted=0
2026-12-06 10:00:01.200000 imap-login: Info: Login: user=<b@x>, method=PLAIN, rip=127.0.0.1, mpid=102, session=<BBBB>
2026-12-06 10:00:02.000000 pop3(g@x)<104><GGGG>: {UID}
2026-12-06 10:00:02.000000 imap(b@x)<102><BBBB>: Info: Disconnected: Logged out in=80 out=700 deleted=0
2026-12-06 10:00:02.500000 imap(d@x)<105><DDDD>: {UID}
2026-12-06 10:00:02.600000 imap(d@x)<105><DDDD>: Info: Disconnected: Logged out in=10 out=300 deleted=0
2026-12-06 10:00:02.550000 imap-login: Info: Login: user=<d@x>, method=PLAIN, rip=127.0.0.1, mpid=105, session=<DDDD>
2026-12-06 10:00:02.900000 managesieve(f@x)<106><FFFF>: {UID}
2026-12-06 10:00:03.000000 imap(c@x)<103><CCCC>: Info: Disconnected: Logged out in=200 out=100 deleted=0
2026-12-06 10:00:03.500000 pop3(g@x)<104><GGGG>: Info: Disconnected: Logged out top=0/0, retr=0/0, del=0/0, size=0
2026-12-06 10:00:04.000000 imap-login: Info: Disconnected (no auth attempts in 0 secs): user=<>, session=<YYYY>
"""


def test_sessions_are_counted_by_the_servers_own_stamps_not_by_the_order_of_the_file() -> None:
    found, span = sessions(EXCERPT)
    # In time order: E (begun before the excerpt: from its first stamp), A, B | E ends, A ends | C, G (starts
    # before B's end at the same stamp: an overlap) | B ends | D, D ends | F | C ends | G ends | F (never
    # ended: to the last stamp).
    assert counts_over_time(found, span) == [1, 2, 3, 2, 1, 2, 3, 2, 3, 2, 3, 2, 1, 0]
    top = peak(found, span)
    assert top.count == 3
    assert top.sessions == ("AAAA", "BBBB", "EEEE")
    assert top.at is not None and round(top.at % 60, 6) == 0.5
    # Back up to 3: G 1.3 s after E's end, D 0.5 s after B's, F 0.3 s after D's; up to 2: C 0.0005 s after A's.
    assert round(closest_handover(found, span, 3) or -1, 6) == 0.3
    assert round(closest_handover(found, span, 2) or -1, 6) == 0.0005
    assert closest_handover(found, span, 4) is None


def test_the_count_of_an_excerpt(tmp_path: Path) -> None:
    log = tmp_path / "dovecot.log"
    log.write_text(EXCERPT)
    got = count(log)
    assert (got.peak.count, got.sessions, got.without_start, got.without_end) == (3, 7, 1, 1)
    assert got.closest_handover is not None and round(got.closest_handover, 6) == 0.3
    assert got.peak_without_checks.count == 3  # D, the one login check, never made a peak here
    assert open_sessions(log) == 1  # F
    assert logins_by_user(log) == {"a@x": (1, 0), "b@x": (1, 0), "d@x": (0, 1)}
    # An excerpt from the middle: from C's start line on (A, B, E begun before it).
    offset = EXCERPT.index("2026-12-06 10:00:01.000500")
    middle = count(log, offset)
    assert (middle.peak.count, middle.sessions, middle.without_start) == (3, 7, 3)


def test_a_log_without_stamps_to_the_microsecond_proves_nothing() -> None:
    whole_seconds = "Dec 06 10:00:00 imap(a@x)<101><AAAA>: Info: Disconnected: Logged out in=120 out=4000\n"
    with pytest.raises(ValueError, match="microsecond"):
        sessions(whole_seconds)
    no_starts = "2026-12-06 10:00:00.000001 imap(a@x)<101><AAAA>: Info: Disconnected: Logged out in=120\n"
    with pytest.raises(ValueError, match="session_times"):
        sessions(no_starts)


# As Dovecot 2.3 writes a panicked session (an index lock deadlock between two sessions of one account): no
# Disconnected line; the master reaps its process. Another process's reaping says nothing about these sessions.
PANIC = f"""\
2026-12-06 10:00:00.000000 imap(a@x)<201><AAAA>: {UID}
2026-12-06 10:00:00.100000 imap(a@x)<202><BBBB>: {UID}
2026-12-06 10:00:00.200000 imap(a@x)<201><AAAA>: Panic: fcntl(/m/x/dovecot.list.index.log, write-lock, F_SETLKW) \
locking failed: Resource deadlock avoided (WRITE lock held by pid 202)
2026-12-06 10:00:00.250000 imap: Fatal: master: service(imap): child 201 killed with signal 6 (core dumps disabled)
2026-12-06 10:00:00.260000 imap: Fatal: master: service(imap): child 999 killed with signal 9
2026-12-06 10:00:00.300000 imap(c@x)<203><CCCC>: {UID}
2026-12-06 10:00:00.400000 imap(a@x)<202><BBBB>: Info: Disconnected: Logged out in=300 out=900 deleted=0
2026-12-06 10:00:00.900000 imap(c@x)<203><CCCC>: Info: Disconnected: Logged out in=300 out=900 deleted=0
"""


def test_a_session_whose_process_died_ends_when_the_master_reaped_it() -> None:
    found, span = sessions(PANIC)
    by_id = {s.session: s for s in found}
    assert by_id["AAAA"].end is not None and round(by_id["AAAA"].end % 60, 6) == 0.25
    assert peak(found, span).count == 2  # A was gone before C started; counted to the end it would be 3
