"""Read Outlook PST/OST files with pypff (libpff) into neutral records.

The file is checked before anything is read (not a PST/OST, truncated or damaged,
password-protected), each with its own ``PstError`` subclass and a message a user can act on.
Then the folder tree below the store's top folder (what Outlook shows) is walked; every item
becomes a record (e-mail as RFC 5322 bytes, contact as vCard, appointment/task as iCalendar,
distribution list as a member list) or, when it cannot be read, an ``ItemProblem`` - one bad item
never stops the walk.

pypff hands out raw MAPI properties; named properties (appointment times, contact e-mails, list
members) are resolved here from the store's name-to-id map, and the pure builders in
:mod:`shared.adapters.pst.mapi` do the format work.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pypff

from shared.adapters.pim_items import carry_attachments, payload_size
from shared.adapters.pst import codepage as cp
from shared.adapters.pst import mapi as mm
from shared.adapters.pst.mapi import MapiAttachment, MapiMessage, PropKey, Recipient
from shared.formats.item_attachments import VCARD_NAME, ItemAttachment, safe_name
from shared.formats.keywords import COMPLETED

PS_MAPI = "00020328-0000-0000-c000-000000000046"
PS_PUBLIC_STRINGS = "00020329-0000-0000-c000-000000000046"

PR_MESSAGE_CLASS = 0x001A
PR_PST_PASSWORD = 0x67FF
PR_IPM_SUBTREE_ENTRYID = 0x35E0
# The message store's entry ids of its Deleted Items and Sent Items, whatever their names' language.
_STORE_SPECIAL_USE = {0x35E3: "\\Trash", 0x35E4: "\\Sent"}
PR_CONTAINER_CLASS = 0x3613
PR_ATTACH_METHOD = 0x3705
PR_ATTACH_PATHNAME = 0x3708
PR_ATTACH_LONG_PATHNAME = 0x370D
PR_ATTACHMENT_FLAGS = 0x7FFD
PR_ATTACHMENT_HIDDEN = 0x7FFE
PR_ATTACHMENT_CONTACTPHOTO = 0x7FFF

ATTACH_BY_VALUE, ATTACH_EMBEDDED_MSG, ATTACH_OLE = 1, 5, 6
MAX_FOLDER_DEPTH = 100  # Outlook's own trees stay far below; a deeper one is damaged (and would exhaust the stack)
AF_EXCEPTION = 0x2
_READ_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class PstError(Exception):
    """A PST/OST file that cannot be imported; the message says why in plain words."""


class NotAPstError(PstError):
    """The file is not an Outlook data file (or is a kind this importer does not read)."""


class PstCorruptError(PstError):
    """The file looks like a PST/OST but its structures cannot be read."""


class PstTruncatedError(PstCorruptError):
    """The file is shorter than its own header says: an incomplete upload or copy."""


class PstPasswordProtectedError(PstError):
    """Outlook protects this file with a password."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------

FolderPath = tuple[str, ...]


@dataclass(frozen=True)
class PstInfo:
    """What the header says about the file."""

    kind: str  # "PST" or "OST"
    unicode: bool  # False for Outlook 97-2002 (ANSI) files
    size: int
    encryption: str  # "none", "compressible" or "high"


@dataclass(frozen=True)
class PstFolder:
    """A folder below the store's top folder; ``path`` is its names from the top, e.g. ("Inbox", "Sub")."""

    path: FolderPath
    source_id: int
    container_class: str | None  # IPF.Note, IPF.Appointment, IPF.Contact, IPF.Task ...
    item_count: int  # 0 when the folder's list of items cannot be read (then ``problem`` says so)
    name: str = ""  # the folder's own name; for the top folder (path ()) e.g. "Top of Personal Folders"
    problem: str | None = None  # what of the folder could not be read, in plain words with libpff's detail
    special_use: str | None = None  # \Trash or \Sent when the message store names the folder so, in any language


@dataclass(frozen=True)
class PstAttachment:
    """An attachment of a non-mail item; exception attachments hold a recurring meeting's changed occurrence."""

    name: str
    content_type: str
    data: bytes
    is_recurrence_exception: bool = False


@dataclass(frozen=True)
class MailRecord:
    source_id: int
    folder: FolderPath
    message_class: str
    subject: str
    sender_name: str
    sender_address: str
    sent: datetime | None  # client submit time, UTC
    received: datetime | None  # delivery time, UTC
    is_read: bool
    is_draft: bool
    flag: str  # "none", "flagged" or "complete"
    attachment_names: tuple[str, ...]
    has_transport_headers: bool
    rfc822: bytes

    @property
    def imap_flags(self) -> tuple[str, ...]:
        """The IMAP flags this state maps to (a completed follow-up is the keyword $Completed)."""
        flags = []
        if self.is_read:
            flags.append("\\Seen")
        if self.flag == "flagged":
            flags.append("\\Flagged")
        elif self.flag == "complete":
            flags.append(COMPLETED)
        if self.is_draft:
            flags.append("\\Draft")
        return tuple(flags)


