"""The ports: what the services need of any system, whatever its protocol.

An adapter package (``shared/adapters/<system>/``) implements them; the services reach an
adapter only through :mod:`shared.adapters.registry`, never by its class. Records here are
neutral: they name no library type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.events import CreatedThing, ItemResult


@dataclass(frozen=True)
class Outgoing:
    """One message to write."""

    data: bytes
    flags: tuple[str, ...]
    internaldate: datetime
    message_id: str = ""


@dataclass(frozen=True)
class Placed:
    """Where a message landed: IMAP (folder, UIDVALIDITY, UID), or an EWS ItemId in ``ref``."""

    folder: str
    uidvalidity: int
    uid: int
    ref: str = ""

    @property
    def key(self) -> str:
        return self.ref or str(self.uid)


@dataclass
class ItemOutcome:
    """What a batch of items did on the target: a result per item, and what was created (undo records).

    Filled as the batch goes, so what reached the target before an error ends the batch is still known."""

    results: list[ItemResult] = field(default_factory=list)
    created: list[CreatedThing] = field(default_factory=list)
