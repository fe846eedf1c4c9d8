"""Exchange's follow-up state and categories <-> IMAP flags and keywords, both ways and reversibly.

Follow-up (PR_FLAG_STATUS): flagged is IMAP's ``\\Flagged``; complete is the keyword
``$Completed`` (IMAP has no flag for it); not flagged is neither.

Categories become keywords. A keyword is an IMAP atom (RFC 3501 §9: ASCII without space,
controls and ``( ) { % * " \\ ]``), while Outlook's own categories are called "Red Category".
So a category is written in IMAP's modified UTF-7 (RFC 3501 §5.1.3, the encoding of mailbox
names), with the characters an atom cannot hold encoded as well as the non-ASCII ones:
"Red Category" → ``Red&ACA-Category``, "Büro" → ``B&APw-ro``, "R&D" → ``R&-D``. A category
named like a keyword with a meaning (``$Completed``, :data:`PROTOCOL_KEYWORDS`) has its first letter encoded
(``&ACQ-Completed``, ``&AEo-unk`` for a category "Junk"). Any modified UTF-7
decoder reads these back; mailferry takes a keyword as encoded only when it is exactly what
encoding its decoded form gives, so a keyword another client wrote (``R&D``) stays as it is.

Replied and forwarded: ``\\Answered`` and ``$Forwarded`` are Exchange's last verb (PR_LAST_VERB_EXECUTED,
with the icon Outlook shows); Exchange keeps one verb, so replied wins over forwarded. Keywords that clients
set for their own bookkeeping (:data:`PROTOCOL_KEYWORDS`: ``$MDNSent``, junk marks…) are no user's tags and
become no category; Exchange has nothing for them, nor for ``\\Deleted``: :func:`left_out_by_exchange` names
what a copy into Exchange cannot keep, for the report.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence

COMPLETED = "$Completed"
FLAG_COMPLETE = 1  # PR_FLAG_STATUS followupComplete (MS-OXOFLAG)
FLAG_FLAGGED = 2  # PR_FLAG_STATUS followupFlagged

_ATOM_SPECIALS = frozenset('(){%*"\\]')

FORWARDED = "$Forwarded"
# PR_LAST_VERB_EXECUTED (MS-OXOMSG EXCHIVERB_*) and the PR_ICON_INDEX that goes with it.
VERB_REPLY_TO_SENDER, VERB_REPLY_TO_ALL, VERB_FORWARD = 102, 103, 104
ICON_REPLIED, ICON_FORWARDED = 261, 262
#: Keywords with a protocol meaning (RFC 5788's registry, Thunderbird's and Apple Mail's junk marks, Dovecot's
#: attachment marks), lower-cased: not categories. ``$Forwarded`` travels as the last verb.
PROTOCOL_KEYWORDS = frozenset(k.lower() for k in (
    FORWARDED, "$MDNSent", "$Junk", "$NotJunk", "Junk", "NonJunk", "NotJunk", "$SubmitPending", "$Submitted",
    "$HasAttachment", "$HasNoAttachment", "$Phishing"))
# What Exchange holds in fields of its own (read, follow-up, draft) or never takes (\Recent).
_HELD = frozenset(("\\seen", "\\flagged", "\\draft", "\\recent", COMPLETED.lower()))
_RESERVED = PROTOCOL_KEYWORDS | {COMPLETED.lower()}


def _atom_char(ch: str) -> bool:
    return 0x20 < ord(ch) < 0x7F and ch not in _ATOM_SPECIALS


def _run(chars: str) -> str:
    """One modified-base64 run: UTF-16BE, "," for "/", no padding, between "&" and "-"."""
    return "&" + base64.b64encode(chars.encode("utf-16-be")).decode("ascii").rstrip("=").replace("/", ",") + "-"


def category_to_keyword(category: str) -> str:
    """The IMAP keyword for an Exchange category ("" for an empty name)."""
    if category.lower() in _RESERVED:  # a user's category named like a keyword with a meaning: its first letter encoded
        return _run(category[0]) + category[1:]
    out: list[str] = []
    pending = ""
    for ch in category:
        if _atom_char(ch):
            if pending:
                out.append(_run(pending))
                pending = ""
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    if pending:
        out.append(_run(pending))
    return "".join(out)


def _decode(keyword: str) -> str | None:
    out: list[str] = []
    pos = 0
    while pos < len(keyword):
        amp = keyword.find("&", pos)
        if amp < 0:
            out.append(keyword[pos:])
            break
        out.append(keyword[pos:amp])
        end = keyword.find("-", amp)
        if end < 0:
            return None
        run = keyword[amp + 1:end]
        if not run:
            out.append("&")
        else:
            try:
                raw = base64.b64decode(run.replace(",", "/") + "=" * (-len(run) % 4), validate=True)
                out.append(raw.decode("utf-16-be"))
            except (binascii.Error, ValueError):
                return None
        pos = end + 1
    return "".join(out)


def keyword_to_category(keyword: str) -> str:
    """The Exchange category for an IMAP keyword: decoded when it is mailferry's own encoding."""
    if "&" not in keyword:
        return keyword
    decoded = _decode(keyword)
    return decoded if decoded and category_to_keyword(decoded) == keyword else keyword