@dataclass(frozen=True)
class ContactRecord:
    source_id: int
    folder: FolderPath
    display_name: str
    emails: tuple[str, ...]
    vcard: str
    attachment_names: tuple[str, ...] = ()  # other than the contact photo (carried in the vCard as they fit)
    notes: tuple[str, ...] = ()  # what the vCard could not carry, for the report
    unreadable: tuple[str, ...] = ()  # attachments libpff could not read, said in plain words (the item is kept)


@dataclass(frozen=True)
class AppointmentRecord:
    source_id: int
    folder: FolderPath
    subject: str
    start: datetime | None
    end: datetime | None
    is_recurring: bool
    ical: str
    attachments: tuple[PstAttachment, ...] = ()
    notes: tuple[str, ...] = ()  # what the iCalendar text could not carry, for the report
    unreadable: tuple[str, ...] = ()  # attachments libpff could not read (a changed occurrence's among them)


@dataclass(frozen=True)
class TaskRecord:
    source_id: int
    folder: FolderPath
    subject: str
    due: datetime | None
    is_complete: bool
    ical: str
    attachment_names: tuple[str, ...] = ()  # carried in the iCalendar text as they fit
    notes: tuple[str, ...] = ()  # what the iCalendar text could not carry, for the report
    unreadable: tuple[str, ...] = ()  # attachments libpff could not read


@dataclass(frozen=True)
class DistListRecord:
    source_id: int
    folder: FolderPath
    name: str
    members: tuple[tuple[str, str], ...]  # (display name, e-mail address)


@dataclass(frozen=True)
class ItemProblem:
    """An item that could not be read, reported instead of the item."""

    source_id: int | None
    folder: FolderPath
    reason: str


PstItem = MailRecord | ContactRecord | AppointmentRecord | TaskRecord | DistListRecord | ItemProblem


# --------------------------------------------------------------------------------------------
# Up-front validation
# --------------------------------------------------------------------------------------------

