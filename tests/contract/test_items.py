"""Every ItemReader, and every item target through the durable write path."""

from __future__ import annotations

from collections import Counter

import pytest

from services.loader.undo_plan import build_plan
from services.loader.undo_run import UndoRunner
from shared.adapters.ports import ItemReader, Target
from shared.durable_write import DurableWrite
from shared.errors import Transient
from shared.events import CreatedThing, PimItem, SieveScriptItem
from tests.contract.conftest import needs
from tests.contract.helpers import Edges, Lost
from tests.contract.rigs import Acct, PstRig, Rig

pytestmark = pytest.mark.contract


def reader(rig: Rig, acct: Acct, operation: str) -> ItemReader:
    return rig.system.readers[operation].open(acct.spec, acct.secret, rig.env)


def read(rig: Rig, acct: Acct, operation: str) -> list[PimItem | SieveScriptItem]:
    r = reader(rig, acct, operation)
    try:
        return list(r.read(operation, "m-read"))
    finally:
        r.close()


def writer(rig: Rig, acct: Acct, operation: str) -> Target:  # type: ignore[type-arg]
    return rig.system.writers[operation].open(acct.spec, acct.secret, rig.env)


@needs("items", "item_target")
def test_every_seeded_item_is_read_once_with_stable_keys(rig: Rig) -> None:
    acct = rig.account()
    rig.seed_items(acct, rig.operation, [("Ann A", _payload(rig, "Ann A")), ("Bob B", _payload(rig, "Bob B"))])
    first, again = read(rig, acct, rig.operation), read(rig, acct, rig.operation)
    assert Counter(i.name for i in first) == Counter({"Ann A": 1, "Bob B": 1})
    assert [i.item_key for i in first] == [i.item_key for i in again]
    assert len({i.item_key for i in first}) == 2


def _payload(rig: Rig, name: str) -> str:
    from tests.contract.rigs import SCRIPTS, vcard

    return SCRIPTS[name] if rig.operation == "rules" else vcard(name)


@needs("items", "corpus")
def test_the_pst_files_hold_the_items_pffexport_read(rig: Rig) -> None:
    assert isinstance(rig, PstRig)
    for pst, acct in rig.files():
        for operation, names in pst.items.items():
            assert sorted(i.name for i in read(rig, acct, operation)) == sorted(names), (pst.name, operation)


@needs("item_target")
def test_items_are_written_once_also_when_an_answer_was_lost(rig: Rig) -> None:
    acct = rig.account()
    edges = Edges()
    records = rig.item_records(edges.mid)
    target = writer(rig, acct, rig.operation)
    with pytest.raises(Transient):
        edges.writes().write_items(records, lambda: Lost(target))  # written; the loader never heard
    edges.writes().write_items(records, lambda: target)  # the batch again
    edges.writes().write_items(records, lambda: target)  # and once more, after it was recorded
    target.close()
    assert rig.items(acct, rig.operation) == Counter({"Ann A": 1, "Bob B": 1})
    known = edges.ledgers.ledger(edges.pair).lookup([r.key for r in records])
    assert set(known) == {r.key for r in records} and {e.migration_id for e in known.values()} == {edges.mid}


class CrashAfterWriteAhead(DurableWrite):
    """The loader dies right after a setting's previous value was made durable, before the change."""

    def write_ahead(self, things: list[CreatedThing]) -> None:  # type: ignore[override]
        super().write_ahead(things)
        if any(t.kind in ("setting", "sieve_script") for t in things):
            raise Transient("the loader died")


def undo(rig: Rig, acct: Acct, edges: Edges) -> None:
    assert rig.system.undo is not None
    port = rig.system.undo(acct.spec, acct.secret, rig.env)
    try:
        finished = UndoRunner(edges.mid, port, lambda _ev: None).run(build_plan(edges.undo_records()))
    finally:
        port.close()
    assert finished.ok and finished.kept == [], finished


@needs("item_target", "setting")
def test_a_setting_written_ahead_is_put_back_even_after_a_crash_before_the_change(rig: Rig) -> None:
    acct = rig.account()
    rig.seed_setting(acct)
    own = rig.setting(acct)
    edges = Edges()
    record = rig.setting_record(edges.mid)
    target = writer(rig, acct, rig.operation)
    with pytest.raises(Transient):
        CrashAfterWriteAhead(edges.ledgers.ledger(edges.pair), edges.broker.producer(), edges.writes().metrics,
                             edges.mid, edges.pair).write_items([record], lambda: target)
    assert rig.setting(acct) == own and len(edges.undo_records()) == 1
    undo(rig, acct, edges)
    assert rig.setting(acct) == own

    edges.writes().write_items([record], lambda: target)  # now all the way
    target.close()
    assert rig.setting(acct) != own
    undo(rig, acct, edges)
    assert rig.setting(acct) == own
