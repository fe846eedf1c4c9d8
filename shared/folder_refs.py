"""Source folders in neutral form: what every source lists becomes :class:`FolderRef` the same way.

Shared by the extractor's planning and by adapters that must name a folder as its mail travels (an
Exchange rule moving mail into Sent Items names the folder by the same neutral path). Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared import folder_map
from shared.events import FolderRef


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
    # A folder that holds no mail (\\Noselect) is there for the folders below it: where none of them stays
    # below it (Gmail's "[Gmail]", whose folders all go to the target's special folders), it is left out.
    parents = {tuple(ref.path[:i]) for ref, _selectable in out for i in range(1, len(ref.path))}
    out = [(ref, selectable) for ref, selectable in out if selectable or tuple(ref.path) in parents]
    # Parents before children, so the target creates them in order.
    out.sort(key=lambda pair: (len(pair[0].path), pair[0].path))
    return out
