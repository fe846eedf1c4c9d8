"""What mail and contact folders share: a required, sane display name unique among siblings (409 otherwise),
and deletion of a folder with everything below it."""

from __future__ import annotations

from typing import Any

from .errors import GraphError, bad_request
from .store import Entry, Mailbox


def display_name(body: dict[str, Any], required: bool = True, key: str = "displayName") -> str | None:
    name = body.get(key)
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name.strip():
        raise bad_request(f"The folder's {key} is required and cannot be empty.", "ErrorInvalidRequest")
    if len(name.encode("utf-16-le")) // 2 > 255 or any(ord(c) < 0x20 for c in name):
        raise bad_request(f"The folder's {key} is not valid.", "ErrorInvalidRequest")
    return name


def ensure_free(siblings: list[Entry], name: str, exclude: str | None = None, key: str = "displayName") -> None:
    """Exchange folder names are unique among siblings, case-insensitively."""
    for sibling in siblings:
        if sibling.id != exclude and str(sibling.props.get(key, "")).lower() == name.lower():
            raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")


def subtree(mailbox: Mailbox, root: Entry) -> list[Entry]:
    out, todo = [], [root]
    while todo:
        cur = todo.pop()
        out.append(cur)
        todo.extend(e for e in mailbox.entries.values() if e.parent == cur.id)
    return out


def delete(mailbox: Mailbox, root: Entry) -> None:
    if root.well_known:
        raise bad_request("Distinguished folders cannot be deleted.", "ErrorDeleteDistinguishedFolder")
    for e in subtree(mailbox, root):
        mailbox.remove(e)
