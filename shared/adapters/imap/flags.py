"""Which flags and keywords an IMAP target can store, and which to leave out when it refuses some. Pure code.

A message is never refused for its keywords. Before an APPEND, a flag the folder's
PERMANENTFLAGS does not list is left out (without ``\\*`` only the listed keywords can be
set, RFC 3501 §7.1), and so is a keyword at least as long as one the target already
refused as too long. When the target still refuses a message and its answer speaks of a
keyword or flag, the message goes again without the keywords at fault: the longest ones
when the answer speaks of length (Dovecot: "Keyword length too long", its default
``mail_max_keyword_length`` is 50), those the answer names, or else all of them. Every
try carries fewer keywords than the one before, and the last carries none, so the tries
are few and end. What was left out is reported with the copy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.formats.keywords import keyword_to_category

# Tries after a refusal; the last one sends no keyword at all.
KEYWORD_RETRIES = 3
_ANY_KEYWORD = "\\*"


def is_keyword(flag: str) -> bool:
    return not flag.startswith("\\")


def keyword_bytes(flag: str) -> int:
    return len(flag.encode("utf-8"))


def permanent_flags(answer: Iterable[bytes | str] | None) -> frozenset[str] | None:
    """A SELECT's PERMANENTFLAGS, lower-cased; None when the server sent none (then every flag is
    permanent, RFC 3501 §7.1)."""
    if answer is None:
        return None
    return frozenset((f.decode("utf-8", "replace") if isinstance(f, bytes) else f).lower() for f in answer)


def storable(flags: Sequence[str], permanent: frozenset[str] | None, too_long: int | None
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(flags to send, flags left out) for a folder with these PERMANENTFLAGS, on a target that refused
    a keyword of ``too_long`` bytes (None: none refused yet)."""
    kept: list[str] = []
    left: list[str] = []
    for f in flags:
        keyword = is_keyword(f)
        listed = permanent is None or f.lower() in permanent or (keyword and _ANY_KEYWORD in permanent)
        short = not keyword or too_long is None or keyword_bytes(f) < too_long
        (kept if listed and short else left).append(f)
    return tuple(kept), tuple(left)


def about_keywords(refusal: str) -> bool:
    """Whether a refused APPEND's answer speaks of keywords or flags."""
    low = refusal.lower()
    return "keyword" in low or "flag" in low


def _named(keyword: str, refusal: str) -> bool:
    return re.search(r"(?<![\w$&\\-])" + re.escape(keyword) + r"(?![\w&-])", refusal, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Fewer:
    """The next try: the flags to send, the keywords left out, and the length the target refused (if it said so)."""

    flags: tuple[str, ...]
    left: tuple[str, ...]
    refused_length: int | None = None


def fewer_keywords(flags: Sequence[str], refusal: str, last: bool) -> Fewer | None:
    """The flags for the next try after ``refusal``; None when there is no keyword to leave out."""
    keywords = [f for f in flags if is_keyword(f)]
    if not keywords:
        return None
    low = refusal.lower()
    refused_length = None
    if last:
        drop = keywords
    elif "length" in low or "long" in low:
        refused_length = max(keyword_bytes(k) for k in keywords)
        drop = [k for k in keywords if keyword_bytes(k) == refused_length]
    else:
        drop = [k for k in keywords if _named(k, refusal)] or keywords
    return Fewer(tuple(f for f in flags if f not in drop), tuple(drop), refused_length)


def not_kept_reason(left: Sequence[str]) -> str:
    """The report's words for what a copy lost: each flag, and the category a keyword stands for."""
    shown = []
    for f in left:
        category = keyword_to_category(f) if is_keyword(f) else f
        shown.append(f if category == f else f"{f} (category {category!r})")
    return "copied without the flags the target cannot store: " + ", ".join(shown)
