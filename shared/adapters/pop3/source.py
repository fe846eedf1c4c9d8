"""A POP3 maildrop presented as a source with one folder (INBOX) and items named by UIDL.

POP3 has no folders and no flags: every message goes to the target's Inbox,
its INTERNALDATE taken from the topmost Received header (else Date). Delta
passes compare UIDLs, which servers keep stable across sessions. RFC 1939 wants a
UIDL unique in the maildrop, but a server whose UIDL is built from too little
(``pop3_uidl_format = %v`` on Dovecot, a digest of headers elsewhere) gives several
messages one UIDL: each repeat is named by the UIDL and its place among them
(:func:`numbered_refs`), so none is lost in a pass. A place is not an identity: after repeats are deleted from
the maildrop, a later pass can take a new message for a copied one (the README says so); only a content digest
(TOP of every repeat) would tell them apart, not done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from shared import folder_map
from shared.adapters.fetch_whole import WholeItemSource
from shared.adapters.pop3.maildrop import Pop3Source, pop3_item_key, received_date
from shared.events import ExtractTask, FolderRef, MailItem, MailMeta
from shared.mail_headers import header_fields

INBOX = folder_map.INBOX


def numbered_refs(uidls: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """(message number, reference) in maildrop order: the UIDL, and for its n-th repeat (n > 1) the UIDL, a
    space (no UIDL holds one) and n. The first keeps the plain UIDL, as a maildrop without repeats has it."""
    seen: dict[str, int] = {}
    out = []
    for number, uidl in uidls:
        n = seen[uidl] = seen.get(uidl, 0) + 1
        out.append((number, uidl if n == 1 else f"{uidl} {n}"))
    return out


def as_stored(served: bytes, size: int | None) -> bytes:
    """The message without the line break a server adds to one that does not end with one.

    A multi-line answer ends with CRLF "." CRLF (RFC 1939), so a message whose last line has no line break gets
    one from the server, and the bytes read cannot tell. LIST says the message's size (its CRLF form, without
    that addition: Dovecot counts so, as RFC 1939 asks): exactly two octets more than it, ending with CRLF, is
    that addition, taken off. Any other difference is left as served."""
    if size is not None and len(served) == size + 2 and served.endswith(b"\r\n"):
        return served[:-2]
    return served


class Pop3Mailbox(WholeItemSource):
    """The e-mail :class:`~shared.adapters.ports.Source` port of a POP3 maildrop."""

    def __init__(self, source: Pop3Source) -> None:
        self.source = source
        self.prefix = ""
        self.marks_special_use = False  # one folder, the INBOX

    def list_folders(self) -> list[folder_map.ListedFolder]:
        return [folder_map.ListedFolder(name=INBOX, delimiter="/", flags=())]

    def item_refs(self, name: str) -> list[str]:
        return [ref for _n, ref in numbered_refs(self.source.uidls())]

    def folder_bytes(self, folders: Sequence[FolderRef]) -> dict[str, int]:
        """The maildrop's size from LIST (one folder: every message is in it)."""
        total = sum(self.source.sizes().values())
        return {f.source_name: total for f in folders}

    @staticmethod
    def key(folder_id: str, ref: str) -> str:
        return pop3_item_key(ref)

    def whole(self, task: ExtractTask) -> Iterator[MailItem]:
        """RETR the task's messages (pipelined), looked up by UIDL in this session's numbering."""
        numbers = {ref: n for n, ref in numbered_refs(self.source.uidls())}
        wanted = {numbers[u]: u for u in task.refs if u in numbers}
        sizes = self.source.sizes() if wanted else {}
        for number, served in self.source.fetch(sorted(wanted)):
            data = as_stored(served, sizes.get(number))
            uidl = wanted[number]
            message_id, subject = header_fields(data)
            meta = MailMeta(item_key=pop3_item_key(uidl), folder=task.folder, flags=[],
                            internaldate=received_date(data) or datetime.now(UTC), size=len(data),
                            message_id=message_id, subject=subject)
            yield MailItem(migration_id=task.migration_id, meta=meta, data=data)

    def close(self) -> None:
        self.source.close()
