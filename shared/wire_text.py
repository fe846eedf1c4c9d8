"""What text from a request may go into a mail protocol's command line, and how it is written there.

Logins, passwords, host names and addresses typed by a user (and Sieve script names read from a
source server) end up inside IMAP, POP3, ManageSieve and SMTP commands. A line break there ends the
command and starts one the sender wrote: ``LOGIN x`` CRLF ``Z1 LOGIN victim secret`` CRLF ``Z2 CREATE
Injected`` runs two commands of the attacker's on a server mailferry connected to. So every such value
is checked here before a byte is sent, by one rule shared with the API's request models (which refuse
the same characters with a 422 naming the field):

* control characters (Unicode category Cc: C0 including TAB, CR, LF and NUL, DEL, and C1) and the
  Unicode line and paragraph separators are refused everywhere: no mail server takes them in a login,
  a password, a host name or an address, and some read them as the end of a line;
* IMAP strings are sent quoted (RFC 3501 ``quoted``, with ``\\`` and ``"`` escaped) when they are
  printable ASCII; anything else goes base64-encoded in AUTHENTICATE PLAIN (see shared/adapters/imap/connection.py).
"""

from __future__ import annotations

import re

from shared.errors import ConnectionCheckFailed

#: The characters refused, as a regular-expression class body (JSON Schema / ECMA 262 and Python alike).
CONTROL_CLASS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL = re.compile(f"[{CONTROL_CLASS}]")

#: Text without control characters (possibly empty): the OpenAPI ``pattern`` of every credential field.
NO_CONTROLS_PATTERN = f"^[^{CONTROL_CLASS}]*$"
#: The same with at least one character that is not white space (logins: they are stripped).
NOT_BLANK_PATTERN = f"^[^{CONTROL_CLASS}]*[^\\s{CONTROL_CLASS}][^{CONTROL_CLASS}]*$"
#: Characters that change how the text around them is shown without being seen: zero-width characters, bidi
#: marks, embeddings, overrides and isolates, the soft hyphen, the BOM (Unicode format characters). No login,
#: server name or address holds one; in one they make it pass for another on a page, in a CSV or a log line
#: (``U+202E`` shows ``moc.elpmaxe@nna`` as ``ann@example.com``). Refused in names, not in passwords.
INVISIBLE_CLASS = r"\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]")
#: A name (a login): not blank, no control and no invisible character.
NAME_PATTERN = (f"^[^{CONTROL_CLASS}{INVISIBLE_CLASS}]*[^\\s{CONTROL_CLASS}{INVISIBLE_CLASS}]"
                f"[^{CONTROL_CLASS}{INVISIBLE_CLASS}]*$")
#: One mail address: one ``@``, nothing that would split it into several (``,`` ``;`` ``<`` ``>``, spaces)
#: and no control or invisible character. Used for the notification's recipient, in the API and on the SMTP wire.
_ADDRESS_CHARS = f"[^@\\s,;<>()\\[\\]\\\\\"{CONTROL_CLASS}{INVISIBLE_CLASS}]"
ADDRESS_PATTERN = f"^{_ADDRESS_CHARS}+@{_ADDRESS_CHARS}+$"
_ADDRESS = re.compile(ADDRESS_PATTERN)

#: What IMAP's quoted string carries as it is (RFC 3501: 7-bit text; ``\\`` and ``"`` escaped).
_IMAP_QUOTABLE = re.compile(r"^[\x20-\x7e]*$")


class UnsafeText(ConnectionCheckFailed):
    """A value cannot be sent to a server safely; refused before anything was sent.

    ``field`` names what was refused (``login``, ``password``, ``host``...); the message never
    repeats the value, which may be a secret or an attempt to forge a log line.
    """

    code = "invalid_request"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def has_control(value: str) -> bool:
    """Whether ``value`` holds a character of the refused class."""
    return _CONTROL.search(value) is not None


def has_invisible(value: str) -> bool:
    """Whether ``value`` holds an invisible or text-direction character (:data:`INVISIBLE_CLASS`)."""
    return _INVISIBLE.search(value) is not None


def refuse_controls(field: str, value: str, server: str) -> str:
    """``value`` unchanged, or UnsafeText when it holds a line break or another control character.

    ``server`` completes the message: "an IMAP server", "a POP3 server"...
    """
    if has_control(value):
        raise UnsafeText(f"the {field} contains a line break or another control character, which cannot be "
                         f"sent to {server}", field)
    return value


def imap_quotable(value: str) -> bool:
    """Whether ``value`` can be an IMAP quoted string (printable ASCII)."""
    return _IMAP_QUOTABLE.match(value) is not None


def imap_quoted(value: str) -> str:
    """``value`` as an IMAP quoted string; UnsafeText for what a quoted string cannot carry."""
    if not imap_quotable(value):
        raise UnsafeText("only printable ASCII can be sent as an IMAP quoted string", "login")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_single_address(value: str) -> bool:
    """Whether ``value`` is one mail address that no mail header or SMTP command would split or extend."""
    return _ADDRESS.match(value) is not None
