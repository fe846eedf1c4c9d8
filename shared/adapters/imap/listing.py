"""An account's folders and its personal namespace in one round trip (NAMESPACE and LIST pipelined).

Both are asked right after the login, by the source (for the plan) and by the target (before its first
folders are created); one after the other they cost two round trips to a distant server. The answers are
read from imaplib's untagged store and parsed as imapclient parses its own ``namespace()`` and
``list_folders()``.
"""

from __future__ import annotations

import imaplib
from collections.abc import Sequence

from imapclient import IMAPClient
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_response

from shared.folder_map import ListedFolder


def text(v: bytes | str) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def folders_and_prefix(client: IMAPClient, want_prefix: bool = True) -> tuple[list[ListedFolder], str | None]:
    """Every folder (``LIST "" "*"``) and, with ``want_prefix``, the personal namespace's prefix ("" if the
    server has none or does not offer NAMESPACE; None when not asked). A refused LIST raises ``IMAP4.error``."""
    imap = client._imap
    for kind in ("NAMESPACE", "LIST"):
        imap.untagged_responses.pop(kind, None)
    ask = want_prefix and client.has_capability("NAMESPACE")
    namespace = send_command(imap, b"NAMESPACE") if ask else None
    listing = send_command(imap, b'LIST "" "*"')
    prefix: str | None = "" if want_prefix else None
    if namespace is not None:
        typ, _ = command_outcome(imap, "NAMESPACE", namespace)
        answer = imap.untagged_responses.pop("NAMESPACE", [])
        prefix = personal_prefix(answer) if typ == "OK" else ""
    typ, data = command_outcome(imap, "LIST", listing)
    lines = imap.untagged_responses.pop("LIST", [])
    if typ != "OK":
        raise imaplib.IMAP4.error(f"the server refused LIST: {data!r:.200}")
    listed = [ListedFolder(name=text(name), delimiter=text(delim or ""), flags=tuple(text(f) for f in flags))
              for flags, delim, name in client._proc_folder_list(lines)]
    return listed, prefix


def personal_prefix(answer: Sequence[object]) -> str:
    """The first personal namespace's prefix in a NAMESPACE answer (``(("INBOX." ".")) NIL NIL``), "" if none;
    modified UTF-7 decoded, as imapclient's ``namespace()`` gives it."""
    try:
        parsed = parse_response([a for a in answer if a not in (b"", None)])
    except Exception:
        return ""
    personal = parsed[0] if parsed else None
    if not personal or not isinstance(personal, tuple) or not personal[0]:
        return ""
    return text(decode_utf7(personal[0][0]))


def send_command(imap: imaplib.IMAP4, command: bytes) -> bytes:
    tag: bytes = imap._new_tag()
    imap.send(tag + b" " + command + b"\r\n")
    return tag


def command_outcome(imap: imaplib.IMAP4, name: str, tag: bytes) -> tuple[str, list[object]]:
    """A pipelined command's outcome; a BAD is an answer too (the pipeline stays in step)."""
    try:
        typ, data = imap._command_complete(name, tag)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        return "BAD", [str(exc).encode()]
    return str(typ), list(data or [])
