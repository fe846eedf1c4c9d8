"""IMAP source adapter: folders, UIDs and messages, fetched in batches.

Each method is a few lines of I/O around imapclient; what to do with the answers
lives in :mod:`services.extractor.plan` and :mod:`services.extractor.task_run`.
Bodies are fetched with ``BODY.PEEK[]`` so reading never sets ``\\Seen``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient

from shared import folder_map


@dataclass(frozen=True)
class MessageMeta:
    uid: int
    size: int
    flags: tuple[str, ...]
    internaldate: datetime


def _text(v: bytes | str) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


class ImapSource:
    """Reads one account. Not thread-safe: one per worker thread."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        client.normalise_times = False  # keep INTERNALDATE's own time zone
        self.prefix = self._personal_prefix()

    def _personal_prefix(self) -> str:
        try:
            ns = self.client.namespace()
        except Exception:
            return ""
        if ns.personal:
            return _text(ns.personal[0][0])
        return ""

    def list_folders(self) -> list[folder_map.ListedFolder]:
        out = []
        for flags, delim, name in self.client.list_folders():
            out.append(folder_map.ListedFolder(
                name=_text(name), delimiter=_text(delim or ""), flags=tuple(_text(f) for f in flags)))
        return out

    def select(self, name: str) -> tuple[int, list[int]]:
        """Open read-only; returns UIDVALIDITY and every UID in ascending order."""
        info = self.client.select_folder(name, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        exists = int(info.get(b"EXISTS", 0))
        uids = sorted(int(u) for u in self.client.search("ALL")) if exists else []
        return uidvalidity, uids

    def fetch_meta(self, uids: Sequence[int]) -> dict[int, MessageMeta]:
        out: dict[int, MessageMeta] = {}
        if not uids:
            return out
        for uid, data in self.client.fetch(list(uids), ["RFC822.SIZE", "FLAGS", "INTERNALDATE"]).items():
            out[int(uid)] = MessageMeta(
                uid=int(uid),
                size=int(data[b"RFC822.SIZE"]),
                flags=tuple(_text(f) for f in data[b"FLAGS"]),
                internaldate=data[b"INTERNALDATE"],
            )
        return out

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        return {int(uid): bytes(d[b"BODY[]"]) for uid, d in self.client.fetch(list(uids), ["BODY.PEEK[]"]).items()
                if b"BODY[]" in d}

    def fetch_ranges(self, uid: int, size: int, piece: int) -> Iterator[bytes]:
        """A large message in pieces (``BODY.PEEK[]<offset.length>``): never whole in memory."""
        offset = 0
        while offset < size:
            key = f"BODY[]<{offset}>".encode()
            data = self.client.fetch([uid], [f"BODY.PEEK[]<{offset}.{piece}>"]).get(uid, {})
            chunk = bytes(data.get(key) or b"")
            if not chunk:
                break
            yield chunk
            offset += len(chunk)

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:
            self.client.shutdown()
