"""Every Undo: exactly what was written goes, what the user has stays; twice changes nothing more."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from services.loader.undo_plan import build_plan
from services.loader.undo_run import UndoRunner
from shared.events import UndoFinished, UndoProgress
from tests.contract.conftest import needs
from tests.contract.helpers import T0, Edges, message, record, ref
from tests.contract.rigs import Acct, Rig, Seed

pytestmark = pytest.mark.contract


def run_undo(rig: Rig, acct: Acct, edges: Edges) -> tuple[UndoFinished, list[UndoProgress]]:
    assert rig.system.undo is not None
    port = rig.system.undo(acct.spec, acct.secret, rig.env)
    progress: list[UndoProgress] = []
    try:
        return UndoRunner(edges.mid, port, progress.append, batch=2).run(build_plan(edges.undo_records())), progress
    finally:
        port.close()


@needs("mail_target", "undo")
def test_undo_removes_exactly_what_was_written_and_keeps_the_users_own(rig: Rig) -> None:
    acct = rig.account()
    own = Seed(message(90), ("\\Seen",), T0)
    rig.seed(acct, {"INBOX": [own]})
    before = rig.snapshot(acct)
    edges = Edges()
    assert rig.system.mail_target is not None
    t = rig.system.mail_target(acct.spec, acct.secret, rig.env)
    edges.writes().write_mail([record("INBOX", 1), record("INBOX", 2), record("Projekte/2026", 3),
                               record("Reisen", 4)], [ref("Projekte"), ref("Projekte/2026"), ref("Reisen")],
                              lambda: t)
    t.close()
    rig.seed(acct, {"Reisen": [Seed(message(91), (), T0 + timedelta(days=91))]})  # the user files into a copied folder

    finished, progress = run_undo(rig, acct, edges)
    after = rig.snapshot(acct)
    assert after == {**before, "Reisen": Counter({(message(91), frozenset(), T0 + timedelta(days=91)): 1})}
    assert (finished.removed_messages, finished.removed_folders) == (4, 2)
    assert len(finished.kept) == 1 and "Reisen" in finished.kept[0]
    assert progress[-1].done == progress[-1].total == 7  # 4 messages, 3 folders
    assert all(p.done <= p.total for p in progress)

    again, _ = run_undo(rig, acct, edges)  # what is gone already counts as done; the kept folder is kept again
    assert rig.snapshot(acct) == after and again.removed_messages == 0 and again.kept == finished.kept
