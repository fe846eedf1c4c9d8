"""What an undo has to do, from a migration's undo records. Pure code.

The records come from the migration's undo index in creation order and may repeat (a batch
redelivered after a crash records what it found again). The plan holds each thing once, in the
order it was created, sorted into what is removed (messages and items), the folders (removed only
when empty, by the target's undo, deepest first) and the settings (inbox rules removed, settings
and Sieve scripts put back: every record is kept, since the *oldest* one holds what was there
before). Its total counts each of them once, and is what undo progress counts up to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from shared.events import CreatedThing


@dataclass(frozen=True)
class UndoPlan:
    things: list[CreatedThing]  # messages and items, each once (by the target's id, or folder+UIDVALIDITY+UID)
    folders: list[CreatedThing]  # each folder once
    settings: list[CreatedThing]  # inbox rules (each once), settings and Sieve scripts (every record, in order)
    keys_to_forget: list[str]  # the ledger keys of what is undone: a later run may copy them again
    total: int  # things + folders + rules + one per setting or script name


def _identity(rec: CreatedThing) -> tuple[str, ...]:
    if rec.kind == "folder":
        return ("folder", rec.target_folder)
    if rec.ref:
        return ("ref", rec.ref)
    return ("uid", rec.target_folder, str(rec.uidvalidity), str(rec.uid))


def build_plan(records: Sequence[str]) -> UndoPlan:
    """The plan of the undo records (JSON, as the undo index holds them)."""
    things: list[CreatedThing] = []
    folders: list[CreatedThing] = []
    settings: list[CreatedThing] = []
    keys: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    names: set[tuple[str, str]] = set()
    rules = 0
    for raw in records:
        rec = CreatedThing.model_validate(json.loads(raw))
        if rec.kind in ("setting", "sieve_script"):
            settings.append(rec)
            names.add((rec.kind, rec.name))
            if rec.item_key:
                keys.add(rec.item_key)
            continue
        if rec.kind in ("item", "rule") and not rec.ref:
            continue  # nothing on the target was named
        identity = _identity(rec)
        if rec.kind == "folder":  # each once; the record with the id the create gave, where there is one
            if identity not in seen:
                seen.add(identity)
                folders.append(rec)
            elif rec.ref:
                folders[:] = [rec if f.target_folder == rec.target_folder and not f.ref else f for f in folders]
            continue
        if identity in seen:
            continue
        seen.add(identity)
        if rec.item_key:
            keys.add(rec.item_key)
        if rec.kind == "rule":
            settings.append(rec)
            rules += 1
        else:
            things.append(rec)
    return UndoPlan(things, folders, settings, sorted(keys), len(things) + len(folders) + rules + len(names))