def imap_flags(is_read: bool | None, flag: int | None, is_draft: bool | None,
               categories: Iterable[str] | None, last_verb: int | None = None) -> list[str]:
    """Exchange's read, follow-up, draft state, last verb and categories as IMAP flags and keywords."""
    flags = []
    if is_read:
        flags.append("\\Seen")
    if last_verb in (VERB_REPLY_TO_SENDER, VERB_REPLY_TO_ALL):
        flags.append("\\Answered")
    elif last_verb == VERB_FORWARD:
        flags.append(FORWARDED)
    if flag == FLAG_FLAGGED:
        flags.append("\\Flagged")
    elif flag == FLAG_COMPLETE:
        flags.append(COMPLETED)
    if is_draft:
        flags.append("\\Draft")
    for category in categories or ():
        keyword = category_to_keyword(category)
        if keyword and keyword not in flags:
            flags.append(keyword)
    return flags


def follow_up(flags: Sequence[str]) -> int | None:
    """PR_FLAG_STATUS for IMAP flags: flagged, complete, or None (not flagged)."""
    lowered = {f.lower() for f in flags}
    if "\\flagged" in lowered:
        return FLAG_FLAGGED
    return FLAG_COMPLETE if COMPLETED.lower() in lowered else None


def last_verb(flags: Sequence[str]) -> tuple[int, int] | None:
    """(PR_LAST_VERB_EXECUTED, PR_ICON_INDEX) for IMAP flags: replied, else forwarded, else None."""
    lowered = {f.lower() for f in flags}
    if "\\answered" in lowered:
        return VERB_REPLY_TO_SENDER, ICON_REPLIED
    return (VERB_FORWARD, ICON_FORWARDED) if FORWARDED.lower() in lowered else None


def categories(flags: Sequence[str]) -> list[str]:
    """The Exchange categories in IMAP flags: every keyword but the follow-up state and the protocol keywords
    (:data:`PROTOCOL_KEYWORDS`), unescaped."""
    out: list[str] = []
    for f in flags:
        if f.startswith("\\") or f.lower() == COMPLETED.lower() or f.lower() in PROTOCOL_KEYWORDS:
            continue
        name = keyword_to_category(f)
        if name not in out:
            out.append(name)
    return out


def left_out_by_exchange(flags: Sequence[str]) -> tuple[str, ...]:
    """The flags a copy into Exchange cannot keep: system flags it has no field for (``\\Deleted``), protocol
    keywords, and ``$Forwarded`` when replied is the verb kept."""
    verb = last_verb(flags)
    kept_verb = "\\answered" if verb and verb[0] == VERB_REPLY_TO_SENDER else FORWARDED.lower() if verb else ""
    out = []
    for f in flags:
        low = f.lower()
        if low in _HELD or low == kept_verb:
            continue
        if f.startswith("\\") or low in PROTOCOL_KEYWORDS:
            out.append(f)
    return tuple(out)
