"""Planning an e-mail operation: folders in neutral form, UIDs split into tasks. Pure code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared import folder_map
from shared.events import FolderRef
from shared.item_keys import item_key


def folder_refs(listed: Sequence[folder_map.ListedFolder], prefix: str = "",
                announced_special_use: bool = False) -> list[tuple[FolderRef, bool]]:
    """Every folder to migrate with whether it holds messages; virtual views (\\All) are left out.

    ``announced_special_use``: the source announced SPECIAL-USE, so only its flags say which
    folders are special (see :mod:`shared.folder_map`)."""
    specials = folder_map.special_roots(listed, prefix, announced_special_use)
    out = []
    for f in listed:
        if f.special_use in folder_map.VIRTUAL_USES:
            continue
        path = folder_map.neutral_path(f, specials, prefix)
        use, _own = folder_map.parse_root(path[0])
        ref = FolderRef(folder_id=folder_map.folder_id(f.name), path=path,
                        special_use=use if len(path) == 1 else None, source_name=f.name)
        out.append((ref, f.selectable))
    # Parents before children, so the target creates them in order.
    out.sort(key=lambda pair: (len(pair[0].path), pair[0].path))
    return out


def split(uids: Sequence[int], size: int) -> list[list[int]]:
    size = max(1, size)
    return [list(uids[i:i + size]) for i in range(0, len(uids), size)]


@dataclass
class FolderPlan:
    folder: FolderRef
    uidvalidity: int
    new_uids: list[int]
    known_uids: list[int] = field(default_factory=list)


def partition_known(folder_id: str, uidvalidity: int, uids: Sequence[int],
                    known_keys: set[str]) -> tuple[list[int], list[int]]:
    """Split UIDs into (new, already on the target according to the ledger)."""
    new: list[int] = []
    known: list[int] = []
    for uid in uids:
        (known if item_key(folder_id, uidvalidity, uid) in known_keys else new).append(uid)
    return new, known
