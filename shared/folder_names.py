"""One target folder per source folder: names that would meet on the target are told apart. Pure code.

Two source folders can land on one target folder: ``a.b`` and ``a_b`` on a target whose separator is ``.``
(the separator inside a name becomes ``_``), ``INBOX/Sub`` and ``Sub`` on a target whose folders all live below
``INBOX.``, ``Work`` and ``work`` on Exchange or Microsoft 365 (names compared without regard to case), an
ordinary ``Sent`` beside the source's flagged sent folder when both go to the target's ``Sent``. Where a path
lands is the target's to say (:meth:`shared.adapters.ports.MailTarget.folder_key`); which folder keeps the name
is decided here, by one rule (README "Folder names that meet on the target"):

- a folder given a name by an earlier pass of the same source/target pair keeps it (the decisions are on the
  ``ledger`` topic, :func:`record_key`), so a folder that appears later never takes a name already given;
- then the INBOX and special folders going to the target's folder for their use (never renamed), then the others,
  shallower before deeper, each level in code-point order of the names (``Work`` before ``work``);
- the target's INBOX and special folders take only the source's INBOX and special folders (an ordinary ``Trash``
  must not go where the target empties its trash);
- a folder whose name is taken gets ``name (2)``, ``name (3)``… — the first that no folder has and no other
  source folder of the listing would take by its own name — shortened where the target limits a name's
  length (in UTF-16 units, as Exchange counts). Its subfolders go below the renamed folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence

from shared.events import FolderRef
from shared.folder_map import INBOX, SPECIAL_USES, WELL_KNOWN_NAMES, parse_root, root_token
from shared.ledger import LedgerEntry

#: On the ``ledger`` topic, ``<pair>|~folder~<folder_id>``: the neutral path the folder was given on the target
#: (item keys never begin with "~").
RECORD_PREFIX = "~folder~"
#: What the report says of a folder given another name.
RENAMED = "named “{name}” on the target: its own name meets another folder's there"

Landing = Callable[[Sequence[str]], str]


def record_key(folder_id: str) -> str:
    return RECORD_PREFIX + folder_id


def as_entry(migration_id: str, path: Sequence[str]) -> LedgerEntry:
    """The ledger's record of a decision (the path in ``target_folder``; no UID, no size)."""
    return LedgerEntry(migration_id, json.dumps(list(path), ensure_ascii=False), 0, 0, 0)


def from_entry(entry: LedgerEntry) -> list[str] | None:
    try:
        path = json.loads(entry.target_folder)
    except ValueError:
        return None
    return [str(p) for p in path] if isinstance(path, list) and path else None


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def suffixed(own: str, n: int, max_units: int = 0) -> str:
    """``own (n)``, ``own`` shortened so the whole fits in ``max_units`` UTF-16 units (0: no limit)."""
    suffix = f" ({n})"
    if max_units:
        while own and utf16_units(own + suffix) > max_units:
            own = own[:-1]
    return own + suffix


def fixed(path: Sequence[str]) -> bool:
    """The INBOX and a special root go where the target keeps their use: they are never renamed."""
    return len(path) == 1 and (path[0] == INBOX or parse_root(path[0])[0] is not None)


def _order(ref: FolderRef) -> tuple[int, int, tuple[str, ...], str]:
    head = ref.path[0]
    special = head == INBOX or parse_root(head)[0] is not None
    return len(ref.path), 0 if special else 1, tuple(ref.path), ref.source_name


