"""Undo on a memory account: what a migration recorded, removed or put back; what a user added, kept."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.adapters.memory.account import DELIMITER, MemoryAccount
from shared.adapters.ports import Removal
from shared.counted import counted
from shared.events import CreatedThing


class MemoryUndo:
    def __init__(self, account: MemoryAccount) -> None:
        self.account = account

    def remove(self, things: Sequence[CreatedThing], batch: int) -> Iterator[Removal]:
        acc = self.account
        for i in range(0, len(things), batch):
            acc.step("remove")
            part = things[i:i + batch]
            removed, kept = 0, []
            for t in part:
                if t.ref:
                    removed += acc.items.pop(t.ref, None) is not None
                    continue
                f = acc.folders.get(t.target_folder)
                if f is None:
                    continue
                if f.uidvalidity != t.uidvalidity:
                    kept.append(f"{t.target_folder} was re-created since the migration; its messages were left")
                    continue
                removed += f.messages.pop(t.uid, None) is not None
            yield Removal(len(part), removed, tuple(dict.fromkeys(kept)))

    def remove_folders(self, folders: Sequence[CreatedThing]) -> Iterator[Removal]:
        acc = self.account
        for name in sorted({f.target_folder for f in folders}, key=lambda n: (-n.count(DELIMITER), n)):
            f = acc.folders.get(name)
            if f is None:  # not there: announced but refused, or removed since
                yield Removal(1, 0)
            elif f.messages:
                held = counted(len(f.messages), "message")
                yield Removal(1, 0, (f"{name} was kept: it holds {held} that the migration did not put there",))
            elif any(other.startswith(name + DELIMITER) for other in acc.folders):
                yield Removal(1, 0, (f"{name} was kept: it has subfolders that the migration did not create",))
            else:
                del acc.folders[name]
                yield Removal(1, 1)

    def restore(self, settings: Sequence[CreatedThing]) -> Iterator[Removal]:
        acc = self.account
        acc.step("restore")
        rules = [s.ref for s in settings if s.kind == "rule"]
        if rules:
            yield Removal(len(rules), sum(acc.items.pop(r, None) is not None for r in rules))
        oldest: dict[str, CreatedThing] = {}
        for rec in settings:
            if rec.kind == "setting":
                oldest.setdefault(rec.name, rec)
        for name, rec in oldest.items():
            if rec.previous is None:
                acc.settings.pop(name, None)
            else:
                acc.settings[name] = rec.previous
            yield Removal(1, 1)
        scripts = {s.name for s in settings if s.kind == "sieve_script"}
        if scripts:
            yield Removal(len(scripts), 0, ("the Sieve scripts were left: a memory account keeps none",))

    def close(self) -> None:
        return None
