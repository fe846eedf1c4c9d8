"""Undo on an IMAP target: messages by their recorded UID, folders only when empty, Sieve scripts put back.

A message is removed only from its recorded folder and only while that folder's UIDVALIDITY is the
recorded one (a re-created folder holds other messages under the same UIDs). A folder goes only when
it holds no message and no subfolder the migration did not put there. Sieve scripts are restored over
the account's ManageSieve (:mod:`shared.adapters.sieve.undo`). What was recorded by another kind of
target (an Exchange id, an inbox rule, the auto-reply) is left, and said so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from shared.adapters.imap.errors import translated
from shared.adapters.imap.target import ImapTarget
from shared.adapters.ports import Removal
from shared.adapters.sieve.client import ManageSieve
from shared.adapters.sieve.undo import restore_scripts
from shared.counted import counted
from shared.events import CreatedThing


class ImapUndo:
    """The :class:`~shared.adapters.ports.Undo` of an IMAP account; ``open_sieve`` logs into its ManageSieve."""

    def __init__(self, target: ImapTarget, open_sieve: Callable[[], ManageSieve] | None = None) -> None:
        self.target = target
        self.client = target.client
        self.open_sieve = open_sieve
        self._closed = False

    def remove(self, things: Sequence[CreatedThing], batch: int) -> Iterator[Removal]:
        by_folder: dict[tuple[str, int], list[int]] = {}
        foreign = 0
        for t in things:
            if t.kind == "message" and not t.ref:
                by_folder.setdefault((t.target_folder, t.uidvalidity), []).append(t.uid)
            else:
                foreign += 1
        for (folder, uidvalidity), uids in by_folder.items():
            removed, why = self.remove_messages(folder, uidvalidity, uids, batch)
            yield Removal(len(uids), removed, (why,) if why else ())
        if foreign:
            yield Removal(foreign, 0, (f"{counted(foreign, 'item')} recorded by Exchange id were left: "
                                       "the target is not Exchange",))

    @translated("the removal of messages")
    def remove_messages(self, folder: str, uidvalidity: int, uids: Sequence[int], batch: int = 500) -> tuple[int, str]:
        """Delete exactly these UIDs (never anything else); returns (removed, why some were kept)."""
        client = self.client
        if not client.folder_exists(folder):
            return 0, ""
        info = client.select_folder(folder)
        if int(info[b"UIDVALIDITY"]) != uidvalidity:
            return 0, (f"{folder} was re-created on the target since the migration (UIDVALIDITY changed); "
                       "its messages are not the ones mailferry copied and were left alone")
        if not self.target.uidplus:
            return 0, f"the target cannot expunge single messages (no UIDPLUS); {folder} was left as it is"
        removed = 0
        for i in range(0, len(uids), batch):
            part = list(uids[i:i + batch])
            present = client.search(["UID", ",".join(str(u) for u in part)])
            if present:
                client.add_flags(present, [b"\\Deleted"], silent=True)
                client.uid_expunge(present)
                removed += len(present)
        # UNSELECT, not CLOSE: CLOSE would expunge the user's own \\Deleted messages too.
        if client.has_capability("UNSELECT"):
            client.unselect_folder()
        else:
            client.select_folder("INBOX", readonly=True)
        return removed, ""

    def remove_folders(self, folders: Sequence[CreatedThing]) -> Iterator[Removal]:
        delimiter = self.target.delimiter
        for name in sorted({f.target_folder for f in folders}, key=lambda f: (-f.count(delimiter), f)):
            why = self.delete_folder_if_empty(name)
            if why is None:  # not there: announced but refused by the target, or removed since
                yield Removal(1, 0, ())
                continue
            yield Removal(1, 0 if why else 1, (why,) if why else ())

    @translated("the removal of a folder")
    def delete_folder_if_empty(self, name: str) -> str | None:
        """Delete a folder the migration created; returns why it was kept, "" once deleted, None if it was
        not there."""
        client = self.client
        if not client.folder_exists(name):
            return None
        held = int(client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"])
        if held:
            return f"{name} was kept: it holds {counted(held, 'message')} that the migration did not put there"
        if client.list_folders(pattern=f"{name}{self.target.delimiter}%"):
            return f"{name} was kept: it has subfolders that the migration did not create"
        client.delete_folder(name)
        self.target.existing.discard(name)
        return ""

    def restore(self, settings: Sequence[CreatedThing]) -> Iterator[Removal]:
        rules = [s for s in settings if s.kind == "rule"]
        if rules:
            yield Removal(len(rules), 0, (f"{len(rules)} Exchange rules were left: the target is not Exchange",))
        for name in dict.fromkeys(s.name for s in settings if s.kind == "setting"):
            yield Removal(1, 0, (f"the setting {name!r} was left: the target is not Exchange",))
        scripts = [s for s in settings if s.kind == "sieve_script"]
        if not scripts:
            return
        names = len({s.name for s in scripts})
        if self.open_sieve is None:
            yield Removal(names, 0, ("the Sieve scripts were left: the target has no ManageSieve",))
            return
        # The undo holds one lease on the session caps (the loader's): the IMAP session, done with (settings
        # come last), ends before the ManageSieve one opens, so the server never has both at once.
        self.close()
        sieve = self.open_sieve()
        try:
            restored = restore_scripts(sieve, scripts)
        finally:
            sieve.logout()
        yield Removal(names, restored)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.target.close()