def distinct_paths(refs: Sequence[FolderRef], landing: Landing, recorded: Mapping[str, Sequence[str]] | None = None,
                   max_units: int = 0, reserved: Collection[str] = ()) -> dict[str, list[str]]:
    """Each folder's ``folder_id`` → the neutral path it is given on the target.

    ``landing``: the target's comparison key of a path (two paths with one key would share a folder);
    ``recorded``: the paths earlier passes gave (kept as they are); ``max_units``: the longest name the target
    takes, in UTF-16 units (0: no limit); ``reserved``: keys of the target's INBOX and special folders
    (:func:`reserved_keys`), which only the source's INBOX and special folders go into — an ordinary folder named
    like the target's Trash is not emptied with it. Two folders with one neutral path (``inbox/x`` and
    ``INBOX/x``) are ordered by the source's own names."""
    recorded = recorded or {}
    given: dict[str, list[str]] = {}
    by_source: dict[tuple[str, ...], list[str]] = {}
    owner: dict[str, str] = dict.fromkeys(reserved, "")
    for ref in refs:
        if ref.folder_id in recorded:
            given[ref.folder_id] = list(recorded[ref.folder_id])
            by_source.setdefault(tuple(ref.path), given[ref.folder_id])
            owner.setdefault(landing(given[ref.folder_id]), ref.folder_id)
    new = sorted((ref for ref in refs if ref.folder_id not in recorded), key=_order)
    wanted = {landing(ref.path) for ref in new}  # names other folders keep: no renamed folder takes one
    for ref in new:
        fid, path = ref.folder_id, ref.path
        parent = by_source.get(tuple(path[:-1]), path[:-1])
        chosen = [*parent, path[-1]]
        key = landing(chosen)
        if not fixed(path) and owner.get(key, fid) != fid:
            n = 2
            while True:
                chosen = [*parent, suffixed(path[-1], n, max_units)]
                key = landing(chosen)
                if key not in owner and key not in wanted:
                    break
                n += 1
        owner.setdefault(key, fid)
        given[fid] = chosen
        by_source.setdefault(tuple(path), chosen)
    return given


def reserved_keys(landing: Landing) -> set[str]:
    """The keys of the target's INBOX and of its folder for each special use (a use it has no folder for lands on
    a name no folder has)."""
    return {landing([INBOX])} | {landing([root_token(use, "\0")]) for use in SPECIAL_USES}


_LOOSE = str.maketrans({".": "_", "/": "_"})
#: Names an ordinary folder may land on the target's special folder by: the target is asked about such a folder.
_SPECIAL_NAMES = {(name.translate(_LOOSE).casefold(),) for names in WELL_KNOWN_NAMES.values() for name in names}


def loose_keys(path: Sequence[str]) -> set[tuple[str, ...]]:
    """Every place a path could land on some target, compared as loosely as any target compares: case folded,
    "." and "/" inside a name as "_", INBOX's children as top-level folders (a target below ``INBOX.``), a special
    root as its own name or any well-known name of its use (the target's folder for it may have one)."""
    rest = tuple(c.translate(_LOOSE).casefold() for c in path[1:])
    if path[0] == INBOX:
        return {rest} if rest else {("\\inbox",)}
    use, own = parse_root(path[0])
    heads = {own, *WELL_KNOWN_NAMES.get(use, ())} if use else {own}
    return {(h.translate(_LOOSE).casefold(), *rest) for h in heads}


def may_meet(given: Mapping[str, Sequence[str]], decided: Collection[str]) -> bool:
    """Whether two of these paths (``folder_id`` → path) could land on one folder of some target, one of them not
    ``decided`` yet: only then is the target asked (:func:`loose_keys`; a target's special folder named in no
    language of :data:`shared.folder_map.WELL_KNOWN_NAMES` is not foreseen)."""
    seen: dict[tuple[str, ...], str] = dict.fromkeys(_SPECIAL_NAMES, "")  # the target's own special folders
    for fid, path in given.items():
        for key in loose_keys(path):
            other = seen.setdefault(key, fid)
            if other == fid or (other == "" and fid in decided):
                continue
            if other == "" or not (other in decided and fid in decided):
                return True
    return False


def display(path: Sequence[str]) -> str:
    """A path as the user reads it (a special root by its own name)."""
    return "/".join([parse_root(path[0])[1], *path[1:]]) if path else ""


def renamed_note(ref: FolderRef) -> str:
    """The report's note on a folder given another name ("" for one that keeps its own, also below a renamed
    parent: the parent's note says it)."""
    renamed = ref.target_path is not None and ref.target_path[-1:] != ref.path[-1:]
    return RENAMED.format(name=display(ref.target_path or [])) if renamed else ""
