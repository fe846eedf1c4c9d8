"""Folder names between servers: neutral paths, special-use folders, separators.

A source folder becomes a *neutral path*: its components as Unicode (imapclient
already decodes modified UTF-7), with the personal-namespace prefix removed. The
INBOX becomes ``INBOX``; a special folder becomes a *root token* that carries both
its use and its own name (``\\Archive:Archiv``), whatever its depth on the source (a
flagged ``[Gmail]/Sent Mail`` too). A target turns the
neutral path back into its own name, with its own separator and prefix.

The rule, the same for every use and every language: a folder keeps its name,
unless the target already has a folder for that use (by its SPECIAL-USE flag, or,
on a target without SPECIAL-USE, by a well-known name), and then it goes there.
Which source folder has a use is read from its flags; well-known names are read
only from a source without SPECIAL-USE, because a server that flags its special
folders has said which ones they are (its "Archiv" without a flag is the user's), and
then of top-level folders only. A special folder the target has no folder for keeps its
own name, at the top level.
Pure code: the adapters give it LIST data and whether the server announced SPECIAL-USE.
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
WELL_KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete elemente",
               "gesendete objekte", "envoyés", "éléments envoyés", "elementos enviados", "posta inviata"),
    "\\Drafts": ("drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "papierkorb", "gelöschte elemente",
                "corbeille", "éléments supprimés", "papelera", "cestino", "bin"),
    "\\Junk": ("junk", "spam", "junk e-mail", "junk email", "junk-e-mail", "courrier indésirable",
               "correo no deseado", "posta indesiderata"),
    "\\Archive": ("archive", "archives", "archiv", "archivio", "archivo"),
}
_NAME_HINTS: dict[str, str] = {name: use for use, names in WELL_KNOWN_NAMES.items() for name in names}

# Root tokens of events written before tokens carried the folder's own name: nothing else to go by.
_LEGACY_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk",
                 "\\Archive": "Archive"}
_ROOT_SEPARATOR = ":"


def root_token(use: str, own_name: str) -> str:
    """The neutral root of a special folder: its use and its own name (kept where the target has none)."""
    return f"{use}{_ROOT_SEPARATOR}{own_name}"


def parse_root(component: str) -> tuple[str | None, str]:
    """(use, name) of a neutral root component; use is None for an ordinary folder."""
    if component.startswith("\\\\"):  # an ordinary name that starts with a backslash, escaped
        return None, component[1:]
    use, sep, own = component.partition(_ROOT_SEPARATOR)
    if sep and use in SPECIAL_USES:
        return use, own
    if component in _LEGACY_NAMES:
        return component, _LEGACY_NAMES[component]
    return None, component


def well_known_use(name: str) -> str | None:
    """The use a well-known folder name stands for, in any case (``"Gesendete Elemente"`` → ``\\Sent``)."""
    return _NAME_HINTS.get(name.lower())


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
    """The neutral path of a source folder; ``specials`` maps special folders (their names without the prefix,
    :func:`special_roots`) to their use. A special folder below others (Gmail's ``[Gmail]/Sent Mail``) is a root
    token, its own folders below it: it goes where the target keeps that use, else to the top level."""
    parts = split_name(folder.name, folder.delimiter, prefix)
    for depth in range(1, len(parts) + 1):
        name = folder.delimiter.join(parts[:depth])
        if name in specials:
            return [root_token(specials[name], parts[depth - 1]), *parts[depth:]]
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    elif parts[0].startswith("\\"):
        parts[0] = "\\" + parts[0]  # cannot be read as a token
    return parts


def marks_uses(folders: Iterable[ListedFolder], announced: bool = False) -> bool:
    """Whether a server says which folders are special: it announced SPECIAL-USE, or flagged one."""
    return announced or any(f.special_use for f in folders)


def special_roots(folders: Iterable[ListedFolder], prefix: str = "", announced: bool = False) -> dict[str, str]:
    """The source's special folders by name (without the prefix) → use.

    A server that marks special folders (``announced`` SPECIAL-USE, or any folder flagged) is
    taken at its word: its flags alone count, at any depth (Gmail flags ``[Gmail]/Sent Mail``;
    the shallowest folder of a use wins). Only on a server without SPECIAL-USE are well-known
    names read, of top-level folders only. Each use is taken once, so a second "Spam" next to
    "Junk" stays an ordinary folder.
    """
    listed = list(folders)
    by_flag = marks_uses(listed, announced)
    found: dict[str, str] = {}
    for f in sorted(listed, key=lambda f: len(split_name(f.name, f.delimiter, prefix))):
        parts = split_name(f.name, f.delimiter, prefix)
        if (len(parts) == 1 and parts[0].upper() == INBOX) or (len(parts) > 1 and not by_flag):
            continue
        use = f.special_use if by_flag else well_known_use(parts[0])
        if use in SPECIAL_USES and use not in found.values():
            found[f.delimiter.join(parts)] = use
    return found


def sanitize_component(component: str, delimiter: str) -> str:
    """A component may not contain the target's separator; it becomes ``_`` (documented). Nor, on a target whose
    separator is not "/", a "/": Maildir++ servers (Dovecot, Courier) keep a folder as one file name and refuse it."""
    if not delimiter:
        return component
    if delimiter != "/":
        component = component.replace("/", "_")
    return component.replace(delimiter, "_")


def target_name(path: Sequence[str], target_specials: dict[str, str], delimiter: str,
                prefix: str = "") -> str:
    """The target's folder name for a neutral path.

    ``target_specials`` maps a use (``\\Sent``) to the folder the target already has for it
    (:func:`target_special_names`); a special root the target has no folder for keeps its own name.
    """
    head, rest = path[0], list(path[1:])
    if head == INBOX:
        root = INBOX
    else:
        use, own = parse_root(head)
        mapped = target_specials.get(use) if use else None
        root = mapped if mapped is not None else prefix + sanitize_component(own, delimiter)
    if not rest:
        return root
    return delimiter.join([root, *(sanitize_component(c, delimiter) for c in rest)])


def compared_name(name: str, delimiter: str) -> str:
    """A target name as an IMAP server compares it: exactly, but for INBOX, which is case-insensitive, also as
    the head of a name (RFC 3501 §5.1: ``inbox/x`` is ``INBOX/x``)."""
    head, sep, rest = name.partition(delimiter) if delimiter else (name, "", "")
    return INBOX + sep + rest if head.upper() == INBOX else name


def created_use(path: Sequence[str], target_specials: dict[str, str]) -> str | None:
    """The use a folder created for ``path`` stands for (a special root the target has no folder for):
    on a target with CREATE-SPECIAL-USE it can be created with that flag."""
    if len(path) != 1 or path[0] == INBOX:
        return None
    use, _own = parse_root(path[0])
    return use if use and use not in target_specials else None


def target_special_names(folders: Iterable[ListedFolder], prefix: str = "", announced: bool = False
                         ) -> dict[str, str]:
    """The folders the target already has for each use: by flag (at any depth) on a target that marks
    special folders, by well-known top-level name on one without SPECIAL-USE."""
    listed = list(folders)
    found: dict[str, str] = {}
    if marks_uses(listed, announced):
        for f in sorted(listed, key=lambda f: len(split_name(f.name, f.delimiter, prefix))):
            use = f.special_use
            if use in SPECIAL_USES and use not in found and f.selectable:
                found[use] = f.name
        return found
    return {use: prefix + name for name, use in special_roots(listed, prefix).items()}


def ancestors(name: str, delimiter: str) -> list[str]:
    """``a/b/c`` → ``["a", "a/b"]``: the parents a CREATE needs first."""
    if not delimiter:
        return []
    parts = name.split(delimiter)
    return [delimiter.join(parts[:i]) for i in range(1, len(parts))]
