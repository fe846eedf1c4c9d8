"""Concurrent sessions per server, read from Dovecot's own log (not from mailferry's account of them)."""

from __future__ import annotations

import re
from pathlib import Path

LOGIN = re.compile(r"-login: Info: Login: user=<[^>]*>.*session=<([^>]+)>")
END = re.compile(r"^\S+ \S+ \S+ (?:imap|pop3|managesieve)\([^)]*\)<\d+><([^>]+)>: Info: Disconnected")


def sessions_over_time(log: Path, offset: int = 0, end: int | None = None) -> list[int]:
    """The number of logged-in sessions after each login and logout the log records between two offsets."""
    with log.open("rb") as fh:
        fh.seek(offset)
        text = fh.read(-1 if end is None else end - offset).decode("utf-8", "replace")
    open_now: set[str] = set()
    counts: list[int] = []
    for line in text.splitlines():
        if m := LOGIN.search(line):
            open_now.add(m.group(1))
        elif m := END.search(line):
            open_now.discard(m.group(1))
        else:
            continue
        counts.append(len(open_now))
    return counts


def open_sessions(log: Path) -> int:
    counts = sessions_over_time(log)
    return counts[-1] if counts else 0
