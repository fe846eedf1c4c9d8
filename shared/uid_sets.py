"""IMAP sequence sets of UIDs (RFC 3501 ``sequence-set``), both ways: the extractor writes them in
FETCH and reads them in ESEARCH answers, the loader reads them in APPENDUID answers."""

from __future__ import annotations

from collections.abc import Sequence


def uid_set(uids: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1:3,7"``: a short command line even for thousands of UIDs."""
    out: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(out)


def expand_uid_set(text: str) -> list[int]:
    """``"4:6,9"`` → ``[4, 5, 6, 9]``, in the order the server gave (RFC 4315)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        step = 1 if b >= a else -1
        out.extend(range(a, b + step, step))
    return out
