"""Concurrent sessions per server, read from Dovecot's own log (not from mailferry's account of them)."""

from __future__ import annotations

import re
from pathlib import Path

LOGIN = re.compile(r"-login: Info: Login: user=<[^>]*>.*session=<([^>]+)>")
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


def open_sessions(log: Path) -> int:
    counts = sessions_over_time(log)
    return counts[-1] if counts else 0
