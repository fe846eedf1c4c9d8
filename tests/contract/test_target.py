"""Every e-mail target, through the durable write path; results read back by the rig's own client."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from shared import topics
from shared.adapters.ports import MailTarget
from shared.errors import Transient
from shared.events import DeadLetter, ItemResults
from tests.contract.conftest import needs
from tests.contract.helpers import T0, Edges, Lost, message, record, ref
from tests.contract.rigs import Acct, Copy, Rig, Seed

pytestmark = pytest.mark.contract


def target(rig: Rig, acct: Acct) -> MailTarget:
    assert rig.system.mail_target is not None
    return rig.system.mail_target(acct.spec, acct.secret, rig.env)


def copies(rig: Rig, recs: list[tuple[bytes, tuple[str, ...], object]]) -> Counter[Copy]:
    return Counter((data, rig.keep(flags), when) for data, flags, when in recs)  # type: ignore[misc]


@needs("mail_target")
def test_folders_are_created_parents_first_and_once(rig: Rig) -> None:
    acct = rig.account()
    t = target(rig, acct)
    names = [t.folder_name(["Projekte", "2026", "Q1"]), t.folder_name(["Archiv"])]
    created = t.ensure_folders(names)
    assert len(created) == 4 and set(names) <= set(created)
    assert created.index(t.folder_name(["Projekte"])) < created.index(t.folder_name(["Projekte", "2026"])) \
        < created.index(names[0])
    assert t.ensure_folders(names) == []
    t.close()
    t = target(rig, acct)  # a new session knows them too
    assert t.ensure_folders(names) == []
    t.close()
    assert {"Projekte", "Projekte/2026", "Projekte/2026/Q1", "Archiv"} <= set(rig.snapshot(acct))


@needs("mail_target")
def test_a_folder_is_on_the_record_before_it_is_created_or_by_the_id_its_create_gave(rig: Rig) -> None:
    """Undo must know every folder the migration made, even if the process dies right after the create:
    a target naming folders by name announces them first (none of them exists yet when it does); one
    naming them by id gives that id for each folder it created."""
    acct = rig.account()
    t = target(rig, acct)
    names = [t.folder_name(["Neu", "Unter"]), t.folder_name(["Archiv"])]
    announced: list[str] = []
    there_when_announced: list[str] = []

    made = {"Neu", "Neu/Unter", "Archiv"}  # as the rig's own client names them

    def announce(about: list[str]) -> None:
        announced.extend(about)
        there_when_announced.extend(made & set(rig.snapshot(acct)))

    created = t.ensure_folders(names, announce)
    assert len(created) == 3 and made <= set(rig.snapshot(acct))
    if announced:
        assert sorted(announced) == sorted(created) and there_when_announced == []
    else:
        assert all(t.folder_ref(n) for n in created)
    announced.clear()
    assert t.ensure_folders(names, announce) == [] and announced == []  # nothing more to make, nothing said
    t.close()


@needs("mail_target")
def test_messages_land_exactly_and_every_one_is_recorded_for_undo(rig: Rig) -> None:
    acct = rig.account()
    rig.seed(acct, {"INBOX": [Seed(message(90), ("\\Seen",), T0)]})  # the user's own
    edges = Edges()
    recs = [record("INBOX", 1, ("\\Seen",)), record("INBOX", 2), record("Projekte/2026", 3, ("\\Seen",))]
    t = target(rig, acct)
    edges.writes().write_mail(recs, [ref("Projekte"), ref("Projekte/2026")], lambda: t)
    made = {t.folder_name(["Projekte"]), t.folder_name(["Projekte", "2026"])}  # the target's keys for them
    t.close()
    held = rig.snapshot(acct)
    assert held[rig.path("INBOX")] == copies(rig, [(message(90), ("\\Seen",), T0),
                                                   (message(1), ("\\Seen",), T0 + timedelta(days=1)),
                                                   (message(2), (), T0 + timedelta(days=2))])
    assert held["Projekte/2026"] == copies(rig, [(message(3), ("\\Seen",), T0 + timedelta(days=3))])
    undo = edges.undone()
    assert sorted(u.item_key for u in undo if u.kind == "message") == sorted(r.key for r in recs)
    assert {u.target_folder for u in undo if u.kind == "folder"} == made
    results = [r for e in edges.broker.events(topics.PROGRESS) if isinstance(e, ItemResults) for r in e.results]
    assert Counter((r.item_type, r.result) for r in results) == {("email", "done"): 3, ("folder", "done"): 2}


@needs("mail_target", "refuses")
def test_a_refused_message_fails_alone_and_is_dead_lettered(rig: Rig) -> None:
    acct = rig.account()
    edges = Edges()
    refused = record("INBOX", 2, data=rig.refused(acct))
    recs = [record("INBOX", 1), refused, record("INBOX", 3)]
    t = target(rig, acct)
    edges.writes().write_mail(recs, [], lambda: t)
    t.close()
    assert {data for data, _f, _d in rig.snapshot(acct)[rig.path("INBOX")]} == {message(1), message(3)}
    results = {r.item_key: r.result for e in edges.broker.events(topics.PROGRESS) if isinstance(e, ItemResults)
               for r in e.results}
    assert results == {recs[0].key: "done", refused.key: "failed", recs[2].key: "done"}
    [letter] = [e for e in edges.broker.events(topics.ITEMS_FAILED) if isinstance(e, DeadLetter)]
    assert letter.item_key == refused.key
    assert edges.ledgers.ledger(edges.pair).lookup_with_inflight([refused.key]) == ({}, set())


@needs("mail_target")
def test_after_a_lost_answer_the_copy_is_found_not_written_again_and_a_look_alike_is_never_taken(rig: Rig) -> None:
    acct = rig.account()
    look_alike = Seed(message(1), (), T0 + timedelta(days=400))  # same Message-ID and bytes, another date
    rig.seed(acct, {"INBOX": [look_alike]})
    edges = Edges()
    recs = [record("INBOX", 1), record("INBOX", 2)]
    t = target(rig, acct)
    with pytest.raises(Transient):
        edges.writes().write_mail(recs, [], lambda: Lost(t))
    t.close()
    t = target(rig, acct)
    edges.writes().write_mail(recs, [], lambda: t)  # redelivered
    t.close()
    held = rig.snapshot(acct)[rig.path("INBOX")]
    assert held == copies(rig, [(message(1), (), look_alike.date), (message(1), (), T0 + timedelta(days=1)),
                                (message(2), (), T0 + timedelta(days=2))])
    recorded = edges.ledgers.ledger(edges.pair).lookup([r.key for r in recs])
    assert len({e.key for e in recorded.values()}) == 2
    if "undo" in rig.caps:
        from tests.contract.test_undo import run_undo

        run_undo(rig, acct, edges)
        assert rig.snapshot(acct)[rig.path("INBOX")] == copies(rig, [(message(1), (), look_alike.date)])


@needs("mail_target")
def test_a_batch_written_twice_leaves_one_copy(rig: Rig) -> None:
    acct = rig.account()
    edges = Edges()
    recs = [record("INBOX", 1), record("INBOX", 2)]
    t = target(rig, acct)
    edges.writes().write_mail(recs, [], lambda: t)
    undo_after_first = len(edges.undo_records())
    edges.writes().write_mail(recs, [], lambda: t)
    t.close()
    assert rig.snapshot(acct)[rig.path("INBOX")] == copies(rig, [(message(1), (), T0 + timedelta(days=1)),
                                                                 (message(2), (), T0 + timedelta(days=2))])
    assert len(edges.undo_records()) == undo_after_first


@needs("mail_target")
def test_the_folder_key_says_which_names_share_one_folder_on_the_target(rig: Rig) -> None:
    """Two paths with one ``folder_key`` land in one folder (the planner gives such paths names of their own:
    README "Folder names that meet on the target"), two keys in two folders — as the rig's own reader sees it."""
    acct = rig.account()
    t = target(rig, acct)
    t.ensure_folders([t.folder_name(["Work"])])
    t.ensure_folders([t.folder_name(["work"])])
    alike = t.folder_key(["Work"]) == t.folder_key(["work"])
    assert t.folder_key(["Work"]) != t.folder_key(["Projekte"])
    assert t.folder_key(["Work", "Sub"]) == t.folder_key(["Work", "Sub"]) != t.folder_key(["Work"])
    t.close()
    held = {path for path in rig.snapshot(acct) if path.casefold() == "work"}
    assert len(held) == (1 if alike else 2), held
