"""Planning an e-mail operation: folders in neutral form, their listings split into tasks. Pure code.

The extractor lists the source through the Source port and asks the ledger once; everything it then
decides — what is already on the target, which tasks to publish, in which order — is
:func:`plan_emails`, so planning the same unchanged listing twice gives the same tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from shared.adapters.ports import ItemListing
from shared.events import EndpointSpec, ExtractTask, FolderRef, ItemResult, MailFilters
from shared.item_keys import item_key
from shared.ledger import ALREADY_COPIED


def split(uids: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [list(uids[i:i + size]) for i in range(0, len(uids), size)]


def partition_known(folder_id: str, uidvalidity: int, uids: Sequence[int],
                    known_keys: set[str]) -> tuple[list[int], list[int]]:
    """Split UIDs into (new, already on the target according to the ledger)."""
    new: list[int] = []
    known: list[int] = []
    for uid in uids:
        (known if item_key(folder_id, uidvalidity, uid) in known_keys else new).append(uid)
    return new, known


@dataclass(frozen=True)
class EmailPlan:
    """The tasks to publish (large ones first), the items the ledger already has, and how many were listed."""

    tasks: list[ExtractTask]
    skipped: list[ItemResult]
    total: int


def plan_emails(mid: str, source: EndpointSpec, folders: Sequence[tuple[FolderRef, bool]],
                listings: Mapping[str, ItemListing], known: Set[str], task_size: int,
                filters: MailFilters | None = None, look_first: Set[str] = frozenset()) -> EmailPlan:
    """Tasks for every selectable folder's items that are not in ``known`` (the ledger's keys).

    A message above the size the listing was asked about is a task of its own, published first, so
    it does not end the run; the others go in slices of ``task_size`` UIDs (or references, for a
    source without UIDs). Every task carries the migration's date window (``filters``), which the run applies
    to each message's received date. Task ids name the folder, UIDVALIDITY and slice: the same listing gives
    the same ids, and a task published twice is run once. The tasks of a folder in ``look_first`` (folder ids
    whose UIDVALIDITY changed since an earlier pass: :func:`changed_validity`) have their messages looked for on
    the target before they are written.
    """
    tasks: list[ExtractTask] = []
    skipped: list[ItemResult] = []
    total = 0
    for ref, selectable in folders:
        if not selectable:
            continue
        listing = listings[ref.source_name]
        uids, refs, keys, validity = listing.uids, listing.refs, listing.keys, listing.uidvalidity
        look = ref.folder_id in look_first
        total += len(keys)
        skipped += [ItemResult(item_key=key, result="skipped", folder=ref.display,
                               subject=f"UID {u}" if uids else "item " + key.rsplit(":", 1)[-1][:8],
                               reason=ALREADY_COPIED)
                    for key, u in zip(keys, uids or refs, strict=True) if key in known]
        new_uids = [u for key, u in zip(keys, uids, strict=False) if key not in known]
        new_refs = [r for key, r in zip(keys, refs, strict=False) if key not in known]
        big = listing.large.intersection(new_uids)
        for uid in sorted(big):  # alone, and published and run first: they must not end the run
            tasks.append(ExtractTask(
                migration_id=mid, task_id=f"{mid}:{ref.folder_id}:{validity}:large:{uid}",
                source=source, folder=ref, uidvalidity=validity, uids=[uid], large=True, look_first=look))
        for n, part in enumerate(split([u for u in new_uids if u not in big], task_size)):
            tasks.append(ExtractTask(
                migration_id=mid, task_id=f"{mid}:{ref.folder_id}:{validity}:{n}", source=source,
                folder=ref, uidvalidity=validity, uids=part, look_first=look))
        size = max(1, task_size)
        for n in range(0, len(new_refs), size):
            tasks.append(ExtractTask(
                migration_id=mid, task_id=f"{mid}:{ref.folder_id}:refs:{n // size}", source=source,
                folder=ref, uidvalidity=0, uids=[], refs=list(new_refs[n:n + size])))
    # Large tasks first: each then heads its partition, so the first poll of any extractor takes them.
    if filters is not None and (filters.received_before or filters.received_since):
        window = {"received_before": filters.received_before, "received_since": filters.received_since}
        tasks = [t.model_copy(update=window) for t in tasks]
    return EmailPlan(sorted(tasks, key=lambda t: not t.large), skipped, total)


def with_target_paths(refs: Sequence[tuple[FolderRef, bool]], given: Mapping[str, Sequence[str]]
                      ) -> list[tuple[FolderRef, bool]]:
    """The folders with the path each was given on the target (:mod:`shared.folder_names`), set as
    ``target_path`` only where it is not the folder's own."""
    out = []
    for ref, selectable in refs:
        path = list(given.get(ref.folder_id, ref.path))
        out.append((ref.model_copy(update={"target_path": path}) if path != ref.path else ref, selectable))
    return out


VALIDITY_PREFIX = "~uidvalidity~"


def validity_key(folder_id: str) -> str:
    """The ledger key that holds the UIDVALIDITY a folder had when the pair first planned it."""
    return f"{VALIDITY_PREFIX}{folder_id}"


def changed_validity(listings: Mapping[str, ItemListing], folders: Sequence[tuple[FolderRef, bool]],
                     recorded: Mapping[str, int]) -> tuple[set[str], dict[str, int]]:
    """(folder ids whose UIDVALIDITY is not the one recorded for them, the folders' UIDVALIDITY to record now).

    A folder's first UIDVALIDITY is recorded once and kept: the messages copied under it stay keyed by it, so
    after a change every later pass looks first for what is not in the ledger under the new one (a pass that
    stopped half-way leaves some of the old copies unclaimed). A source without UIDs (validity 0) has none."""
    changed: set[str] = set()
    new: dict[str, int] = {}
    for ref, selectable in folders:
        listing = listings.get(ref.source_name) if selectable else None
        if listing is None or not listing.uidvalidity or not listing.uids:
            continue
        first = recorded.get(ref.folder_id)
        if first is None:
            new[ref.folder_id] = listing.uidvalidity
        elif first != listing.uidvalidity:
            changed.add(ref.folder_id)
    return changed, new
