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

import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar, runtime_checkable

from shared.adapters.dns_lookup import DnsLookup
from shared.adapters.guarded_http import HttpFetch
from shared.adapters.net import ConnectOptions
from shared.adapters.records import ItemRecord, MailRecord, PimRecord, Record, ScriptRecord
from shared.adapters.server_suggestions import Suggestion
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
from shared.host_leases import SessionGate
from shared.ledger import LedgerEntry

R_contra = TypeVar("R_contra", contravariant=True)

#: The account's password (or token), read only when a connection needs it: an uploaded file never
#: asks, and an account's second protocol (ManageSieve beside IMAP) asks again.
Secret = Callable[[], str]
Announce = Callable[[list[str]], None]  # folders about to be created (see MailTarget.ensure_folders)


@dataclass(frozen=True)
class AdapterEnv:
    """Per-process settings an adapter may use; built once by the service from its Settings."""

    connect: ConnectOptions
    spool: Path | None = None  # where uploaded files are (the PST source)
    max_connections: int = 4  # connections one process may hold to one HTTP server (EWS's pool)
    #: Sessions an e-mail target may write through side by side at most (how many a batch uses is the
    #: loader's choice, :class:`WriteLanes`), and the threads they run on (None: one session).
    write_sessions: int = 1
    write_pool: Executor | None = None
    #: Holds the operator's session caps for sessions an adapter opens on its own (a target's further
    #: lanes); None: no caps (unit tests, intake's login checks).
    gate: SessionGate | None = None


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


@runtime_checkable
class GroupedSource(Protocol):
    """A source that reads several small tasks of one migration in one pass on one session (IMAP pipelines
    every folder's commands, so a small mailbox's ten folders cost two or three round trips, not twenty)."""

    def fetch_group(self, tasks: Sequence[ExtractTask], limits: FetchLimits) -> Iterator[tuple[ExtractTask, Fetched]]:
        """Every task's events as :meth:`Source.fetch` gives them, each paired with its task."""


@runtime_checkable
class MeasuredSource(Protocol):
    """A source that can say how many bytes its folders hold without reading them (the pre-flight's
    estimate); a source without it is measured in messages only."""

    def folder_bytes(self, folders: Sequence[FolderRef]) -> dict[str, int]:
        """The total size of each folder's messages, keyed by ``FolderRef.source_name``."""


#: An item read whole at plan time: a contact, group, event, task, rule, auto-reply, or Sieve script; or the
#: failed result of one the reader found but could not read (a damaged item of a PST file), to be reported.
WholeItem = PimItem | SieveScriptItem | ItemResult


class ItemReader(Protocol):
    """Reads every item of one operation at plan time (they are few and small)."""

    def read(self, operation: str, mid: str) -> Iterator[WholeItem]: ...

    def close(self) -> None: ...


# -- target side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One message as an e-mail target appends it."""

    data: bytes
    flags: tuple[str, ...]
    internaldate: datetime
    message_id: str = ""


@dataclass(frozen=True)
class Placed:
    """Where an item landed: IMAP (folder, UIDVALIDITY, UID), or the target's own id in ``ref`` (an
    Exchange ItemId; several, space-separated, for an item made of several); ``not_kept``: flags and
    keywords of a message the target could not store; ``lossy``: what else of the message the target could
    not hold as it came (an attached message made a file, headers re-rendered), one phrase each, for the report."""

    folder: str
    uidvalidity: int = 0
    uid: int = 0
    ref: str = ""
    not_kept: tuple[str, ...] = ()
    lossy: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.ref or str(self.uid)

    def message(self, item_key: str) -> CreatedThing:
        """The undo record of a message placed here."""
        return CreatedThing(kind="message", target_folder=self.folder, uidvalidity=self.uidvalidity, uid=self.uid,
                            ref=self.ref, item_key=item_key)


class PlacementSink(Protocol):
    """Where a target reports each record as soon as it is settled, so that an error later in the batch
    loses nothing: what was created before it stays undoable."""

    def placed(self, record: Record, where: Placed, created: Sequence[CreatedThing], note: str = "") -> None:
        """On the target (written now, or found there after a crash); ``created``: its undo records;
        ``note``: what the copy could not keep, for the report."""

    def rejected(self, record: Record, error: ItemRejected, created: Sequence[CreatedThing] = ()) -> None:
        """Refused by the target; ``created``: parts of it made before the refusal (they stay undoable)."""

    def undoable(self, created: Sequence[CreatedThing]) -> None:
        """Made on the target by a write that is failing (it raises next): recorded for undo all the same."""


class RuleSnapshots(Protocol):
    """Notes kept in the ledger store before a batch of rules is written: the target's rule ids then, so
    a retry tells a rule it created from one the user had (rules carry no marker)."""

    def keep_rules_before(self, item_keys: Collection[str], rule_ids: Sequence[str]) -> None: ...

    def rules_before(self, item_key: str) -> set[str] | None: ...


@dataclass
class WriteLanes:
    """How many sessions an e-mail target may write one batch through side by side (the loader's choice,
    from what the server sustained: :mod:`shared.session_target`), and what the write then used, so the
    loader can judge the round. A target with one way of writing ignores it."""

    wanted: int = 1
    used: int = 0  # sessions that wrote a share of the batch
    messages: int = 0  # messages sent to the target
    seconds: float = 0.0  # the target's write, timed by the durable write path


