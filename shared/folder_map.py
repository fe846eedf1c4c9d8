"""Folder names between servers: neutral paths, special-use folders, separators.

A source folder becomes a *neutral path*: its components as Unicode (imapclient
already decodes modified UTF-7), with the personal-namespace prefix removed and
the root replaced by a token when it is a special-use folder (``\\Sent``…) or
the INBOX. A target turns the neutral path back into its own name, with its own
separator and its own special folders. Pure code: the adapters give it LIST data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

INBOX = "INBOX"
SPECIAL_USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
# Virtual views of other folders: copying them would duplicate every message.
VIRTUAL_USES = ("\\All", "\\Flagged")

# Names that mean a special folder on servers without SPECIAL-USE (lower-cased).
_NAME_HINTS: dict[str, str] = {}
for _use, _names in {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete elemente",
               "gesendete objekte", "envoyés", "éléments envoyés", "elementos enviados", "posta inviata"),
    "\\Drafts": ("drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "papierkorb", "gelöschte elemente",
                "corbeille", "éléments supprimés", "papelera", "cestino", "bin"),
    "\\Junk": ("junk", "spam", "junk e-mail", "junk email", "junk-e-mail", "courrier indésirable",
               "correo no deseado", "posta indesiderata"),
    "\\Archive": ("archive", "archives", "archiv", "archivio", "archivo"),
}.items():
    for _n in _names:
        _NAME_HINTS[_n] = _use

DEFAULT_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk",
                 "\\Archive": "Archive"}


@dataclass(frozen=True)
class ListedFolder:
    """One LIST answer line, decoded."""

    name: str
    delimiter: str
    flags: tuple[str, ...]

    @property
    def selectable(self) -> bool:
        lowered = {f.lower() for f in self.flags}
        return "\\noselect" not in lowered and "\\nonexistent" not in lowered

    @property
    def special_use(self) -> str | None:
        for flag in self.flags:
            for use in SPECIAL_USES + VIRTUAL_USES:
                if flag.lower() == use.lower():
                    return use
        return None


def folder_id(source_name: str) -> str:
    """A short stable id for a source folder, used in keys (names can be long or odd)."""
    return hashlib.sha256(source_name.encode()).hexdigest()[:16]


def split_name(name: str, delimiter: str, prefix: str = "") -> list[str]:
    if prefix and name.startswith(prefix) and name != prefix.rstrip(delimiter):
        name = name[len(prefix):]
    return name.split(delimiter) if delimiter else [name]


def neutral_path(folder: ListedFolder, specials: dict[str, str], prefix: str = "") -> list[str]:
    """The neutral path of a source folder; ``specials`` maps top-level names to their use."""
    parts = split_name(folder.name, folder.delimiter, prefix)
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    elif parts[0] in specials:
        parts[0] = specials[parts[0]]
    return parts


def special_roots(folders: Iterable[ListedFolder], prefix: str = "") -> dict[str, str]:
    """Top-level names that are special folders, by SPECIAL-USE flag or else by well-known name.

    A flag wins over a name; each use is taken once, so a second "Spam" next to a
    flagged "Junk" stays an ordinary folder.
    """
    found: dict[str, str] = {}
    taken: set[str] = set()
    listed = list(folders)
    for f in listed:
        use = f.special_use
        parts = split_name(f.name, f.delimiter, prefix)
        if use in SPECIAL_USES and len(parts) == 1 and use not in taken:
            found[parts[0]] = use
            taken.add(use)
    for f in listed:
        parts = split_name(f.name, f.delimiter, prefix)
        if len(parts) != 1 or parts[0] in found:
            continue
        use = _NAME_HINTS.get(parts[0].lower())
        if use and use not in taken:
            found[parts[0]] = use
            taken.add(use)
    return found


def sanitize_component(component: str, delimiter: str) -> str:
    """A component may not contain the target's separator; it becomes ``_`` (documented)."""
    return component.replace(delimiter, "_") if delimiter else component


def target_name(path: Sequence[str], target_specials: dict[str, str], delimiter: str,
                prefix: str = "") -> str:
    """The target's folder name for a neutral path.

    ``target_specials`` maps a use (``\\Sent``) to the target's own folder name.
    """
    head, rest = path[0], list(path[1:])
    if head == INBOX:
        root = INBOX
    elif head in DEFAULT_NAMES:
        root = target_specials.get(head) or prefix + DEFAULT_NAMES[head]
    else:
        root = prefix + sanitize_component(head, delimiter)
    if not rest:
        return root
    return delimiter.join([root, *(sanitize_component(c, delimiter) for c in rest)])


def target_special_names(folders: Iterable[ListedFolder], prefix: str = "") -> dict[str, str]:
    """The target's special folders by use, from its LIST (flags first, then names)."""
    return {use: prefix + name for name, use in special_roots(folders, prefix).items()}


def ancestors(name: str, delimiter: str) -> list[str]:
    """``a/b/c`` → ``["a", "a/b"]``: the parents a CREATE needs first."""
    if not delimiter:
        return []
    parts = name.split(delimiter)
    return [delimiter.join(parts[:i]) for i in range(1, len(parts))]
