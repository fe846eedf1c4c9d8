"""Undo: remove exactly what a migration created and put back every setting it changed.

The plan (:func:`services.loader.undo_plan.build_plan`) comes from the migration's undo index; the
target's :class:`~shared.adapters.ports.Undo` carries it out — messages by their recorded UID or id,
folders only when empty, rules removed, settings and scripts back to their oldest recorded value —
and says why it left anything alone. Running it twice changes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.loader.undo_plan import UndoPlan, build_plan
from shared import topics
from shared.adapters.ports import Removal, Undo
from shared.credentials import UNDO_SEAL_SIDE, CredentialStore
from shared.edges import ProducerEdge
from shared.errors import ConnectionCheckFailed, SecretUnavailable
from shared.events import UndoFinished, UndoProgress
from shared.ledger import LedgerStore, ledger_record

log = logging.getLogger(__name__)


@dataclass
class UndoRunner:
    """Carries out a plan through the target's Undo port; reports progress through ``emit``.

    Each step adds to ``done`` what it handled of the plan's total, whatever the outcome (removed,
    already gone, or kept with a reason), so progress never passes the total and reaches it at the
    end; a re-run after a crash starts again from zero against the same total.
    """

    mid: str
    undo: Undo
    emit: Callable[[UndoProgress], None]
    batch: int = 500
    kept: list[str] = field(default_factory=list)
    done: int = 0
    total: int = 0

    def _steps(self, steps: Iterable[Removal]) -> int:
        removed = 0
        for step in steps:
            removed += step.removed
            self.kept += [why for why in step.kept if why]
            self._advance(step.done)
        return removed

    def _advance(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        self.emit(UndoProgress(migration_id=self.mid, done=self.done, total=self.total, kept=len(self.kept)))

    def run(self, plan: UndoPlan) -> UndoFinished:
        self.done, self.total = 0, plan.total
        removed_messages = self._steps(self.undo.remove(plan.things, self.batch)) if plan.things else 0
        removed_folders = self._steps(self.undo.remove_folders(plan.folders)) if plan.folders else 0
        restored = self._steps(self.undo.restore(plan.settings)) if plan.settings else 0
        self._advance(0)
        return UndoFinished(migration_id=self.mid, ok=True, removed_messages=removed_messages,
                            removed_folders=removed_folders, restored_settings=restored, kept=self.kept)


def forget(ledger: LedgerStore, pair_id: str, item_keys: Iterable[str], producer: ProducerEdge) -> None:
    """Undo removed these copies: tombstones on the ``ledger`` topic (flushed with the undo's end), then
    out of Redis, so a later run may copy them again — also after a rebuild."""
    keys = list(item_keys)
    for key in keys:
        producer.send_raw(topics.LEDGER, ledger_record(pair_id, key), None)
    ledger.forget(keys)


def run_undo(mid: str, sealed_password: str, creds: CredentialStore, ledger: LedgerStore,
             open_undo: Callable[[str], Undo], producer: ProducerEdge, batch: int, pair_id: str) -> None:
    """Run an undo to the end; a crash re-delivers the command and the undo runs again (idempotent).

    ``open_undo`` logs in with the password given for the undo (the registry's opener of the target's
    system)."""
    try:
        password = creds.unseal(mid, sealed_password, UNDO_SEAL_SIDE)
    except SecretUnavailable:
        log.info("undo already finished (its key is gone)", extra={"migration_id": mid})
        return
    try:
        undo = open_undo(password)
    except ConnectionCheckFailed as exc:
        if exc.retryable:
            raise
        finished = UndoFinished(migration_id=mid, ok=False, removed_messages=0, removed_folders=0,
                                restored_settings=0, kept=[], reason=str(exc))
    else:
        try:
            plan = build_plan(ledger.undo_index(mid))
            finished = UndoRunner(mid, undo, lambda ev: producer.send(topics.PROGRESS, mid, ev), batch).run(plan)
            forget(ledger, pair_id, plan.keys_to_forget, producer)
        finally:
            undo.close()
    producer.send(topics.PROGRESS, mid, finished)
    producer.flush()
    log.info("undo finished", extra={"migration_id": mid, "ok": finished.ok,
                                     "removed_messages": finished.removed_messages})
