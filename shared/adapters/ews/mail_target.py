"""Exchange (EWS) target adapter for e-mail, with the same shape as the IMAP one.

A neutral path's special root (``INBOX``, ``\\Sent``…) becomes the mailbox's
well-known folder of that role, whatever its localized name; other folders go
under the message folder root. Messages are created from their MIME bytes with
read, follow-up (flagged or complete), draft and replied/forwarded state, categories from keywords
(:mod:`shared.formats.keywords`; the flags Exchange cannot keep, ``\\Deleted`` among them, go to the report)
and their received/sent dates set through the MAPI properties Exchange keeps them in. Every created item and
folder is named by its Exchange id in the undo record. The other item kinds are written by
:mod:`shared.adapters.ews.item_target`, undone by :mod:`shared.adapters.ews.undo`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account, EWSDateTime, Message
from exchangelib.errors import ErrorFolderExists, ErrorFolderSavePropertyError, ErrorServerBusy, TransportError
from exchangelib.folders import Folder

from shared import folder_map
from shared.adapters.ews import fields as _fields  # noqa: F401 - the MAPI properties it writes are registered
from shared.adapters.ews.paths import KEY_SEP
from shared.adapters.mail_batches import ensure_each, write_mail
from shared.adapters.ports import Announce, Outgoing, Placed, PlacementSink, WriteContext
from shared.adapters.records import MailRecord
from shared.errors import ItemRejected, Throttled
from shared.folder_map import INBOX
from shared.formats.keywords import categories, follow_up, last_verb, left_out_by_exchange
from shared.mail_dates import date_field

#: The longest folder name exchangelib sends (Exchange's DisplayName limit, in characters); a longer one is
#: refused here, unsent, with the same consequence as Exchange's own refusal.
MAX_FOLDER_NAME: int = Folder.get_field_by_fieldname("name").max_length

MSGFLAG_READ = 0x1
MSGFLAG_UNSENT = 0x8


def mapi_state(flags: Sequence[str]) -> tuple[bool, int | None, int]:
    """IMAP flags → (is_read, follow-up flag: flagged, complete or None, PR_MESSAGE_FLAGS)."""
    lowered = {f.lower() for f in flags}
    read = "\\seen" in lowered
    value = (MSGFLAG_READ if read else 0) | (MSGFLAG_UNSENT if "\\draft" in lowered else 0)
    return read, follow_up(flags), value


def sent_date(data: bytes) -> datetime | None:
    """The Date: header, for Exchange's "sent" time (the received time is INTERNALDATE)."""
    when = date_field(data)
    return when.astimezone(UTC) if when is not None else None


class NameTooLong(ValueError):
    """A folder name longer than Exchange takes: not sent (exchangelib would refuse to)."""


def exchange_words(exc: Exception) -> str:
    """Exchange's refusal with its response code; our own (a name too long to send) as it is."""
    return str(exc) if isinstance(exc, NameTooLong) else f"{type(exc).__name__}: {exc}"