@dataclass(frozen=True)
class WriteContext:
    """What a target needs to know of the batch besides its records."""

    migration_id: str
    pair_id: str  # scopes the markers on created items (two PST files can share node ids)
    #: Keys that may already be on the target (written before a crash, never recorded): look for these first.
    inflight: frozenset[str]
    #: The ledger's entries for the batch's keys: copies other items claim, never to be taken for one in flight.
    known: Mapping[str, LedgerEntry]
    #: Durable (undo topic + undo index) when it returns: a setting's previous value, before it changes.
    write_ahead: Callable[[Sequence[CreatedThing]], None]
    snapshots: RuleSnapshots
    #: E-mail: each source folder's (``FolderRef.folder_id``) target folder, made by ``ensure_folders``.
    folders: Mapping[str, str] = field(default_factory=dict)
    #: E-mail: the sessions this batch may be written through (None: the target's own single session).
    lanes: WriteLanes | None = None


class Target(Protocol[R_contra]):
    """A logged-in session on a target account writing one family of records. Not thread-safe."""

    def write(self, records: Sequence[R_contra], ctx: WriteContext, sink: PlacementSink) -> None:
        """Write each record once. A record in ``ctx.inflight`` is looked for first (never taking a copy in
        ``ctx.known`` or one the user had); a setting's previous value goes through ``ctx.write_ahead``
        before it changes. Every record ends in ``sink.placed`` or ``sink.rejected``, or the call raises
        (``Transient``: the batch is retried) after reporting what it created."""

    def close(self) -> None: ...


class MailTarget(Target[MailRecord], Protocol):
    """The e-mail target: messages, and the folders they go into."""

    def folder_name(self, path: Sequence[str]) -> str:
        """The target's key for a neutral folder path."""

    def folder_key(self, path: Sequence[str]) -> str:
        """Where a neutral path lands, as this target compares folder names: two paths with one key would share
        one folder (its separator and prefix applied, a special root as the folder it goes to, case folded where
        the target ignores case). The planner gives such paths distinct names (:mod:`shared.folder_names`)."""

    def folder_ref(self, name: str) -> str:
        """The id to record for a created folder ("" when the name is enough)."""

    def ensure_folders(self, names: Sequence[str], announce: Announce | None = None) -> list[str]:
        """Create the folders and their missing parents (one round trip where the protocol allows);
        the ones actually created, parents first. A target that names folders by name (``folder_ref`` is
        "") calls ``announce`` with the ones it is about to create, before it creates them, so they are on
        the record for undo even if the process dies right after; one that names them by an id the create
        gives learns what to record only after it (the caller records ``created`` then)."""


#: The writer of an operation read whole (contacts ... auto-reply, Sieve scripts).
ItemTarget = Target[ItemRecord]


# -- undo ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """One step of an undo: how many of the plan's things it handled (``done``, whatever the outcome),
    how many of them it removed or put back, and why any was left alone."""

    done: int
    removed: int
    kept: tuple[str, ...] = ()


class Undo(Protocol):
    """Removes exactly what a migration recorded, and puts changed settings back. Idempotent: what is
    already gone counts as removed. A thing it cannot undo is kept with a reason, never an error."""

    def remove(self, things: Sequence[CreatedThing], batch: int) -> Iterator[Removal]:
        """Messages and items (by folder, UIDVALIDITY and UID, or by the target's id), a step per batch."""

    def remove_folders(self, folders: Sequence[CreatedThing]) -> Iterator[Removal]:
        """Folders the migration created, deepest first, each only if empty."""

    def restore(self, settings: Sequence[CreatedThing]) -> Iterator[Removal]:
        """Rules removed, settings and scripts back to the previous value of their *oldest* record. Called
        last (an adapter may end its other session first, so one lease covers the undo's sessions)."""

    def close(self) -> None: ...


# -- discovery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookups:
    """The I/O a discovery may use, passed in so tests need no network: DNS (built on first use; None when
    the host has no DNS configuration), a fetch that passes every host through the network guard, where
    autoconfig and autodiscover answer (tests: plain HTTP on a free port), and the SRV draw."""

    dns: Callable[[], DnsLookup | None]
    fetch: HttpFetch
    http_scheme: str = "https"
    http_port: int | None = None
    rng: random.Random | None = None


class Discovery(Protocol):
    """One way of finding the servers of an e-mail address from what its domain publishes (a provider
    table, autoconfig files, DNS records, autodiscover). Every answer is a stranger's text: an adapter keeps
    only well-formed settings, and the caller passes each host through the network guard before offering it."""

    def discover(self, email: str, domain: str, timeout: float) -> list[Suggestion]:
        """Suggestions in the order to offer them, [] when this way finds none; each lookup bounded by
        ``timeout``. A network failure may raise (the caller counts it as no answer)."""


__all__ = [
    "AdapterEnv",
    "Discovery",
    "FetchLimits",
    "Fetched",
    "ItemListing",
    "ItemReader",
    "ItemRecord",
    "ItemTarget",
    "Lookups",
    "MailRecord",
    "MailTarget",
    "Outgoing",
    "PimRecord",
    "Placed",
    "PlacementSink",
    "Record",
    "Removal",
    "RuleSnapshots",
    "ScriptRecord",
    "Secret",
    "Source",
    "Suggestion",
    "Target",
    "Undo",
    "WholeItem",
    "WriteContext",
]

