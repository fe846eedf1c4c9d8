"""Where each source folder should land: the folder rules written a second time, for checking.

The demo and the benchmark give :func:`mailferry.verify.compare` the folder names they expect.
Those must not come from ``shared/folder_map.py`` (a wrong rule would then be expected too), so
the rules are written here again, small and separately, from the README's words:

* ``INBOX`` (any case) is ``INBOX``; virtual views (``\\All``, ``\\Flagged``) are not copied;
* a source folder has a use by its SPECIAL-USE flag, at any depth; names count only for top-level
  folders on a source that marks no folder and does not announce SPECIAL-USE (each use once, the
  shallowest first);
* it lands (with its subfolders) in the folder the target already has for that use (by flag, or
  by name on a target without SPECIAL-USE), else it keeps its own name, at the top level;
* the target's separator replaces the source's (a separator inside a name becomes ``_``), and
  the personal-namespace prefixes are taken off and put on.

The name lists are shorter than the product's: enough for the servers the demo and benchmark use.
"""

from __future__ import annotations

from collections.abc import Iterable

from imapclient import IMAPClient

from mailferry.verify import Listed, list_folders

USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
VIRTUAL = ("\\All", "\\Flagged")
NAMES = {
    "\\Sent": ("sent", "sent items", "sent messages", "gesendet", "gesendete elemente"),
    "\\Drafts": ("drafts", "entwürfe"),
    "\\Trash": ("trash", "deleted items", "papierkorb", "gelöschte elemente"),
    "\\Junk": ("junk", "spam", "junk e-mail"),
    "\\Archive": ("archive", "archiv"),
}


def _use(folder: Listed, by_flag: bool, top: str) -> str | None:
    if by_flag:
        return next((u for u in USES if u.lower() in {f.lower() for f in folder.flags}), None)
    return next((u for u, names in NAMES.items() if top.lower() in names), None)


def _marks(listed: Iterable[Listed], announced: bool) -> bool:
    return announced or any(f.lower() in {u.lower() for u in USES + VIRTUAL} for x in listed for f in x.flags)


def _parts(name: str, delimiter: str, prefix: str) -> list[str]:
    if prefix and name.startswith(prefix) and name != prefix.rstrip(delimiter):
        name = name[len(prefix):]
    return name.split(delimiter) if delimiter else [name]


def expected_names(source: dict[str, Listed], target: dict[str, Listed], *, source_announces: bool,
                   target_announces: bool, source_prefix: str = "", target_prefix: str = "") -> dict[str, str | None]:
    """Source folder name → the target folder it should land in (None: not copied)."""
    t_delim = next((f.delimiter for f in target.values() if f.delimiter), "/")
    t_by_flag = _marks(target.values(), target_announces)
    theirs: dict[str, str] = {}
    for name, f in sorted(target.items(), key=lambda kv: kv[0].count(t_delim)):
        parts = _parts(name, f.delimiter, target_prefix)
        use = _use(f, t_by_flag, parts[0]) if t_by_flag or len(parts) == 1 else None
        if use and use not in theirs and f.selectable:
            theirs[use] = name
    s_by_flag = _marks(source.values(), source_announces)
    ours: dict[str, str] = {}  # source folder (without prefix) -> use; by flag at any depth, by name at the top
    for name, f in sorted(source.items(), key=lambda kv: len(_parts(kv[0], kv[1].delimiter, source_prefix))):
        parts = _parts(name, f.delimiter, source_prefix)
        counts = (s_by_flag or len(parts) == 1) and not (len(parts) == 1 and parts[0].upper() == "INBOX")
        use = _use(f, s_by_flag, parts[0]) if counts else None
        if use and use not in ours.values():
            ours[f.delimiter.join(parts)] = use
    out: dict[str, str | None] = {}
    for name, f in source.items():
        if {v.lower() for v in VIRTUAL} & {x.lower() for x in f.flags}:
            out[name] = None
            continue
        raw = _parts(name, f.delimiter, source_prefix)
        parts = [p.replace(t_delim, "_") for p in raw]
        special = next((d for d in range(1, len(raw) + 1) if f.delimiter.join(raw[:d]) in ours), 0)
        if special:
            use = ours[f.delimiter.join(raw[:special])]
            root = theirs[use] if use in theirs else target_prefix + parts[special - 1]
            out[name] = t_delim.join([root, *parts[special:]])
            continue
        root = "INBOX" if raw[0].upper() == "INBOX" else target_prefix + parts[0]
        out[name] = t_delim.join([root, *parts[1:]])
    return out


def expected_for(source: IMAPClient, target: IMAPClient) -> dict[str, str | None]:
    """The expected names for two accounts as they are now (call it before the migration)."""
    def prefix(c: IMAPClient) -> str:
        ns = c.namespace()
        first = ns.personal[0][0] if ns.personal else ""
        return first.decode() if isinstance(first, bytes) else str(first)

    return expected_names(list_folders(source), list_folders(target),
                          source_announces=bool(source.has_capability("SPECIAL-USE")),
                          target_announces=bool(target.has_capability("SPECIAL-USE")),
                          source_prefix=prefix(source), target_prefix=prefix(target))
