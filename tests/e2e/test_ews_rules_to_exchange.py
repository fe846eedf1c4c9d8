"""Inbox rules Exchange → Exchange through the whole stack: one refused rule fails alone, and rules that
move mail into well-known folders point at the target's own folders, whatever their language.

The EWS emulator is the one test double; sources are filled and targets read back through exchangelib,
and every expected name is written out here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from exchangelib import Account
from exchangelib.folders import Folder
from exchangelib.properties import Actions, Conditions, Rule

from mailferry.stack import StackInfo
from tests.e2e.flows import start, wait_final
from tests.e2e.test_ews_mail import account, endpoint, new_mailbox
from tests.ews_emulator import EwsEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def folder_paths(acc: Account) -> dict[str, str]:
    """Folder id → its path of names below the top of the mailbox, joined with "/"."""
    root = acc.msg_folder_root
    folders = list(root.walk())
    paths = {root.id: ""}
    while len(paths) <= len(folders):
        before = len(paths)
        for f in folders:
            parent = paths.get(f.parent_folder_id.id)
            if f.id not in paths and parent is not None:
                paths[f.id] = f"{parent}/{f.name}" if parent else f.name
        assert len(paths) > before, "a folder whose parent is not in the mailbox"
    del paths[root.id]
    return paths


def moves_to(acc: Account) -> dict[str, str]:
    """Rule name → the path of the folder it moves (or copies) mail into."""
    paths = folder_paths(acc)
    out = {}
    for rule in acc.rules:
        action = rule.actions.move_to_folder or rule.actions.copy_to_folder
        out[rule.display_name] = paths[action.folder_id.id]
    return out


def test_a_rule_exchange_refuses_fails_alone_and_the_others_are_created(
        running_stack: StackInfo, emulator: EwsEmulator) -> None:
    """The middle rule is larger than the target's rules quota (64 KB, Exchange's default; the source
    allows 256 KB). Exchange will refuse it every time: it fails with Exchange's reason, at once and
    once, and the rules before and after it are created."""
    src, src_pw = new_mailbox(emulator, "rules-a")
    dst, dst_pw = new_mailbox(emulator, "rules-b")
    emulator.mailbox(src).rules_quota = 256 * 1024
    source = account(emulator, src, src_pw)
    source.create_rule(Rule(display_name="from the boss", priority=1, is_enabled=True,
                            conditions=Conditions(contains_sender_strings=["boss"]),
                            actions=Actions(mark_as_read=True)))
    spam = [f"limited offer number {n:03d}: act now and save on everything you never wanted" for n in range(500)]
    source.create_rule(Rule(display_name="spam words", priority=2, is_enabled=True,
                            conditions=Conditions(contains_subject_strings=spam), actions=Actions(delete=True)))
    source.create_rule(Rule(display_name="invoices", priority=3, is_enabled=True,
                            conditions=Conditions(contains_subject_strings=["invoice"]),
                            actions=Actions(mark_importance="High")))
    updates_before = emulator.operations_served["UpdateInboxRules"]

    mid = start(running_stack, endpoint(emulator, src, src_pw), endpoint(emulator, dst, dst_pw), options=["rules"])
    st = wait_final(running_stack, mid, src)
    assert st["state"] == "completed_with_errors", st
    counts = st["items"]["rules"]
    assert (counts["total"], counts["done"], counts["failed"]) == (3, 2, 1), counts
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src},
                       timeout=30).json()["items"]
    assert [(r["subject"], r["result"]) for r in report] == [("spam words", "failed")]
    assert report[0]["reason"].startswith("Exchange refused the rule: ErrorRulesOverQuota: "), report
    assert emulator.operations_served["UpdateInboxRules"] - updates_before == 3  # one try each: none repeated

    rules = {r.display_name: r for r in account(emulator, dst, dst_pw).rules}
    assert sorted(rules) == ["from the boss", "invoices"]
    boss, invoices = rules["from the boss"], rules["invoices"]
    assert (boss.priority, boss.is_enabled, boss.conditions.contains_sender_strings, boss.actions.mark_as_read) == (
        1, True, ["boss"], True)
    assert (invoices.priority, invoices.conditions.contains_subject_strings, invoices.actions.mark_importance) == (
        3, ["invoice"], "High")


def test_rules_into_well_known_folders_use_the_targets_own(running_stack: StackInfo, emulator: EwsEmulator) -> None:
    """An English source, a German target: "move to Sent Items" becomes "move to Gesendete Elemente",
    not a new folder called "Sent Items"; an ordinary folder keeps its name and place."""
    src, src_pw = new_mailbox(emulator, "rules-en")
    dst, dst_pw = f"rules-de-{src.split('-')[2]}", "pw-rules-de"
    emulator.add_mailbox(dst, dst_pw, locale="de")
    source = account(emulator, src, src_pw)
    projects = Folder(parent=source.msg_folder_root, name="Projects")
    projects.save()
    year = Folder(parent=projects, name="2024")
    year.save()
    [archive] = [f for f in source.msg_folder_root.children if f.name == "Archive"]
    targets: dict[str, Any] = {"to inbox": source.inbox, "to sent": source.sent, "to drafts": source.drafts,
                               "to trash": source.trash, "to junk": source.junk, "to archive": archive,
                               "to projects": year}
    for n, (name, folder) in enumerate(targets.items(), start=1):
        source.create_rule(Rule(display_name=name, priority=n, is_enabled=True,
                                conditions=Conditions(contains_subject_strings=[name]),
                                actions=Actions(move_to_folder=folder)))
    source.create_rule(Rule(display_name="copy to sent", priority=len(targets) + 1, is_enabled=True,
                            conditions=Conditions(contains_subject_strings=["copy"]),
                            actions=Actions(copy_to_folder=source.sent)))
    assert moves_to(source) == {"to inbox": "Inbox", "to sent": "Sent Items", "to drafts": "Drafts",
                                "to trash": "Deleted Items", "to junk": "Junk Email", "to archive": "Archive",
                                "to projects": "Projects/2024", "copy to sent": "Sent Items"}

    mid = start(running_stack, endpoint(emulator, src, src_pw), endpoint(emulator, dst, dst_pw), options=["rules"])
    st = wait_final(running_stack, mid, src)
    assert st["state"] == "completed", st
    assert st["items"]["rules"]["done"] == 8, st

    target = account(emulator, dst, dst_pw)
    assert moves_to(target) == {"to inbox": "Posteingang", "to sent": "Gesendete Elemente", "to drafts": "Entwürfe",
                                "to trash": "Gelöschte Elemente", "to junk": "Junk-E-Mail", "to archive": "Archiv",
                                "to projects": "Projects/2024", "copy to sent": "Gesendete Elemente"}
    # Every folder of the target accounted for: its own, and the two the "to projects" rule needed.
    assert sorted(folder_paths(target).values()) == sorted([
        "Posteingang", "Gesendete Elemente", "Entwürfe", "Gelöschte Elemente", "Junk-E-Mail", "Postausgang",
        "Archiv", "Kalender", "Kontakte", "Aufgaben", "Projects", "Projects/2024"])
