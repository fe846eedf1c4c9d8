"""Sessions open at once on a Dovecot, counted from the server's own log and its own times.

Read from a log written by ``DovecotServer(session_times=True)``: each mail process (imap, pop3, managesieve)
writes its own lines, stamped to the microsecond when written. Per session (its id, ``<…>`` in the mail
process's prefix, ``session=<…>`` in the login process's ``Login`` line) two of its lines count:

- its **start**, ``Debug: Effective uid=…``, written as the mail process takes the logged-in connection,
  before the client is told its login succeeded (so after the client took its lease);
- its **end**, ``Info: Disconnected…``, written once the process has closed the connection (so no earlier
  than the client could see the close and give its lease back) — or, for a process that died without it (a
  panic), the master's line reaping it (``child N killed with signal``), written after it died.

A session is counted open from its start to its end, by those stamps: never shorter than the server held it
logged in. Lines are ordered by their stamps, not by where they sit in the file (two processes may write in
either order); at equal stamps a start is counted before an end (an overlap, not a handover). A session whose
start is before the excerpt counts from the excerpt's first stamp, one with no end to its last. So the peak
may be higher than the truth, never lower. The ``Login`` lines (the login process logs them through the log
process, stamped when that reads them) only name the user.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) ")
_MAIL = re.compile(r" (imap|pop3|managesieve)\([^)]*\)<(\d+)><([^>]+)>: "
                   r"(Debug: Effective uid=|Debug: Command finished: LOGOUT|Info: Disconnected)")
#: The master reaping a mail process that died without its ``Disconnected`` line (a panic: Dovecot 2.3 aborts a
#: session on an index lock deadlock between two sessions of one account): the session's end.
_KILLED = re.compile(r" (?:imap|pop3|managesieve): Fatal: master: service\([^)]*\): child (\d+) killed with signal")
_LOGIN = re.compile(r"-login: Info: Login: user=<([^>]*)>.*session=<([^>]+)>")
_IN_BYTES = re.compile(r" in=(\d+)")
#: A session that sent fewer bytes than this after its login did nothing but LOGOUT: a login check.
CHECK_BYTES = 20


@dataclass
class Session:
    """One logged-in session; times in seconds (the server's clock), None where the excerpt has no line."""

    session: str
    protocol: str = ""
    user: str = ""
    start: float | None = None
    end: float | None = None
    logout: float | None = None  # when its IMAP LOGOUT was answered (before the close; None: no such line)
    bytes_in: int | None = None

    @property
    def login_check(self) -> bool:
        """Sent nothing after its login but LOGOUT (intake's login checks)."""
        return self.bytes_in is not None and self.bytes_in < CHECK_BYTES


@dataclass(frozen=True)
class Peak:
    count: int
    at: float | None  # when the count was first reached (the server's clock)
    sessions: tuple[str, ...]  # the ones open then


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def read_excerpt(log: Path, offset: int = 0, end: int | None = None) -> str:
    with log.open("rb") as fh:
        fh.seek(offset)
        return fh.read(-1 if end is None else end - offset).decode("utf-8", "replace")


def sessions(text: str) -> tuple[list[Session], tuple[float, float] | None]:
    """The sessions an excerpt shows, and its first and last stamps (None when it has none).

    Raises ValueError when a session's line has no stamp to the microsecond, or the excerpt has session ends
    but no starts: it was not written with ``session_times`` (whole-second stamps from one log process prove
    nothing about order)."""
    found: dict[str, Session] = {}
    by_pid: dict[str, Session] = {}  # the session each mail process runs (the last one it started)
    first = last = None
    ends = starts = 0
    for line in text.splitlines():
        stamp = _STAMP.match(line)
        if stamp is None:
            if _MAIL.search(line):
                raise ValueError(f"a session line without a stamp to the microsecond: {line[:120]!r}")
            continue
        t = _stamp(stamp.group(1))
        first = t if first is None else min(first, t)
        last = t if last is None else max(last, t)
        if m := _MAIL.search(line):
            s = found.setdefault(m.group(3), Session(m.group(3)))
            s.protocol = m.group(1)
            if m.group(4).startswith("Debug: Command"):
                s.logout = t
            elif m.group(4).startswith("Debug"):
                starts += 1
                s.start = t
                by_pid[m.group(2)] = s
            else:
                ends += 1
                s.end = t
                if b := _IN_BYTES.search(line):
                    s.bytes_in = int(b.group(1))
        elif m := _LOGIN.search(line):
            found.setdefault(m.group(2), Session(m.group(2))).user = m.group(1)
        elif (m := _KILLED.search(line)) and (died := by_pid.get(m.group(1))) is not None and died.end is None:
            died.end = t
    if ends and not starts:
        raise ValueError("the log shows sessions ending but none starting: it was not written with "
                         "DovecotServer(session_times=True), and cannot tell sessions open at once")
    span = None if first is None or last is None else (first, last)
    return [s for s in found.values() if s.start is not None or s.end is not None], span


def _open_after_each(found: Iterable[Session], span: tuple[float, float],
                     at_logout: bool = False) -> Iterator[tuple[float, set[str]]]:
    """(time, the sessions open right after it) for each start and end, in the order they happened; at equal
    times starts come first. ``at_logout``: a session that logged out ends when its LOGOUT was answered."""
    events = []
    for s in found:
        end = s.logout if at_logout and s.logout is not None else s.end
        events.append((span[0] if s.start is None else s.start, 0, s.session))
        events.append((span[1] if end is None else end, 1, s.session))
    open_now: set[str] = set()
    for t, kind, session in sorted(events):
        if kind == 0:
            open_now.add(session)
        else:
            open_now.discard(session)
        yield t, open_now


def counts_over_time(found: Iterable[Session], span: tuple[float, float] | None) -> list[int]:
    """Sessions open after each start and end, in the order they happened."""
    return [] if span is None else [len(now) for _t, now in _open_after_each(found, span)]


def peak(found: Iterable[Session], span: tuple[float, float] | None, at_logout: bool = False) -> Peak:
    """The most sessions open at once, when first, and which. ``at_logout``: the fewest the log allows (a
    session that logged out counted only until its LOGOUT was answered, before it was closed)."""
    best = Peak(0, None, ())
    if span is None:
        return best
    for t, now in _open_after_each(found, span, at_logout):
        if len(now) > best.count:
            best = Peak(len(now), t, tuple(sorted(now)))
    return best


def closest_handover(found: Iterable[Session], span: tuple[float, float] | None, level: int) -> float | None:
    """The shortest time, in seconds, from a session's end that took the count below ``level`` to the start
    that brought it back up to it: how near the log came to showing one more. None when it never did."""
    if span is None:
        return None
    closest = last_end = None
    before = 0
    for t, now in _open_after_each(found, span):
        if len(now) < before == level:
            last_end = t
        elif before < len(now) == level and last_end is not None:
            closest = t - last_end if closest is None else min(closest, t - last_end)
        before = len(now)
    return closest


@dataclass(frozen=True)
class Count:
    """What :func:`count` found in one excerpt of the log."""

    peak: Peak  # never below what the server held
    peak_at_logout: Peak  # the fewest the log allows: IMAP sessions ended at their LOGOUT's answer
    peak_without_checks: Peak  # intake's login checks left out
    sessions: int
    without_start: int  # begun before the excerpt (counted from its start)
    without_end: int  # still open at its end (counted to its end)
    closest_handover: float | None  # at the peak's count: see :func:`closest_handover`


def count(log: Path, offset: int = 0, end: int | None = None) -> Count:
    found, span = sessions(read_excerpt(log, offset, end))
    top = peak(found, span)
    return Count(peak=top, peak_at_logout=peak(found, span, at_logout=True), peak_without_checks=peak([s for s in found if not s.login_check], span),
                 sessions=len(found), without_start=sum(s.start is None for s in found),
                 without_end=sum(s.end is None for s in found),
                 closest_handover=closest_handover(found, span, top.count))


def open_sessions(log: Path) -> int:
    """Sessions started and not ended in the whole log."""
    found, _span = sessions(read_excerpt(log))
    return sum(s.start is not None and s.end is None for s in found)


def logins_by_user(log: Path, offset: int = 0, end: int | None = None) -> dict[str, tuple[int, int]]:
    """Per user: (sessions that did work, login checks: sessions that sent nothing but LOGOUT), from the log."""
    found, _span = sessions(read_excerpt(log, offset, end))
    out: dict[str, tuple[int, int]] = {}
    for s in found:
        if not s.user:
            continue
        work, checks = out.get(s.user, (0, 0))
        out[s.user] = (work, checks + 1) if s.login_check else (work + 1, checks)
    return out


def wait_quiet(log: Path, timeout: float = 30.0) -> bool:
    """Wait until every session the log shows started has ended (its end line is written after the close, so
    a moment after the client is done); False if some are still open after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while open_sessions(log):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
