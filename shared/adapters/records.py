"""What the durable write path writes: the items that travel, each seen as a :class:`Record`.

A record knows its ledger identity, its item type (so its operation), its size, and how it
reads in the report; the write path needs nothing else of it. The target adapters see the
concrete records (:class:`MailRecord` for e-mail, :class:`PimRecord` for contacts ... the
auto-reply, :class:`ScriptRecord` for Sieve scripts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.events import ItemResult, MailMeta, PimItem, SieveScriptItem
from shared.events.progress import ItemType, Result


class Record(Protocol):
    """What the durable path needs of any item it writes."""

    @property
    def key(self) -> str:
        """The ledger identity (stable across runs: source folder, UIDVALIDITY and UID, or the item's own id)."""

    @property
    def item_type(self) -> ItemType: ...

    @property
    def size(self) -> int:
        """Bytes, as the ledger and the counts keep them."""

    def report(self, result: Result, reason: str = "", nbytes: int = 0) -> ItemResult:
        """The item's line in the progress and the report."""

    def refused(self, error: Exception) -> ItemResult:
        """Its line when the target refused it: the target's words, and what else helps understand why."""

    def excerpt(self) -> str:
        """The start of the item, for a dead letter (never a secret: it is the user's own data)."""


@dataclass(frozen=True, slots=True)
class MailRecord:
    """One whole message (reassembled if it came in chunks)."""

    meta: MailMeta
    data: bytes

    @property
    def key(self) -> str:
        return self.meta.item_key

    @property
    def item_type(self) -> ItemType:
        return "email"

    @property
    def size(self) -> int:
        return len(self.data)

    def report(self, result: Result, reason: str = "", nbytes: int = 0) -> ItemResult:
        return ItemResult(item_key=self.meta.item_key, result=result, bytes=nbytes, folder=self.meta.folder.display,
                          subject=self.meta.subject, reason=reason)

    def refused(self, error: Exception) -> ItemResult:
        """With its size, which often says why (a server's limit), and its Message-ID when it has no subject."""
        return ItemResult(item_key=self.meta.item_key, result="failed", folder=self.meta.folder.display,
                          subject=self.meta.subject or self.meta.message_id,
                          reason=f"{error} (size {len(self.data)} bytes)")

    def excerpt(self) -> str:
        return self.data[:500].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class PimRecord:
    """A contact, contact group, event, task, Exchange rule or the auto-reply."""

    item: PimItem

    @property
    def key(self) -> str:
        return self.item.item_key

    @property
    def item_type(self) -> ItemType:
        return self.item.item_type  # type: ignore[return-value]  # the reader's types are ItemType's

    @property
    def size(self) -> int:
        return len(self.item.payload.encode())

    def report(self, result: Result, reason: str = "", nbytes: int = 0) -> ItemResult:
        return ItemResult(item_key=self.item.item_key, item_type=self.item_type, result=result, bytes=nbytes,
                          subject=self.item.name, reason=reason)

    def refused(self, error: Exception) -> ItemResult:
        return self.report("failed", str(error)[:300])

    def excerpt(self) -> str:
        return self.item.payload[:500]


@dataclass(frozen=True, slots=True)
class ScriptRecord:
    """A Sieve script (rules and the vacation auto-reply of an IMAP account)."""

    item: SieveScriptItem

    @property
    def key(self) -> str:
        return self.item.item_key

    @property
    def item_type(self) -> ItemType:
        return "rule"

    @property
    def size(self) -> int:
        return len(self.item.script.encode())

    def report(self, result: Result, reason: str = "", nbytes: int = 0) -> ItemResult:
        return ItemResult(item_key=self.item.item_key, item_type="rule", result=result, bytes=nbytes,
                          subject=self.item.name, reason=reason)

    def refused(self, error: Exception) -> ItemResult:
        return self.report("failed", str(error)[:300])

    def excerpt(self) -> str:
        return self.item.script[:500]


#: The records of the operations read whole (everything but e-mail).
ItemRecord = PimRecord | ScriptRecord
