"""Undo on an Exchange target, against the EWS emulator, read back through exchangelib directly.

The "migration" here is mailferry's Exchange target creating folders, messages, an inbox rule and
changing the auto-reply, with the undo records the loader keeps. The undo is interrupted part-way
(its progress cannot be sent, as when the loader dies) and run again, as a redelivered command is.
What must hold afterwards is written in the test: the folders it created are gone unless the user
filed mail into one (that one is kept, and said so), the user's rule stays, and the auto-reply is
back with its state, texts *and* schedule; progress never passes its total and ends on it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from exchangelib import (
    Account,
    EWSDateTime,
    EWSTimeZone,
    Message,
    OofSettings,
)
from exchangelib.properties import Actions, Conditions, Rule

from services.loader.undo_plan import build_plan
from services.loader.undo_run import UndoRunner
from shared.adapters.ews.mail_target import EwsTarget
from shared.adapters.ews.paths import KEY_SEP
from shared.adapters.ews.undo import EwsUndo
from shared.adapters.ports import Outgoing
from shared.events import CreatedThing, UndoFinished, UndoProgress
from shared.formats.settings import auto_reply_from_ews
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

TARGET, PW = "dst@new.test", "pw-1"
UTC_TZ = EWSTimeZone("UTC")
# The user's own auto-reply before the migration: off, but with a schedule Exchange keeps.
OWN_START = EWSDateTime(2031, 3, 1, 8, 0, tzinfo=UTC_TZ)
OWN_END = EWSDateTime(2031, 3, 15, 18, 0, tzinfo=UTC_TZ)


class Crash(Exception):
    """The loader died: its progress never left."""


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(TARGET, PW)
        yield e


def connect(emu: EwsEmulator) -> Account:
    return emulator_account(emu.url, TARGET, PW, fail_fast=True)


def folder_paths(acc: Account) -> set[str]:
    """Every folder under the message root as a path of names, read by exchangelib alone."""
    root = acc.msg_folder_root
    out = set()
    for f in root.walk():
        names, node = [], f
        while node is not None and node.id != root.id:
            names.append(node.name)
            node = node.parent
        out.add("/".join(reversed(names)))
    return out


def mail(n: int) -> Outgoing:
    data = (f"From: a@old.test\r\nTo: dst@new.test\r\nSubject: copied {n}\r\nMessage-ID: <c{n}@old.test>\r\n"
            f"Date: Mon, 2 Mar 2026 10:0{n}:00 +0000\r\n\r\nbody {n}\r\n").encode()
    return Outgoing(data=data, flags=("\\Seen",), internaldate=datetime(2026, 3, 2, 10, n, tzinfo=UTC),
                    message_id=f"<c{n}@old.test>")


def migrate(acc: Account) -> list[CreatedThing]:
    """What a migration does to the target, recorded as the loader records it."""
    target = EwsTarget(acc)
    records: list[CreatedThing] = []
    names = [f"Projekte{KEY_SEP}Alt", "Reisen"]
    for name in target.ensure_folders(names):
        records.append(CreatedThing(kind="folder", target_folder=name, ref=target.folder_ref(name)))
    layout = {"Projekte": [mail(1), mail(2)], f"Projekte{KEY_SEP}Alt": [mail(3)], "Reisen": [mail(4)]}
    for folder, msgs in layout.items():
        for n, placed in enumerate(target.append_many(folder, msgs)):
            assert not isinstance(placed, Exception), placed
            records.append(CreatedThing(kind="message", target_folder=folder, ref=placed.ref,
                                        item_key=f"{folder}:{n}"))
    acc.create_rule(Rule(display_name="copied rule", priority=2, is_enabled=True,
                         conditions=Conditions(contains_subject_strings=["invoice"]), actions=Actions(delete=True)))
    [rule] = [r for r in acc.rules if r.display_name == "copied rule"]
    records.append(CreatedThing(kind="rule", ref=str(rule.id), item_key="rule:1", name="copied rule"))
    records.append(CreatedThing(kind="setting", name="auto_reply", item_key="auto_reply",
                                previous=auto_reply_from_ews(acc.oof_settings).to_json()))
    start = EWSDateTime(2030, 7, 1, 0, 0, tzinfo=UTC_TZ)
    acc.oof_settings = OofSettings(state=OofSettings.SCHEDULED, external_audience="Known", start=start,
                                   end=EWSDateTime(2030, 7, 14, 0, 0, tzinfo=UTC_TZ),
                                   internal_reply="Bin im Urlaub", external_reply="Out of office")
    return records


def crashing_after(n: int, seen: list[UndoProgress]) -> Callable[[UndoProgress], None]:
    def emit(ev: UndoProgress) -> None:
        if len(seen) >= n:
            raise Crash()
        seen.append(ev)
    return emit


@dataclass
class Undone:
    after: Account
    before: set[str]
    first: list[UndoProgress]
    second: list[UndoProgress]
    finished: UndoFinished


@pytest.fixture
def undone(emu: EwsEmulator) -> Undone:
    """A migration into a target with the user's own rule and auto-reply, a message the user filed into a
    folder the migration created, then an undo that dies part-way and runs again to the end."""
    user = connect(emu)
    user.create_rule(Rule(display_name="mine", priority=1, is_enabled=True,
                          conditions=Conditions(contains_sender_strings=["boss"]), actions=Actions(mark_as_read=True)))
    user.oof_settings = OofSettings(state=OofSettings.DISABLED, external_audience="All", start=OWN_START,
                                    end=OWN_END, internal_reply="old internal", external_reply="old external")
    before = folder_paths(connect(emu))

    records = migrate(connect(emu))
    assert folder_paths(connect(emu)) == before | {"Projekte", "Projekte/Alt", "Reisen"}
    later = connect(emu)
    [reisen] = [f for f in later.msg_folder_root.children if f.name == "Reisen"]
    Message(account=later, folder=reisen, subject="my own", body="kept").save()

    plan = build_plan([r.model_dump_json() for r in records])
    first: list[UndoProgress] = []
    with pytest.raises(Crash):
        UndoRunner(secrets.token_hex(4), EwsUndo(connect(emu)), crashing_after(2, first), batch=2).run(plan)
    second: list[UndoProgress] = []
    finished = UndoRunner(secrets.token_hex(4), EwsUndo(connect(emu)), second.append, batch=2).run(plan)
    return Undone(connect(emu), before, first, second, finished)


def test_undo_progress_never_passes_its_total_also_across_a_crash(undone: Undone) -> None:
    # 4 messages, 3 folders, 1 rule, 1 setting: each counted once, in both runs.
    assert {ev.total for ev in undone.first + undone.second} == {9}
    assert all(0 <= ev.done <= ev.total for ev in undone.first + undone.second)
    assert [ev.done for ev in undone.second] == sorted(ev.done for ev in undone.second)
    assert undone.second[-1].done == 9


def test_undo_removes_the_exchange_folders_it_created_and_reports_the_one_in_use(undone: Undone) -> None:
    assert folder_paths(undone.after) == undone.before | {"Reisen"}
    [kept] = [f for f in undone.after.msg_folder_root.children if f.name == "Reisen"]
    assert [m.subject for m in kept.all()] == ["my own"]
    assert len(undone.finished.kept) == 1
    assert "Reisen" in undone.finished.kept[0] and "holds 1 item that" in undone.finished.kept[0]
    assert undone.finished.removed_folders == 2
    assert [r.display_name for r in undone.after.rules] == ["mine"]


def test_undo_puts_the_auto_reply_back_with_its_schedule(undone: Undone) -> None:
    oof = undone.after.oof_settings
    assert (oof.state, oof.external_audience, oof.internal_reply, oof.external_reply) == (
        OofSettings.DISABLED, "All", "old internal", "old external")
    assert (oof.start, oof.end) == (OWN_START, OWN_END)
