"""Concurrent sessions per server, read from Dovecot's own log (not from mailferry's account of them)."""

from __future__ import annotations

import re
from pathlib import Path

LOGIN = re.compile(r"-login: Info: Login: user=<[^>]*>.*session=<([^>]+)>")
LOGIN_USER = re.compile(r"-login: Info: Login: user=<([^>]*)>.*session=<([^>]+)>")
END = re.compile(r"^\S+ \S+ \S+ (?:imap|pop3|managesieve)\([^)]*\)<\d+><([^>]+)>: Info: Disconnected")
IN_BYTES = re.compile(r" in=(\d+) ")


def sessions_over_time(log: Path, offset: int = 0, end: int | None = None, *,
                       without_login_checks: bool = False) -> list[int]:
    """The number of logged-in sessions after each login and logout the log records between two offsets.

    ``without_login_checks``: leave out sessions that sent nothing but LOGOUT after logging in (fewer than
    20 bytes: intake's login checks, which are not under the session caps)."""
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read(-1 if end is None else end - offset).decode("utf-8", "replace")
    checks: set[str] = set()
    if without_login_checks:
        for line in text.splitlines():
            if (m := END.search(line)) and (b := IN_BYTES.search(line)) and int(b.group(1)) < 20:
                checks.add(m.group(1))
    open_now: set[str] = set()
    ended_first: set[str] = set()  # two Dovecot processes write the log: a session's end may come first
    counts: list[int] = []
    for line in text.splitlines():
        if m := LOGIN.search(line):
            if m.group(1) in checks or m.group(1) in ended_first:
                continue
            open_now.add(m.group(1))
        elif m := END.search(line):
            if m.group(1) in open_now:
                open_now.discard(m.group(1))
            else:
                ended_first.add(m.group(1))
        else:
            continue
        counts.append(len(open_now))
    return counts


def logins_by_user(log: Path, offset: int = 0, end: int | None = None) -> dict[str, tuple[int, int]]:
    """Per user: (sessions that did work, login checks: sessions that sent nothing but LOGOUT), from the log."""
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read(-1 if end is None else end - offset).decode("utf-8", "replace")
    user_of: dict[str, str] = {}
    small: set[str] = set()
    for line in text.splitlines():
        if m := LOGIN_USER.search(line):
            user_of[m.group(2)] = m.group(1)
        elif (m := END.search(line)) and (b := IN_BYTES.search(line)) and int(b.group(1)) < 20:
            small.add(m.group(1))
    out: dict[str, tuple[int, int]] = {}
    for session, user in user_of.items():
        work, checks = out.get(user, (0, 0))
        out[user] = (work, checks + 1) if session in small else (work + 1, checks)
    return out


def open_sessions(log: Path) -> int:
    counts = sessions_over_time(log)
    return counts[-1] if counts else 0
