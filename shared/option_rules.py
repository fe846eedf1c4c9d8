"""Which options a source/target pair can take, and why not when it cannot. Pure code.

As in the reference service: from POP3 or IMAP only e-mails can be moved; an
Exchange target takes everything from an Exchange source. Types this version
cannot yet read or write are refused up front with a message that says so.
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


def problems(source_type: str, target_type: str, options: list[str]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with this choice; empty when it can run."""
    out: list[tuple[str, str]] = []
    if source_type not in SUPPORTED_SOURCES:
        out.append(("source.type", f"{TYPE_NAMES.get(source_type, source_type)} sources are not available in "
                                   "this version of mailferry yet"))
    if target_type not in SUPPORTED_TARGETS:
        out.append(("target.type", f"{TYPE_NAMES.get(target_type, target_type)} targets are not available in "
                                   "this version of mailferry yet"))
    if not options:
        out.append(("options", "choose at least one thing to migrate"))
    unknown = [o for o in options if o not in OPERATIONS]
    if unknown:
        out.append(("options", f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPERATIONS)}"))
    allowed = allowed_options(source_type, target_type)
    refused = [o for o in options if o in OPERATIONS and o not in allowed]
    if refused:
        what = " and ".join(allowed).replace("emails", "e-mails").replace("rules", "rules (Sieve)")
        out.append(("options", f"from a {TYPE_NAMES.get(source_type, source_type)} source to a "
                               f"{TYPE_NAMES.get(target_type, target_type)} target only {what} can be migrated "
                               f"(not {', '.join(refused)})"))
    pending = [o for o in options if o in allowed and o not in IMPLEMENTED.get((source_type, target_type), ())]
    if pending and not refused:
        out.append(("options", f"{', '.join(pending)} from {TYPE_NAMES.get(source_type, source_type)} to "
                               f"{TYPE_NAMES.get(target_type, target_type)} is not available in this version yet"))
    if len(set(options)) != len(options):
        out.append(("options", "an option is listed twice"))
    return out
