"""The ports: what the services need of any system, whatever its protocol.

An adapter package (``shared/adapters/<system>/``) implements them; the services reach an
adapter only through :mod:`shared.adapters.registry`, never by its class. Records here are
neutral: they name no library type. Every port raises only the kinds of :mod:`shared.errors`
(an adapter translates its library's exceptions at its boundary):

- ``Transient``/``Throttled``: the connection dropped, the server is busy — the batch is retried;
- ``ConnectionCheckFailed`` and its kinds (``AuthenticationFailed``, ``ServerUnreachable``,
  ``TlsError``, ``AddressNotAllowed``...): the account cannot be reached as given — the migration fails;
- ``ItemRejected``: the server refused one item — it is reported, the others go on;
- ``ServerRefused``: the server refused a command the adapter cannot do without (a folder it will
  not open) — not retried as if it were passing; the batch is given up after a few attempts.

Sessions are not thread-safe: one per thread (the services keep them in a
:class:`shared.session_pool.SessionPool`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shared.adapters.net import ConnectOptions
from shared.errors import ItemRejected
from shared.events import (
    CreatedThing,
    ExtractTask,
    FolderRef,
    ItemResult,
    ItemResults,
    MailChunk,
    MailItem,
    PimItem,
    SieveScriptItem,
)
from shared.folder_map import ListedFolder

#: The account's password (or token), read only when a connection needs it: an uploaded file never
#: asks, and an account's second protocol (ManageSieve beside IMAP) asks again.
Secret = Callable[[], str]


@dataclass(frozen=True)
class AdapterEnv:
    """Per-process settings an adapter may use; built once by the service from its Settings."""

    connect: ConnectOptions
    spool: Path | None = None  # where uploaded files are (the PST source)
    max_connections: int = 4  # connections one process may hold to one HTTP server (EWS's pool)


# -- source side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchLimits:
    """How much a fetch may hold: messages above ``inline_limit`` travel as chunks; small ones are
    fetched up to ``fetch_batch_bytes`` per round trip."""

    inline_limit: int
    fetch_batch_bytes: int

    @property
    def pieces_per_fetch(self) -> int:
        """A large message is read a fetch batch's worth at a time (few round trips), sent piece by piece."""
        return max(1, min(8, self.fetch_batch_bytes // max(1, self.inline_limit)))


@dataclass(frozen=True)
class ItemListing:
    """One folder's messages for planning, oldest first. A source with UIDs fills ``uids`` (ascending)
    and ``uidvalidity``; one without fills ``refs`` (its own item names). ``keys`` are the ledger
    identities of ``uids`` or ``refs``, in the same order; ``large`` the UIDs above the size asked for."""

    uidvalidity: int
    uids: Sequence[int]
    refs: Sequence[str]
    keys: Sequence[str]
    large: frozenset[int] = frozenset()


#: What a fetch yields: messages (whole or in chunks) for ``items``, and results for ``progress``.
Fetched = MailItem | MailChunk | ItemResults


class Source(Protocol):
    """A logged-in session on a source account, for the e-mail operation."""

    @property
    def prefix(self) -> str:
        """The personal-namespace prefix ("" if none), for the folder mapping."""

    @property
    def marks_special_use(self) -> bool:
        """The source flags its special folders itself (SPECIAL-USE): names are not read as hints."""

    def list_folders(self) -> list[ListedFolder]:
        """Every folder, as LIST lines (one folder mapping serves every source)."""

    def list_items(self, folders: Sequence[FolderRef], larger_than: int) -> dict[str, ItemListing]:
        """The listing of every folder, keyed by ``FolderRef.source_name``, all in one call (IMAP
        pipelines it into one round trip); ``larger_than`` > 0 asks for the UIDs of larger messages."""

    def fetch(self, task: ExtractTask, limits: FetchLimits) -> Iterator[Fetched]:
        """The task's messages in task order, chunked above the inline limit. An item gone meanwhile is a
        ``skipped`` result, one that cannot be read a ``failed`` one; it never raises for one item."""

    def close(self) -> None: ...


#: An item read whole at plan time: a contact, group, event, task, rule, auto-reply, or Sieve script.
ItemRecord = PimItem | SieveScriptItem


class ItemReader(Protocol):
    """Reads every item of one operation at plan time (they are few and small)."""

    def read(self, operation: str, mid: str) -> Iterator[ItemRecord]: ...

    def close(self) -> None: ...


# -- target side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One message to write."""

    data: bytes
    flags: tuple[str, ...]
    internaldate: datetime
    message_id: str = ""


@dataclass(frozen=True)
class Placed:
    """Where a message landed: IMAP (folder, UIDVALIDITY, UID), or an EWS ItemId in ``ref``;
    ``not_kept``: its flags and keywords the target could not store."""

    folder: str
    uidvalidity: int
    uid: int
    ref: str = ""
    not_kept: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.ref or str(self.uid)


class MailTarget(Protocol):
    """A logged-in session on a target account, writing messages and folders."""

    @property
    def parallel_sessions(self) -> bool:
        """More sessions writing side by side would be faster (IMAP without LITERAL+, which cannot
        pipeline APPENDs on one session); the loader then deals the batch over several."""

    def folder_name(self, path: Sequence[str]) -> str:
        """The target's key for a neutral folder path."""

    def folder_ref(self, name: str) -> str:
        """The id to record for a created folder ("" when the name is enough)."""

    def ensure_folders(self, names: Sequence[str]) -> list[str]:
        """Create the folders and their missing parents (one round trip where the protocol allows);
        the ones actually created, parents first."""

    def append_pipelined(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """Write each job's messages into its folder, as many in flight as the protocol allows; per
        message where it landed or why it was refused, in job order."""

    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """The copy of ``msg`` already on the target (after a lost answer), never one in ``exclude``
        (``Placed.key``s other items claimed)."""

    def close(self) -> None: ...


class RuleSnapshots(Protocol):
    """Notes kept in the ledger store before a batch of rules is written: the target's rule ids then, so
    a retry tells a rule it created from one the user had (rules carry no marker)."""

    def keep_rules_before(self, item_keys: Collection[str], rule_ids: Sequence[str]) -> None: ...

    def rules_before(self, item_key: str) -> set[str] | None: ...


@dataclass(frozen=True)
class WriteContext:
    """What an item target needs to know of the batch besides its items."""

    migration_id: str
    pair_id: str  # scopes the markers on created items (two PST files can share node ids)
    inflight: frozenset[str]  # keys that may already be on the target (written before a crash)
    write_ahead: Callable[[CreatedThing], None]  # durable (undo topic + undo index) when it returns
    snapshots: RuleSnapshots


@dataclass
class ItemOutcome:
    """What a batch of items did on the target: a result per item, and what was created (undo records).

    Filled as the batch goes, so what reached the target before an error ends the batch is still known."""

    results: list[ItemResult] = field(default_factory=list)
    created: list[CreatedThing] = field(default_factory=list)


class ItemTarget(Protocol):
    """A logged-in session writing items read whole (contacts ... rules, auto-reply, Sieve scripts)."""

    def write(self, items: Sequence[ItemRecord], ctx: WriteContext, out: ItemOutcome) -> None:
        """Write each item once: an item in ``ctx.inflight`` is looked for first. A setting's previous
        value goes through ``ctx.write_ahead`` before it is changed. Every item gets a result in ``out``,
        or the call raises (``Transient``: the batch is retried) with ``out`` holding what was created."""

    def close(self) -> None: ...


# -- undo ------------------------------------------------------------------------------------


class Undo(Protocol):
    """Removes exactly what a migration recorded, and puts changed settings back. Idempotent: what is
    already gone counts as removed. Each method says why something was kept instead of raising."""

    @property
    def delimiter(self) -> str:
        """The hierarchy separator of the target's folder keys (folders are removed deepest first)."""

    def remove_messages(self, folder: str, uidvalidity: int, uids: Sequence[int], batch: int = 500
                        ) -> tuple[int, str]:
        """Messages recorded by UID: (removed, why some were kept)."""

    def remove_items(self, refs: Sequence[str]) -> tuple[int, str]:
        """Messages and items recorded by the target's own id: (removed, why some were kept)."""

    def remove_folder(self, name: str, ref: str) -> str:
        """A folder the migration created, only if empty: why it was kept, or "" when it is gone."""

    def remove_rules(self, refs: Sequence[str]) -> tuple[int, list[str]]:
        """Server-side rules the migration created: (removed, why others were kept)."""

    def restore_setting(self, name: str, previous: str | None) -> str:
        """A setting back to its recorded previous value: why it could not be, or ""."""

    def close(self) -> None: ...


class ScriptUndo(Protocol):
    """Puts back the scripts a migration wrote (Sieve): the oldest recorded previous content wins."""

    def restore_scripts(self, scripts: Sequence[CreatedThing]) -> int: ...

    def close(self) -> None: ...


__all__ = [
    "AdapterEnv",
    "FetchLimits",
    "Fetched",
    "ItemListing",
    "ItemOutcome",
    "ItemReader",
    "ItemRecord",
    "ItemTarget",
    "MailTarget",
    "Outgoing",
    "Placed",
    "RuleSnapshots",
    "ScriptUndo",
    "Secret",
    "Source",
    "Undo",
    "WriteContext",
]

