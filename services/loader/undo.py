"""Undo: remove exactly what a migration created and put back every setting it changed.

The plan comes from the migration's undo index (its undo records, in creation
order). Messages are removed by their recorded UID in their recorded folder, and
only if the folder's UIDVALIDITY is still the recorded one; folders the migration
created are removed only when empty; Sieve scripts get their previous content
and the previously active script back. Running it twice changes nothing more.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared import topics
from shared.adapters.ports import ScriptUndo, Undo
from shared.credentials import UNDO_SEAL_SIDE, CredentialStore
from shared.errors import ConnectionCheckFailed, SecretUnavailable
from shared.events import CreatedThing, UndoFinished, UndoProgress
from shared.kafka_edge import EventProducer
from shared.ledger import Ledger

log = logging.getLogger(__name__)


@dataclass
class UndoPlan:
    messages: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    message_refs: list[str] = field(default_factory=list)
    message_keys: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    folder_refs: dict[str, str] = field(default_factory=dict)
    scripts: list[CreatedThing] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    settings: list[CreatedThing] = field(default_factory=list)

    @property
    def script_names(self) -> int:
        return len({s.name for s in self.scripts})

    @property
    def setting_names(self) -> int:
        return len({s.name for s in self.settings})

    @property
    def total(self) -> int:
        """Every thing undo removes or puts back, each counted once (records repeat after a redelivery)."""
        return (sum(len(u) for u in self.messages.values()) + len(self.message_refs) + len(self.folders)
                + self.script_names + len(self.rules) + self.setting_names)


def build_plan(records: Sequence[str], delimiter: str = "/") -> UndoPlan:
    """Pure: de-duplicated (records may repeat after a redelivery), folders deepest first."""
    uids: dict[tuple[str, int], set[int]] = defaultdict(set)
    refs: dict[str, None] = {}
    keys: list[str] = []
    folders: list[str] = []
    folder_refs: dict[str, str] = {}
    scripts: list[CreatedThing] = []
    rules: dict[str, None] = {}
    settings: list[CreatedThing] = []
    for raw in records:
        rec = CreatedThing.model_validate(json.loads(raw))
        if rec.kind == "message":
            if rec.ref:
                refs[rec.ref] = None
            else:
                uids[(rec.target_folder, rec.uidvalidity)].add(rec.uid)
            if rec.item_key:
                keys.append(rec.item_key)
        elif rec.kind == "folder" and rec.target_folder not in folders:
            folders.append(rec.target_folder)
            if rec.ref:
                folder_refs[rec.target_folder] = rec.ref
        elif rec.kind == "sieve_script":
            scripts.append(rec)
        elif rec.kind == "item" and rec.ref:
            refs[rec.ref] = None
            keys.append(rec.item_key)
        elif rec.kind == "rule" and rec.ref:
            rules[rec.ref] = None
            keys.append(rec.item_key)
        elif rec.kind == "setting":
            settings.append(rec)
            keys.append(rec.item_key)
    folders.sort(key=lambda f: (-f.count(delimiter), f))
    return UndoPlan({k: sorted(v) for k, v in uids.items()}, list(refs), sorted(set(keys)), folders, folder_refs,
                    scripts, list(rules), settings)


@dataclass
class UndoRunner:
    """Carries out a plan through the target's Undo port; reports progress through ``emit``.

    Each step adds to ``done`` exactly what it adds to the plan's total, whatever the outcome
    (removed, already gone, or kept with a reason), so progress never passes the total and
    reaches it at the end; a re-run after a crash starts again from zero against the same total.
    """

    mid: str
    target: Undo
    emit: Callable[[UndoProgress], None]
    batch: int = 500
    kept: list[str] = field(default_factory=list)
    done: int = 0
    total: int = 0

    def _advance(self, n: int) -> None:
        self.done += n
        self.emit(UndoProgress(migration_id=self.mid, done=self.done, total=self.total, kept=len(self.kept)))

    def _keep(self, why: str) -> None:
        if why:
            self.kept.append(why)

    def run(self, plan: UndoPlan, open_scripts: Callable[[], ScriptUndo] | None) -> UndoFinished:
        self.done, self.total = 0, plan.total
        removed_messages = self._messages(plan)
        removed_folders = self._folders(plan)
        restored = self._settings(plan) + self._scripts(plan, open_scripts)
        self._advance(0)
        return UndoFinished(migration_id=self.mid, ok=True, removed_messages=removed_messages,
                            removed_folders=removed_folders, restored_settings=restored, kept=self.kept)

    def _messages(self, plan: UndoPlan) -> int:
        removed = 0
        for (folder, uidvalidity), uids in plan.messages.items():
            n, why = self.target.remove_messages(folder, uidvalidity, uids, self.batch)
            removed += n
            self._keep(why)
            self._advance(len(uids))
        for i in range(0, len(plan.message_refs), self.batch):
            part = plan.message_refs[i:i + self.batch]
            n, why = self.target.remove_items(part)
            removed += n
            self._keep(why)
            self._advance(len(part))
        return removed

    def _folders(self, plan: UndoPlan) -> int:
        removed = 0
        for folder in plan.folders:
            why = self.target.remove_folder(folder, plan.folder_refs.get(folder, ""))
            if why:
                self.kept.append(why)
            else:
                removed += 1
            self._advance(1)
        return removed

    def _settings(self, plan: UndoPlan) -> int:
        """The created server-side rules removed, each changed setting back to its oldest recorded value."""
        if not (plan.rules or plan.settings):
            return 0
        removed, kept = self.target.remove_rules(plan.rules)
        self.kept += kept
        self._advance(len(plan.rules))
        oldest: dict[str, CreatedThing] = {}
        for rec in plan.settings:  # the oldest record's previous value is what was there before
            oldest.setdefault(rec.name, rec)
        restored = 0
        for rec in oldest.values():
            why = self.target.restore_setting(rec.name, rec.previous)
            if why:
                self.kept.append(why)
            else:
                restored += 1
            self._advance(1)
        return removed + restored

    def _scripts(self, plan: UndoPlan, open_scripts: Callable[[], ScriptUndo] | None) -> int:
        if not plan.scripts:
            return 0
        if open_scripts is None:
            self.kept.append("the Sieve scripts were left: the target has no ManageSieve")
            self._advance(plan.script_names)
            return 0
        scripts = open_scripts()
        try:
            restored = scripts.restore_scripts(plan.scripts)
        finally:
            scripts.close()
        self._advance(plan.script_names)
        return restored


def run_undo(mid: str, sealed_password: str, creds: CredentialStore, ledger: Ledger,
             open_target: Callable[[str], Undo], open_scripts: Callable[[str], ScriptUndo] | None,
             producer: EventProducer, batch: int) -> None:
    """Run an undo to the end; a crash re-delivers the command and the undo runs again (idempotent).

    ``open_target`` and ``open_scripts`` log in with the password given for the undo (the registry's
    openers of the target's system; ``open_scripts`` None when it keeps no scripts)."""
    try:
        password = creds.unseal(mid, sealed_password, UNDO_SEAL_SIDE)
    except SecretUnavailable:
        log.info("undo already finished (its key is gone)", extra={"migration_id": mid})
        return
    try:
        target = open_target(password)
    except ConnectionCheckFailed as exc:
        if exc.retryable:
            raise
        finished = UndoFinished(migration_id=mid, ok=False, removed_messages=0, removed_folders=0,
                                restored_settings=0, kept=[], reason=str(exc))
    else:
        try:
            plan = build_plan(ledger.undo_index(mid), target.delimiter)
            runner = UndoRunner(mid, target, lambda ev: producer.send(topics.PROGRESS, mid, ev), batch)
            scripts = (lambda: open_scripts(password)) if open_scripts is not None and plan.scripts else None
            finished = runner.run(plan, scripts)
            ledger.forget([*plan.message_keys, *(s.item_key for s in plan.scripts)])
        finally:
            target.close()
    producer.send(topics.PROGRESS, mid, finished)
    producer.flush()
    log.info("undo finished", extra={"migration_id": mid, "ok": finished.ok,
                                     "removed_messages": finished.removed_messages})