class EwsTarget:
    """A mailbox's e-mail target (:class:`~shared.adapters.ports.MailTarget`), and its folders by neutral
    path for the item target (a rule may move mail into a folder the mailbox lacks)."""

    delimiter = KEY_SEP

    def __init__(self, account: Account) -> None:
        self.account = account
        self._folders: dict[str, Folder] = {}
        self.specials = self._special_folders()

    def _special_folders(self) -> dict[str, Folder]:
        acc = self.account
        found = {INBOX: acc.inbox, "\\Sent": acc.sent, "\\Drafts": acc.drafts, "\\Trash": acc.trash,
                 "\\Junk": acc.junk}
        for f in acc.msg_folder_root.children:  # no well-known id: Outlook's archive folder goes by its name
            if f.name and folder_map.well_known_use(f.name) == "\\Archive":
                found["\\Archive"] = f
                break
        return found

    def folder_name(self, path: Sequence[str]) -> str:
        return KEY_SEP.join(path)

    def folder_key(self, path: Sequence[str]) -> str:
        """Exchange compares folder names without regard to case (case-folded here: a little wider than Exchange,
        never narrower); a special root is the mailbox's folder of that use, by its (localized) name, which an
        ordinary folder of that name would also land in."""
        head = path[0]
        use, own = (INBOX, INBOX) if head == INBOX else folder_map.parse_root(head)
        special = self.specials.get(use) if use else None
        root = special.name if special is not None and special.name else own
        return KEY_SEP.join([root, *path[1:]]).casefold()

    def folder_ref(self, name: str) -> str:
        folder = self._folders.get(name)
        return folder.id if folder is not None else ""

    def folder(self, name: str) -> Folder:
        """A folder made or found by :meth:`ensure_folder`."""
        return self._folders[name]

    def _child(self, parent: Folder, name: str) -> Folder | None:
        for child in parent.children:
            if child.name and child.name.lower() == name.lower():
                return child  # type: ignore[no-any-return]
        return None

    def ensure_folders(self, names: Sequence[str], announce: Announce | None = None) -> list[str]:
        """Every folder and its parents. A name Exchange will not save (ErrorFolderSavePropertyError), or one
        too long to send, costs only that folder and those below it (:func:`ensure_each`). Folders are recorded
        by the id the create gives, so nothing is announced before it."""
        return ensure_each(names, self._ensure, (ErrorFolderSavePropertyError, NameTooLong), "Exchange",
                           exchange_words)

    def ensure_folder(self, name: str) -> list[str]:
        """Find or create every level; returns the keys of the folders actually created."""
        created: list[str] = []
        self._ensure(name, created)
        return created

    def _ensure(self, name: str, created: list[str]) -> None:
        """:meth:`ensure_folder`, adding each folder to ``created`` as soon as it is made (a refusal further
        down the path still leaves the parents made before it on the record, for undo)."""
        if name in self._folders:
            return
        parts = name.split(KEY_SEP)
        head = parts[0]
        use, own = (INBOX, INBOX) if head == INBOX else folder_map.parse_root(head)
        parent = self.specials.get(use) if use else None
        key = head
        if parent is None:  # an ordinary folder, or a special one this mailbox has no folder for: its own name
            parent, made = self._get_or_create(self.account.msg_folder_root, own)
            if made:
                created.append(key)
        self._folders[key] = parent
        for part in parts[1:]:
            key = f"{key}{KEY_SEP}{part}"
            parent, made = self._get_or_create(parent, part)
            self._folders[key] = parent
            if made:
                created.append(key)

    def _get_or_create(self, parent: Folder, name: str) -> tuple[Folder, bool]:
        existing = self._child(parent, name)
        if existing is not None:
            return existing, False
        if len(name) > MAX_FOLDER_NAME:
            raise NameTooLong(f"a folder name takes at most {MAX_FOLDER_NAME} characters, this one has {len(name)}")
        folder = Folder(parent=parent, name=name, folder_class="IPF.Note")
        try:
            folder.save()
        except ErrorFolderExists:
            parent.refresh()
            found = self._child(parent, name)
            if found is None:
                raise
            return found, False
        return folder, True

    def _message(self, folder: Folder, msg: Outgoing) -> Message:
        read, flag, mapi = mapi_state(msg.flags)
        when = EWSDateTime.from_datetime(msg.internaldate.astimezone(UTC))
        fields: dict[str, Any] = {"is_read": read, "delivery_time": when, "message_flags": mapi}
        sent = sent_date(msg.data)
        if sent is not None:
            fields["submit_time"] = EWSDateTime.from_datetime(sent)
        if flag is not None:
            fields["flag"] = flag
        cats = categories(msg.flags)
        if cats:
            fields["categories"] = cats
        verb = last_verb(msg.flags)
        if verb is not None:
            fields["last_verb"], fields["icon_index"] = verb
        return Message(account=self.account, folder=folder, mime_content=msg.data, **fields)

    def write(self, records: Sequence[MailRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        write_mail(self, records, ctx, sink)

    def append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """EWS answers each CreateItem in turn (its connection pool gives the parallelism)."""
        return [self.append_many(folder, msgs) for folder, msgs in jobs]

    def append_many(self, folder: str, msgs: Sequence[Outgoing]) -> list[Placed | ItemRejected]:
        target = self._folders[folder]
        built: list[Message | ItemRejected] = []
        for m in msgs:
            try:
                built.append(self._message(target, m))
            except Exception as exc:  # pure conversion of this message: it alone fails, not its batch
                built.append(ItemRejected(f"the message could not be converted for Exchange: {type(exc).__name__}: "
                                          f"{exc}"[:300]))
        items = [b for b in built if isinstance(b, Message)]
        try:
            created = iter(self.account.bulk_create(folder=target, items=items) if items else [])
        except (ErrorServerBusy, TransportError) as exc:
            raise Throttled(f"Exchange is busy: {exc}") from None
        results = [b if isinstance(b, ItemRejected) else next(created) for b in built]
        out: list[Placed | ItemRejected] = []
        for m, r in zip(msgs, results, strict=True):
            if isinstance(r, ItemRejected):
                out.append(r)
            elif isinstance(r, Exception):
                out.append(ItemRejected(f"Exchange refused the message: {type(r).__name__}: {r}"[:300]))
            else:
                out.append(Placed(folder=folder, uidvalidity=0, uid=0, ref=r.id,
                                  not_kept=left_out_by_exchange(m.flags)))
        return out

    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """An item with the same Message-ID and received time (a create whose answer was lost)."""
        if not msg.message_id:
            return None
        target = self._folders[folder]
        want = int(msg.internaldate.timestamp())
        for item in target.filter(message_id=msg.message_id).only("id", "datetime_received"):
            if item.id in exclude:
                continue
            received = item.datetime_received
            if received is not None and int(received.timestamp()) == want:
                return Placed(folder=folder, uidvalidity=0, uid=0, ref=item.id,
                              not_kept=left_out_by_exchange(msg.flags))
        return None

    def close(self) -> None:
        self.account.protocol.close()

