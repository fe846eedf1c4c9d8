"""Which options a source/target pair can take, and why not when it cannot. Pure code.

As in the reference service: from POP3 or IMAP only e-mails can be moved; an
Exchange target takes everything from an Exchange source. Types this version
cannot yet read or write are refused up front with a message that says so.
The one place these rules live: intake checks requests with them and serves
``table()`` to the web pages, so the form offers exactly what intake accepts.
"""

from __future__ import annotations

from shared.migration_state import OPERATIONS

SUPPORTED_SOURCES = {"imap", "pop3", "ews"}
SUPPORTED_TARGETS = {"imap", "ews"}
# What this version can already carry out, per (source, target); the reference allows more for EWS → EWS.
IMPLEMENTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("imap", "imap"): ("emails", "rules"),
    ("imap", "ews"): ("emails",),
    ("ews", "imap"): ("emails",),
    ("ews", "ews"): ("emails", "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"),
    ("pop3", "imap"): ("emails",),
    ("pop3", "ews"): ("emails",),
}
# What an uploaded PST can go into, and what this version can already carry out.
# A PST holds mail, contacts, groups, calendars and tasks; rules and auto-reply live on the server, not in it.
PST_ALLOWED: dict[str, tuple[str, ...]] = {"imap": ("emails",),
                                           "ews": ("emails", "contacts", "contact_groups", "calendars", "tasks")}
PST_IMPLEMENTED: dict[str, tuple[str, ...]] = PST_ALLOWED
TYPE_NAMES = {"imap": "IMAP", "pop3": "POP3", "ews": "Exchange (EWS)"}


def allowed_options(source_type: str, target_type: str) -> tuple[str, ...]:
    if source_type == "ews" and target_type == "ews":
        return OPERATIONS
    if source_type == "imap" and target_type == "imap":
        # Rules travel as Sieve scripts over ManageSieve (RFC 5804), vacation auto-reply included.
        return ("emails", "rules")
    return ("emails",)


def ordered(options: list[str]) -> list[str]:
    """The chosen operations in the fixed order they run in."""
    return [op for op in OPERATIONS if op in options]


def runnable(source_type: str, target_type: str) -> tuple[str, ...]:
    """What ``problems`` (or ``pst_problems`` for a ``pst`` source) accepts for this pair, in the fixed order."""
    if source_type == "pst":
        allowed, implemented = PST_ALLOWED.get(target_type, ()), PST_IMPLEMENTED.get(target_type, ())
    elif source_type in SUPPORTED_SOURCES and target_type in SUPPORTED_TARGETS:
        allowed = allowed_options(source_type, target_type)
        implemented = IMPLEMENTED.get((source_type, target_type), ())
    else:
        return ()
    return tuple(op for op in OPERATIONS if op in allowed and op in implemented)


def table() -> dict[str, dict[str, list[str]]]:
    """``runnable`` for every source (``pst`` included) and target: what the web form offers."""
    return {source: {target: list(runnable(source, target)) for target in sorted(SUPPORTED_TARGETS)}
            for source in [*sorted(SUPPORTED_SOURCES), "pst"]}


def _name(type_: str) -> str:
    return TYPE_NAMES.get(type_, type_)


def _none_chosen(options: list[str]) -> list[tuple[str, str]]:
    return [] if options else [("options", "choose at least one thing to migrate")]


def _unknown(options: list[str]) -> list[tuple[str, str]]:
    unknown = [o for o in options if o not in OPERATIONS]
    if not unknown:
        return []
    return [("options", f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPERATIONS)}")]


def _twice(options: list[str]) -> list[tuple[str, str]]:
    return [("options", "an option is listed twice")] if len(set(options)) != len(options) else []


def _refused_and_pending(options: list[str], allowed: tuple[str, ...],
                         implemented: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Known options the pair never takes, and those it takes that this version cannot run yet."""
    refused = [o for o in options if o in OPERATIONS and o not in allowed]
    pending = [o for o in options if o in allowed and o not in implemented]
    return refused, pending


def problems(source_type: str, target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with this choice; empty when it can run."""
    source, target = _name(source_type), _name(target_type)
    out: list[tuple[str, str]] = []
    if source_type not in SUPPORTED_SOURCES:
        out.append(("source.type", f"{source} sources are not available in this version of mailferry yet"))
    if target_type not in SUPPORTED_TARGETS:
        out.append(("target.type", f"{target} targets are not available in this version of mailferry yet"))
    out += _none_chosen(options) + _unknown(options)
    allowed = allowed_options(source_type, target_type)
    refused, pending = _refused_and_pending(options, allowed, IMPLEMENTED.get((source_type, target_type), ()))
    if refused:
        what = " and ".join(allowed).replace("emails", "e-mails").replace("rules", "rules (Sieve)")
        out.append(("options", f"from a {source} source to a {target} target only {what} can be migrated "
                               f"(not {', '.join(refused)})"))
    if pending and not refused:
        out.append(("options", f"{', '.join(pending)} from {source} to {target} is not available in this version yet"))
    return out + _twice(options)


def pst_problems(target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with the options for a PST source; empty when it can run."""
    target = _name(target_type)
    if target_type not in PST_ALLOWED:
        return [("target.type", f"a PST file cannot be imported into a {target} account")]
    out = _none_chosen(options) + _twice(options) + _unknown(options)
    refused, pending = _refused_and_pending(options, PST_ALLOWED[target_type], PST_IMPLEMENTED[target_type])
    if refused:
        out.append(("options", f"from a PST file into a {target} account only e-mails can be imported "
                               f"(not {', '.join(refused)})"))
    if pending and not refused:
        out.append(("options", f"{', '.join(pending)} from a PST file into {target} is not available in "
                               "this version yet"))
    return out