# What users upload instead of a PST, by its first bytes, in the words of the refusal.
_OTHER_KINDS = (
    (b"PK\x03\x04", "a ZIP archive: unpack it and upload the .pst file inside"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it and upload the .pst file inside"),
    (b"Rar!", "a RAR archive: unpack it and upload the .pst file inside"),
    (b"\x1f\x8b", "a gzip-compressed file: unpack it and upload the .pst file inside"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a single Outlook item or Office document (.msg, .doc, .xls): "
                                           "export the folders to a .pst file in Outlook"),
    (b"From ", "an mbox mail file: it can be imported from the IMAP server it came from"),
)
_ANSI_VERSIONS = (14, 15)
_UNICODE_VERSIONS = (23, 36)


def check_header(path: str | os.PathLike[str]) -> PstInfo:
    """Classify a file from its header alone, without libpff: cheap enough for an upload check."""
    size = os.stat(path).st_size
    with open(path, "rb") as handle:
        head = handle.read(0x240)
    if size == 0:
        raise NotAPstError("The file is empty (0 bytes): nothing was uploaded. Please choose the .pst file again.")
    if len(head) < 12 or head[:4] != b"!BDN":
        kind = next((what for magic, what in _OTHER_KINDS if head.startswith(magic)), None)
        if kind is not None:
            raise NotAPstError(f"This is not an Outlook data file (.pst/.ost) but {kind}.")
        raise NotAPstError("This is not an Outlook data file (.pst/.ost): it does not start with the PST signature.")
    client = head[8:10]
    if client == b"AB":
        raise NotAPstError("This is an Outlook personal address book (.pab), not a mailbox file (.pst/.ost).")
    if client not in (b"SM", b"SO"):
        raise NotAPstError("This is not an Outlook mailbox file: its header names an unknown kind of data file.")
    (version,) = struct.unpack_from("<H", head, 10)
    if version not in _ANSI_VERSIONS + _UNICODE_VERSIONS:
        raise NotAPstError(f"This Outlook data file has a format version ({version}) that cannot be read.")
    unicode = version in _UNICODE_VERSIONS
    eof_at, eof_fmt, crypt_at = (0xB8, "<Q", 0x201) if unicode else (0xA8, "<I", 0x1CD)
    if len(head) < crypt_at + 1:
        raise PstTruncatedError(f"The file is truncated: only {size} bytes, not even a whole PST header.")
    (expected,) = struct.unpack_from(eof_fmt, head, eof_at)
    if size < expected:
        raise PstTruncatedError(
            f"The file is truncated: it has {size} bytes but should have {expected}. "
            "The upload or copy was probably interrupted; please send the whole file again."
        )
    encryption = {0: "none", 1: "compressible", 2: "high"}.get(head[crypt_at], "unknown")
    return PstInfo(kind="OST" if client == b"SO" else "PST", unicode=unicode, size=size, encryption=encryption)


def _open_pypff(path: str | os.PathLike[str]) -> Any:
    """Open with libpff, turning its errors into PstCorruptError."""
    handle = pypff.file()
    try:
        handle.open(os.fspath(path))
        handle.get_root_folder()
    except (OSError, MemoryError, ValueError) as exc:
        detail = _libpff_detail(exc)
        if detail == "unable to open file":  # libpff says no more when its index of nodes does not form a tree
            raise PstCorruptError("The Outlook data file is damaged and cannot be read: the index of its folders "
                                  "and items cannot be built (for example, a folder that is inside itself). "
                                  "Outlook's Inbox Repair Tool (scanpst.exe) can repair it; then upload the repaired "
                                  "file.") from exc
        raise PstCorruptError(f"The Outlook data file is damaged and cannot be read ({detail}).") from exc
    return handle


def _has_password(handle: Any) -> bool:
    """PR_PST_PASSWORD (0x67FF) on the message store holds a CRC of the password, 0 when there is none.

    libpff does not check it (the data is not encrypted by it); Outlook does, so we honour it too.
    """
    store = handle.get_message_store()
    if store is None:
        return False
    for index in range(store.get_number_of_record_sets()):
        for entry in store.get_record_set(index).entries:
            if entry.entry_type == PR_PST_PASSWORD and entry.data:
                return any(entry.data[:4])
    return False


# --------------------------------------------------------------------------------------------
# Property decoding (pure)
# --------------------------------------------------------------------------------------------

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_FIXED = {0x0002: "<h", 0x0003: "<i", 0x0004: "<f", 0x0005: "<d", 0x0006: "<q", 0x0007: "<d", 0x000A: "<i",
          0x0014: "<q"}


def filetime_to_datetime(value: int) -> datetime | None:
    """FILETIME (100 ns since 1601) as an aware UTC datetime; None for 0 and Outlook's 'never' dates."""
    if value <= 0 or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def decode_value(value_type: int, data: bytes | None, codepage: str = "cp1252") -> object:
    """A property value as Python: int, float, bool, str, bytes, datetime or a list; None if unreadable."""
    if data is None:
        return None
    if value_type in _FIXED:
        fmt = _FIXED[value_type]
        return struct.unpack_from(fmt, data)[0] if len(data) >= struct.calcsize(fmt) else None
    if value_type == 0x000B:
        return bool(data[:1] != b"\x00") if data else None
    if value_type == 0x001F:
        return data.decode("utf-16-le", "replace").rstrip("\x00")
    if value_type == 0x001E:
        return data.decode(codepage, "replace").rstrip("\x00")
    if value_type == 0x0040:
        return filetime_to_datetime(struct.unpack_from("<q", data)[0]) if len(data) >= 8 else None
    if value_type in (0x0102, 0x0048, 0x00FB, 0x00FD, 0x00FE):
        return data
    if value_type & 0x1000:
        return _decode_multi(value_type & ~0x1000, data, codepage)
    return None


def _decode_multi(base_type: int, data: bytes, codepage: str) -> list[object]:
    """Multi-valued properties: fixed-size values packed, variable ones as count + offsets + data."""
    if base_type in _FIXED or base_type == 0x0040:
        width = 8 if base_type == 0x0040 else struct.calcsize(_FIXED[base_type])
        return [decode_value(base_type, data[i:i + width], codepage) for i in range(0, len(data) - width + 1, width)]
    return [decode_value(base_type, chunk, codepage) for chunk in mm.parse_multi_binary(data)]


def parse_name_map(streams: dict[int, bytes]) -> dict[int, tuple[str, int | str]]:
    """Named-property map (MS-PST 2.4.7): property id 0x8000+ -> (property set GUID, LID or name)."""
    guids, entries, strings = streams.get(2, b""), streams.get(3, b""), streams.get(4, b"")
    out: dict[int, tuple[str, int | str]] = {}
    for offset in range(0, len(entries) - 7, 8):
        ident, guid_and_kind, index = struct.unpack_from("<IHH", entries, offset)
        guid_index = guid_and_kind >> 1
        if guid_index == 1:
            guid = PS_MAPI
        elif guid_index == 2:
            guid = PS_PUBLIC_STRINGS
        elif 16 * (guid_index - 2) <= len(guids):
            guid = str(uuid.UUID(bytes_le=guids[16 * (guid_index - 3):16 * (guid_index - 2)]))
        else:
            continue
        name: int | str = ident
        if guid_and_kind & 1:
            if ident + 4 > len(strings):
                continue
            (length,) = struct.unpack_from("<I", strings, ident)
            name = strings[ident + 4:ident + 4 + length].decode("utf-16-le", "replace")
        out[0x8000 + index] = (guid, name)
    return out


def _key(tag: int, names: dict[int, tuple[str, int | str]]) -> PropKey:
    return names.get(tag, tag) if tag >= 0x8000 else tag


def parse_property_context(node: bytes) -> list[tuple[int, int, bytes | None]]:
    """(tag, value type, raw value) from a Property Context node (MS-PST 2.3.3), best effort.

    pypff gives an embedded message only as this raw node; values kept in sub-nodes (large
    bodies, the recipient and attachment tables) are not reachable and come back as None.
    """
    if len(node) < 12 or node[2] != 0xEC or node[3] != 0xBC:
        raise ValueError("not a property context")
    allocs = _heap_allocations(node)

    def heap(hid: int) -> bytes | None:
        if hid & 0x1F or hid >> 16:
            return None  # a sub-node reference, or a second heap block we do not have
        index = (hid >> 5) & 0x7FF
        return allocs[index - 1] if 0 < index <= len(allocs) else None

    header = heap(struct.unpack_from("<I", node, 4)[0])
    if header is None or len(header) < 8 or header[0] != 0xB5:
        raise ValueError("property context has no BTH header")
    key_size, entry_size, levels = header[1], header[2], header[3]
    records = _bth_leaves(heap, struct.unpack_from("<I", header, 4)[0], levels, key_size, entry_size)
    out: list[tuple[int, int, bytes | None]] = []
    for record in records:
        tag, value_type, hnid = struct.unpack_from("<HHI", record, 0)
        if value_type in (0x0002, 0x0003, 0x0004, 0x000A, 0x000B):
            out.append((tag, value_type, struct.pack("<I", hnid)))
        else:
            out.append((tag, value_type, heap(hnid) if hnid else None))
    return out


def _heap_allocations(node: bytes) -> list[bytes]:
    (page_map,) = struct.unpack_from("<H", node, 0)
    if page_map + 4 > len(node):
        raise ValueError("heap page map is outside the node")
    (count,) = struct.unpack_from("<H", node, page_map)
    offsets = struct.unpack_from(f"<{count + 1}H", node, page_map + 4)
    return [node[offsets[i]:offsets[i + 1]] for i in range(count)]


def _bth_leaves(heap: Any, hid: int, levels: int, key_size: int, entry_size: int) -> list[bytes]:
    block = heap(hid)
    if block is None:
        return []
    if levels == 0:
        width = key_size + entry_size
        return [block[i:i + width] for i in range(0, len(block) - width + 1, width)]
    width = key_size + 4
    leaves: list[bytes] = []
    for i in range(0, len(block) - width + 1, width):
        (child,) = struct.unpack_from("<I", block, i + key_size)
        leaves += _bth_leaves(heap, child, levels - 1, key_size, entry_size)
    return leaves


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------


@dataclass
class _FolderNode:
    folder: PstFolder
    handle: Any = field(repr=False)


class PstReader:
    """An opened, validated PST/OST. Use ``open_pst``; close it (or use ``with``) when done."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.info = check_header(self.path)
        self._file = _open_pypff(self.path)
        try:
            if _has_password(self._file):
                raise PstPasswordProtectedError(
                    "This Outlook data file is password-protected. Remove the password in Outlook "
                    "(File > Account Settings > Data Files > Settings > Change Password) and upload it again."
                )
            self._codepage = self._ascii_codepage()
            self._top_folder()
            self._names = self._read_name_map()
        except OSError as exc:  # the store, its folder tree or its name map: nothing can be read without them
            self.close()
            raise PstCorruptError(f"The Outlook data file is damaged: its message store or folder tree cannot be "
                                  f"read ({_libpff_detail(exc)}).") from None
        except BaseException:
            self.close()
            raise
        self._nodes: dict[int, _FolderNode] = {}
        self._special: dict[int, str] = {}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> PstReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- folders -------------------------------------------------------------------------------

    def folders(self) -> Iterator[PstFolder]:
        """Folders depth-first, parents before children; the top folder itself is path ().

        A damaged folder is still yielded, with what could not be read of it in ``problem`` (its
        name, its list of items or of sub-folders, a sub-folder met a second time: a loop in the
        tree, walked once); everything else of the tree is walked.
        """
        try:
            top = self._top_folder()
        except OSError as exc:
            raise PstCorruptError(f"The Outlook data file is damaged: its folder tree cannot be read "
                                  f"({_libpff_detail(exc)}).") from None
        self._special = {node: _STORE_SPECIAL_USE[tag] for tag, node in self._store_folder_ids().items()
                         if tag in _STORE_SPECIAL_USE}
        yield from self._walk_folders(top, (), int(top.identifier), {int(top.identifier)}, [])

    def _walk_folders(self, handle: Any, path: FolderPath, ident: int, seen: set[int],
                      problems: list[str]) -> Iterator[PstFolder]:
        count = _count(handle, "number_of_sub_messages", "its list of items", problems)
        subs = _count(handle, "number_of_sub_folders", "its list of sub-folders", problems)
        children: list[tuple[Any, int, str, list[str]]] = []
        for index in range(subs):
            try:
                child = handle.get_sub_folder(index)
                child_id = int(child.identifier)
            except OSError as exc:
                problems.append(f"sub-folder {index + 1} of {subs} could not be opened ({_libpff_detail(exc)})")
                continue
            if child_id in seen:
                problems.append(f"sub-folder {index + 1} of {subs} (folder {child_id}) is this folder or one above it "
                                "again (a loop in the folder tree): walked once")
                continue
            if len(path) >= MAX_FOLDER_DEPTH:
                problems.append(f"its sub-folders are more than {MAX_FOLDER_DEPTH} levels deep: not walked")
                break
            seen.add(child_id)
            own: list[str] = []
            try:
                name = child.name or f"Folder {child_id}"
            except OSError as exc:
                name = f"Folder {child_id}"
                own.append(f"its name could not be read ({_libpff_detail(exc)})")
            children.append((child, child_id, name, own))
        try:
            name = "" if path else handle.name or ""
        except OSError:
            name = ""
        folder = PstFolder(path=path, source_id=ident, container_class=self._container_class(handle),
                           item_count=count, name=path[-1] if path else name,
                           problem="; ".join(problems)[:1000] or None, special_use=self._special.get(ident))
        self._nodes[folder.source_id] = _FolderNode(folder, handle)
        yield folder
        for child, child_id, name, own in children:
            yield from self._walk_folders(child, (*path, name), child_id, seen, own)

    def _top_folder(self) -> Any:
        """The IPM subtree ("Top of Personal Folders"), found through the store's entry id."""
        root = self._file.get_root_folder()
        wanted = self._ipm_subtree_id()
        for index in range(root.number_of_sub_folders):
            child = root.get_sub_folder(index)
            if wanted is not None and child.identifier == wanted:
                return child
        for index in range(root.number_of_sub_folders):
            child = root.get_sub_folder(index)
            if (child.name or "").startswith("Top of "):
                return child
        return root

    def _ipm_subtree_id(self) -> int | None:
        return self._store_folder_ids().get(PR_IPM_SUBTREE_ENTRYID)

    def _store_folder_ids(self) -> dict[int, int]:
        """The folders the message store names by entry id (PR_IPM_*_ENTRYID): tag -> node id."""
        store = self._file.get_message_store()
        if store is None:
            return {}
        return {int(entry.entry_type): int(struct.unpack_from("<I", entry.data, 20)[0])
                for entry in store.get_record_set(0).entries
                if 0x35E0 <= entry.entry_type <= 0x35E7 and entry.data and len(entry.data) >= 24}

    def _container_class(self, handle: Any) -> str | None:
        try:
            value = self._props(handle).get(PR_CONTAINER_CLASS)
        except OSError:
            return None
        return value if isinstance(value, str) and value else None

    # -- items ---------------------------------------------------------------------------------

    def items(self, folder: PstFolder) -> Iterator[PstItem]:
        """The folder's items as records; unreadable ones as ItemProblem."""
        node = self._nodes.get(folder.source_id)
        if node is None:
            for _ in self.folders():
                pass
            node = self._nodes.get(folder.source_id)
        if node is None:
            raise KeyError(f"folder {folder.source_id} is not in this file")
        handle = node.handle
        for index in range(node.folder.item_count):  # 0 when the folder's list of items is unreadable
            yield self._read_item(handle, index, folder.path)

    def walk(self) -> Iterator[tuple[PstFolder, PstItem]]:
        """Every item of every folder, with its folder."""
        for folder in self.folders():
            for item in self.items(folder):
                yield folder, item

    def _read_item(self, folder_handle: Any, index: int, path: FolderPath) -> PstItem:
        source_id: int | None = None
        try:
            message = folder_handle.get_sub_message(index)
            source_id = int(message.identifier)
            return self._convert(message, source_id, path)
        except Exception as exc:  # any failure of one item is reported, not raised
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}"
            return ItemProblem(source_id=source_id, folder=path, reason=reason[:500])

    def _convert(self, message: Any, source_id: int, path: FolderPath) -> PstItem:
        props = self._props(message)
        message_class = str(props.get(PR_MESSAGE_CLASS) or "IPM.Note")
        kind = message_class.upper()
        uid = self._uid(props, source_id)
        if kind.startswith("IPM.CONTACT"):
            attachments, unreadable = self._readable_attachments(message)
            photo = next((a for a in attachments if a.contact_photo), None)
            files = [a for a in attachments if a is not photo]
            vcard, notes = with_files(lambda extra: mm.vcard_from_contact(props, uid, photo, extra), files,
                                      VCARD_NAME)
            return ContactRecord(source_id, path, mm.prop_str(props, mm.PR_DISPLAY_NAME) or "",
                                 tuple(mm.contact_emails(props)), vcard, tuple(a.filename for a in files), notes,
                                 unreadable)
        if kind.startswith("IPM.DISTLIST"):
            name = mm.prop_str(props, mm.PR_DISPLAY_NAME) or mm.clean_subject(mm.prop_str(props, mm.PR_SUBJECT))
            return DistListRecord(source_id, path, name, tuple(mm.dist_list_members(props)))
        if kind.startswith("IPM.APPOINTMENT"):
            return self._appointment(message, props, source_id, path, uid)
        if kind.startswith("IPM.TASK") and not kind.startswith("IPM.TASKREQUEST"):
            due = mm.prop_time(props, (mm.PSETID_TASK, 0x8105))
            done = bool(mm.prop_bool(props, (mm.PSETID_TASK, 0x811C)))
            files, unreadable = self._readable_attachments(message)
            ical, notes = with_files(lambda extra: mm.vtodo_from_task(props, uid, extra), files)
            return TaskRecord(source_id, path, mm.clean_subject(mm.prop_str(props, mm.PR_SUBJECT)), due, done,
                              ical, tuple(a.filename for a in files), (*mm.task_notes(props), *notes), unreadable)
        return self._mail(message, props, source_id, path, message_class)

    def _mail(self, message: Any, props: dict[PropKey, object], source_id: int, path: FolderPath,
              message_class: str) -> MailRecord:
        attachments = self._attachments(message)
        mapi = MapiMessage(props=props, recipients=self._recipients(message), attachments=attachments,
                           id_hint=f"{self.path.name}:{source_id}")
        flags = mm.prop_int(props, mm.PR_MESSAGE_FLAGS) or 0
        status = mm.prop_int(props, mm.PR_FLAG_STATUS) or 0
        name, address = mm.sender_of(props)
        return MailRecord(
            source_id=source_id, folder=path, message_class=message_class,
            subject=mm.clean_subject(mm.prop_str(props, mm.PR_SUBJECT)), sender_name=name, sender_address=address,
            sent=mm.prop_time(props, mm.PR_CLIENT_SUBMIT_TIME), received=mm.prop_time(props, mm.PR_DELIVERY_TIME),
            is_read=bool(flags & mm.MSGFLAG_READ), is_draft=bool(flags & mm.MSGFLAG_UNSENT),
            flag={1: "complete", 2: "flagged"}.get(status, "none"),
            attachment_names=tuple(a.filename for a in attachments),
            has_transport_headers=mm.prop_str(props, mm.PR_TRANSPORT_HEADERS) is not None,
            rfc822=mm.build_rfc822(mapi),
        )

    def _appointment(self, message: Any, props: dict[PropKey, object], source_id: int, path: FolderPath,
                     uid: str) -> AppointmentRecord:
        recipients = self._recipients(message)
        organizer = mm.sender_of(props)
        mapi_attachments, unreadable = self._readable_attachments(message)
        exception_items = [a.embedded.props for a in mapi_attachments if a.recurrence_exception and a.embedded]
        attendees = [r for r in recipients if r.address != organizer[1]]
        files = [a for a in mapi_attachments if not a.recurrence_exception]
        ical, notes = with_files(
            lambda extra: mm.vevent_from_appointment(props, uid, organizer, attendees, exception_items, extra), files)
        attachments = tuple(self._appointment_attachment(a) for a in mapi_attachments)
        return AppointmentRecord(
            source_id=source_id, folder=path, subject=mm.clean_subject(mm.prop_str(props, mm.PR_SUBJECT)),
            start=mm.prop_time(props, (mm.PSETID_APPOINTMENT, 0x820D)),
            end=mm.prop_time(props, (mm.PSETID_APPOINTMENT, 0x820E)),
            is_recurring=bool(mm.prop_bool(props, (mm.PSETID_APPOINTMENT, 0x8223))),
            ical=ical, attachments=attachments, notes=notes, unreadable=unreadable,
        )

    @staticmethod
    def _appointment_attachment(att: MapiAttachment) -> PstAttachment:
        if att.embedded is not None:
            data = mm.build_rfc822(att.embedded)
            return PstAttachment(att.filename, "message/rfc822", data, att.recurrence_exception)
        maintype, subtype = mm.mime_type_for(att)
        return PstAttachment(att.filename, f"{maintype}/{subtype}", att.data, att.recurrence_exception)

    # -- pieces of an item ---------------------------------------------------------------------

    def _props(self, item: Any) -> dict[PropKey, object]:
        """The item's first record set as {tag or (guid, name): value}."""
        out: dict[PropKey, object] = {}
        if item.get_number_of_record_sets() == 0:
            return out
        entries = list(item.get_record_set(0).entries)
        page = cp.of_item(_stated_pages(entries)) or self._codepage
        for entry in entries:
            tag = int(entry.entry_type)
            value = decode_value(int(entry.value_type), entry.data, page)
            if value is not None:
                out[_key(tag, self._names)] = value
        return out

    def _recipients(self, message: Any) -> list[Recipient]:
        table = getattr(message, "recipients", None)
        if table is None:
            return []
        out = []
        for index in range(table.get_number_of_record_sets()):
            row: dict[PropKey, object] = {}
            for entry in table.get_record_set(index).entries:
                value = decode_value(int(entry.value_type), entry.data, self._codepage)
                if value is not None:
                    row[int(entry.entry_type)] = value
            out.append(mm.recipient_from_props(row))
        return out

    def _attachments(self, message: Any) -> list[MapiAttachment]:
        if not hasattr(message, "get_number_of_attachments"):
            return []
        return [self._attachment(message.get_attachment(i))
                for i in range(message.get_number_of_attachments())]

    def _readable_attachments(self, message: Any) -> tuple[list[MapiAttachment], tuple[str, ...]]:
        """A contact's, event's or task's attachments that libpff can read, and what it could not: one damaged
        attachment does not cost the item (an e-mail's does: it would arrive without it, unreported)."""
        try:
            count = int(message.get_number_of_attachments())
        except OSError as exc:
            return [], (f"its attachments could not be read ({_libpff_detail(exc)})",)
        readable, unreadable = [], []
        for index in range(count):
            try:
                readable.append(self._attachment(message.get_attachment(index)))
            except (OSError, ValueError) as exc:
                unreadable.append(f"attachment {index + 1} of {count} could not be read ({_libpff_detail(exc)})")
        return readable, tuple(unreadable)

    def _attachment(self, handle: Any) -> MapiAttachment:
        props = self._props(handle)
        method = mm.prop_int(props, PR_ATTACH_METHOD) or ATTACH_BY_VALUE
        name = (mm.prop_str(props, mm.PR_ATTACH_LONG_FILENAME) or mm.prop_str(props, mm.PR_ATTACH_FILENAME)
                or mm.prop_str(props, mm.PR_DISPLAY_NAME) or "attachment")
        mime_type = mm.prop_str(props, mm.PR_ATTACH_MIME_TAG)
        exception = bool((mm.prop_int(props, PR_ATTACHMENT_FLAGS) or 0) & AF_EXCEPTION)
        photo = bool(mm.prop_bool(props, PR_ATTACHMENT_CONTACTPHOTO))
        content_id = mm.prop_str(props, mm.PR_ATTACH_CONTENT_ID)
        if method == ATTACH_EMBEDDED_MSG:
            return MapiAttachment(filename=name, data=b"", mime_type=mime_type, embedded=self._embedded(handle),
                                  recurrence_exception=exception)
        if method not in (ATTACH_BY_VALUE, ATTACH_OLE):
            target = mm.prop_str(props, PR_ATTACH_LONG_PATHNAME) or mm.prop_str(props, PR_ATTACH_PATHNAME) or ""
            return MapiAttachment(filename=name, data=(target + "\r\n").encode(), mime_type="text/uri-list")
        hidden = bool(mm.prop_bool(props, PR_ATTACHMENT_HIDDEN))
        return MapiAttachment(filename=name, data=_read_all(handle), mime_type=mime_type, content_id=content_id,
                              contact_photo=photo, inline=hidden)

    def _embedded(self, handle: Any) -> MapiMessage:
        """An attached message, rebuilt from its raw property node (heap-resident properties only)."""
        props: dict[PropKey, object] = {}
        for tag, value_type, raw in parse_property_context(_read_all(handle)):
            value = decode_value(value_type, raw, self._codepage)
            if value is not None:
                props[_key(tag, self._names)] = value
        return MapiMessage(props=props, id_hint=f"{self.path.name}:embedded:{handle.identifier}")

    def _uid(self, props: dict[PropKey, object], source_id: int) -> str:
        """Stable vCard/iCalendar UID: the item's search key when present, else file name and id."""
        key = mm.prop_bytes(props, mm.PR_SEARCH_KEY)
        seed = key.hex() if key else f"{self.path.name}:{source_id}"
        return hashlib.sha256(seed.encode()).hexdigest()[:32] + "@pst.mailferry"

    def _ascii_codepage(self) -> str:
        """The file's 8-bit code page: the first one its items state, else libpff's (windows-1252).

        libpff is told it too, so the folder names it decodes come out right.
        """
        stated = self._first_stated_codepage()
        if stated is not None and stated != cp.DEFAULT:
            try:
                self._file.set_ascii_codepage(cp.libpff_name(stated))
            except (OSError, ValueError, TypeError):
                pass  # a page libpff does not know: its folder names stay as it decodes them
            return stated
        page = getattr(self._file, "ascii_codepage", None) or "cp1252"
        name = page.decode("ascii", "replace") if isinstance(page, bytes) else str(page)
        name = name.replace("windows-", "cp")
        try:
            "".encode(name)
        except LookupError:
            return "cp1252"
        return name

    def _first_stated_codepage(self, max_folders: int = 200, max_items: int = 50) -> str | None:
        """Look at the first items of the first folders (bounded: this runs for every upload check)."""
        pending = [self._file.get_root_folder()]
        folders = items = 0
        while pending and folders < max_folders and items < max_items:
            folder = pending.pop(0)
            folders += 1
            try:
                count = int(folder.number_of_sub_messages)
                for index in range(min(count, max_items - items)):
                    items += 1
                    message = folder.get_sub_message(index)
                    stated = _stated_pages(message.get_record_set(0).entries) \
                        if message.get_number_of_record_sets() else {}
                    if stated:  # the first item that says anything decides (a Western locale too)
                        return cp.of_item(stated) or cp.DEFAULT
                pending += [folder.get_sub_folder(i) for i in range(int(folder.number_of_sub_folders))]
            except OSError:
                continue  # an unreadable folder or item says nothing about the code page
        return None

    def _read_name_map(self) -> dict[int, tuple[str, int | str]]:
        item = self._file.get_name_to_id_map()
        if item is None or item.get_number_of_record_sets() == 0:
            return {}
        streams = {int(e.entry_type): e.data or b"" for e in item.get_record_set(0).entries
                   if int(e.entry_type) in (2, 3, 4)}
        return parse_name_map(streams)


