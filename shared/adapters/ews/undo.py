"""Undo on an Exchange target: the folders and inbox rules a migration created, and the auto-reply as it was.

Each function says what it could not put back and why, instead of counting a refusal as
done: a folder is deleted only while it is empty (the user may have filed mail into it
since), a rule or folder already gone counts as removed, and the auto-reply gets back its
recorded state *and* its recorded schedule, whatever the state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from exchangelib import Account, EWSDateTime
from exchangelib.errors import ErrorFolderNotFound, ErrorItemNotFound, ErrorServerBusy, ResponseMessageError
from exchangelib.folders import Folder, FolderCollection
from exchangelib.items import HARD_DELETE
from exchangelib.properties import ItemId, Rule
from exchangelib.services import DeleteFolder
from exchangelib.settings import OofSettings

from shared.adapters.ews.paths import KEY_SEP
from shared.adapters.ports import Removal
from shared.counted import counted
from shared.errors import Throttled, Transient
from shared.events import CreatedThing
from shared.formats.settings import AutoReply, auto_reply_to_ews

GONE = (ErrorFolderNotFound, ErrorItemNotFound)


def delete_created_folder(account: Account, name: str, ref: str) -> str:
    """Delete a folder the migration created if it is empty; returns why it was kept, or "" when it is gone.

    The folder is read by its id whatever its class (a mail folder comes back as exchangelib's
    ``Messages``), and deleted by that id: nothing else can be hit by a folder of the same name.
    """
    label = name.replace(KEY_SEP, "/")
    if not ref:
        return f"{label} was kept: the migration recorded no Exchange id for it"
    try:
        found = list(FolderCollection(account=account, folders=[Folder(root=account.root, id=ref)]).resolve())
    except ErrorServerBusy as exc:
        raise Throttled(f"Exchange is busy: {exc}") from None
    folder = found[0] if len(found) == 1 else ErrorFolderNotFound(f"{len(found)} folders answered")
    if isinstance(folder, GONE):
        return ""
    if isinstance(folder, Exception):
        return f"{label} was kept: Exchange did not let mailferry read it ({type(folder).__name__}: {folder})"
    if folder.total_count:
        return f"{label} was kept: it holds {counted(folder.total_count, 'item')} that the migration did not put there"
    if folder.child_folder_count:
        return f"{label} was kept: it has subfolders that the migration did not create"
    try:
        DeleteFolder(account=account).get(folders=[folder], delete_type=HARD_DELETE)
    except GONE:
        return ""
    except ErrorServerBusy as exc:
        raise Throttled(f"Exchange is busy: {exc}") from None
    except ResponseMessageError as exc:
        return f"{label} was kept: Exchange refused to delete it ({type(exc).__name__}: {exc})"
    return ""


def remove_rules(account: Account, refs: Sequence[str]) -> tuple[int, list[str]]:
    """Delete the inbox rules the migration created: (removed or already gone, why others were kept)."""
    if not refs:
        return 0, []
    try:
        present = {str(r.id) for r in account.rules}
    except ErrorServerBusy as exc:
        raise Throttled(f"Exchange is busy: {exc}") from None
    removed, kept = 0, []
    for ref in refs:
        if ref not in present:
            removed += 1  # deleted by an earlier run of this undo, or by the user
            continue
        try:
            account.delete_rule(Rule(id=ref))
        except ErrorServerBusy as exc:
            raise Throttled(f"Exchange is busy: {exc}") from None
        except ResponseMessageError as exc:
            kept.append(f"an inbox rule was kept: Exchange refused to delete it ({type(exc).__name__}: {exc})")
            continue
        removed += 1
    return removed, kept


def _when(text: str | None) -> EWSDateTime | None:
    return EWSDateTime.from_datetime(datetime.fromisoformat(text)) if text else None


def previous_oof(model: AutoReply) -> OofSettings:
    """The auto-reply as recorded, with its schedule even when it was not the active state (Exchange keeps
    the start and end of a disabled or always-on auto-reply, and shows them again when it is scheduled)."""
    oof = auto_reply_to_ews(model)
    if model.start and model.end:
        oof.start, oof.end = _when(model.start), _when(model.end)
    return oof


def restore_auto_reply(account: Account, previous: str | None) -> str:
    """Put back the recorded auto-reply; returns why it could not be, or ""."""
    if previous is None:
        return ""
    try:
        account.oof_settings = previous_oof(AutoReply.from_json(previous))
    except ErrorServerBusy as exc:
        raise Throttled(f"Exchange is busy: {exc}") from None
    except (ValueError, ResponseMessageError) as exc:
        return f"the auto-reply was not restored: {type(exc).__name__}: {exc}"
    return ""


def remove_refs(account: Account, refs: Sequence[str], batch: int = 100) -> int:
    """Hard-delete exactly these items; already gone counts as done."""
    removed = 0
    for i in range(0, len(refs), batch):
        part = [ItemId(id=r) for r in refs[i:i + batch]]
        for r in account.bulk_delete(ids=part, delete_type="HardDelete"):
            if r is True or isinstance(r, ErrorItemNotFound):
                removed += 1 if r is True else 0
            elif isinstance(r, Exception):
                raise Transient(f"Exchange did not delete an item: {r}")
    return removed


class EwsUndo:
    """The :class:`~shared.adapters.ports.Undo` of an Exchange mailbox."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def remove(self, things: Sequence[CreatedThing], batch: int) -> Iterator[Removal]:
        by_uid: dict[str, int] = {}
        refs: list[str] = []
        for t in things:
            if t.ref:
                refs.append(t.ref)
            else:
                by_uid[t.target_folder] = by_uid.get(t.target_folder, 0) + 1
        for folder, n in by_uid.items():
            yield Removal(n, 0, (f"{counted(n, 'message')} recorded by IMAP UID in {folder} were left: "
                                 "the target is not an IMAP account",))
        for i in range(0, len(refs), batch):
            part = refs[i:i + batch]
            yield Removal(len(part), remove_refs(self.account, part))

    def remove_folders(self, folders: Sequence[CreatedThing]) -> Iterator[Removal]:
        refs = {f.target_folder: f.ref for f in folders}
        for name in sorted(refs, key=lambda f: (-f.count(KEY_SEP), f)):
            why = delete_created_folder(self.account, name, refs[name])
            yield Removal(1, 0 if why else 1, (why,) if why else ())

    def restore(self, settings: Sequence[CreatedThing]) -> Iterator[Removal]:
        rules = [s.ref for s in settings if s.kind == "rule"]
        if rules:
            removed, kept = remove_rules(self.account, rules)
            yield Removal(len(rules), removed, tuple(kept))
        oldest: dict[str, CreatedThing] = {}
        for rec in settings:  # the oldest record's previous value is what was there before
            if rec.kind == "setting":
                oldest.setdefault(rec.name, rec)
        for name, rec in oldest.items():
            why = (restore_auto_reply(self.account, rec.previous) if name == "auto_reply"
                   else f"the setting {name!r} cannot be restored by this version")
            yield Removal(1, 0 if why else 1, (why,) if why else ())
        scripts = {s.name for s in settings if s.kind == "sieve_script"}
        if scripts:
            yield Removal(len(scripts), 0, ("the Sieve scripts were left: the target has no ManageSieve",))

    def close(self) -> None:
        self.account.protocol.close()
