"""Opaque identifiers shaped like Exchange Online's: long URL-safe base64, never a guessable sequence."""

from __future__ import annotations

import base64
import secrets
import uuid

# Exchange REST ids start with a fixed store/kind prefix; the rest is opaque. An immutable id has another prefix.
_PREFIX = {"item": "AAMkA", "folder": "AAMkA", "immutable": "AAkALg"}


def new_id(mailbox_key: bytes, kind: str = "item") -> str:
    """A fresh id: the mailbox key (so ids of two mailboxes differ) plus random bytes, padded like Exchange's."""
    raw = mailbox_key[:16].ljust(16, b"\0") + secrets.token_bytes(85)  # 101 bytes: ends with one '='
    return _PREFIX[kind] + base64.urlsafe_b64encode(raw).decode()


def new_change_key() -> str:
    return "CQAAABYAAA" + base64.urlsafe_b64encode(secrets.token_bytes(21)).decode()


def new_guid() -> str:
    return str(uuid.uuid4())


def opaque_token(nbytes: int = 48) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")