def _libpff_detail(exc: BaseException) -> str:
    """libpff's own words for a failure: its innermost reason (the last sentence), kept short."""
    parts = [p.strip(" .") for p in str(exc).split(". ") if p.strip(" .")]
    inner = parts[1] if len(parts) > 1 else parts[0] if parts else type(exc).__name__  # after pypff's own
    return inner.split(": ", 1)[-1][:200]  # without the function's name


def _count(handle: Any, attribute: str, what: str, problems: list[str]) -> int:
    """A folder's number of items or sub-folders; 0, with the problem noted, when libpff cannot read it."""
    try:
        return int(getattr(handle, attribute))
    except OSError as exc:
        problems.append(f"{what} could not be read ({_libpff_detail(exc)})")
        return 0


def _stated_pages(entries: Any) -> dict[int, int]:
    """PR_MESSAGE_CODEPAGE and PR_MESSAGE_LOCALE_ID from a record set's entries, those present."""
    out = {}
    for entry in entries:
        tag = int(entry.entry_type)
        if tag in (cp.PR_MESSAGE_CODEPAGE, cp.PR_MESSAGE_LOCALE_ID) and int(entry.value_type) == 0x0003:
            data = entry.data or b""
            if len(data) >= 4:
                out[tag] = struct.unpack_from("<I", data)[0]
    return out


def _read_all(handle: Any) -> bytes:
    """An attachment's data, read in 1 MiB chunks so large files do not need one huge libpff read."""
    size = int(handle.get_size() or 0)
    handle.seek_offset(0, os.SEEK_SET)
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = handle.read_buffer(min(_READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def item_file(att: MapiAttachment) -> ItemAttachment:
    """An attachment of a contact, appointment or task as the neutral formats carry it: an attached message
    becomes an ``.eml`` file (what the Graph target does with one on an e-mail), a link its ``text/uri-list``."""
    if att.embedded is not None:
        name = safe_name(att.filename, "attached message")
        name = name if name.lower().endswith((".eml", ".msg")) else f"{name}.eml"
        return ItemAttachment(name, "message/rfc822", mm.build_rfc822(att.embedded))
    maintype, subtype = mm.mime_type_for(att)
    return ItemAttachment(safe_name(att.filename), f"{maintype}/{subtype}", att.data,
                          content_id=(att.content_id or "").strip("<> ") or None, inline=att.inline)


def with_files(build: Callable[[Sequence[str]], str], files: Sequence[MapiAttachment],
               line_name: str = "ATTACH") -> tuple[str, tuple[str, ...]]:
    """The item's text with its attachments' lines (built again only when it has some), and the report's notes
    for those one record cannot hold."""
    bare = build(())
    if not files:
        return bare, ()
    extra: list[str] = []
    notes = carry_attachments(extra, [item_file(a) for a in files], payload_size(bare), line_name)
    return (build(extra) if extra else bare), tuple(notes)


def open_pst(path: str | os.PathLike[str]) -> PstReader:
    """Validate and open a PST/OST; raises a PstError subclass with a plain-words message."""
    return PstReader(path)


def check_pst(path: str | os.PathLike[str]) -> PstInfo:
    """Full acceptance check for an upload: header, libpff open, password. Returns the header info."""
    with open_pst(path) as reader:
        return reader.info
