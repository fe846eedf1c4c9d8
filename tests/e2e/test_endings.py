"""No migration is left without a way out: a batch given up as poison still ends its migration, and a
migration, cancel or undo that makes no progress is ended after the configured time and can be undone.

Real broker, Redis, Dovecot and the services as processes; the EWS emulator is the one test double.
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from exchangelib import Account
from exchangelib.properties import Actions, Conditions, Rule

from mailferry import seed, stack
from mailferry.stack import StackInfo
from shared.adapters.ews import connection as ews_connection
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import start, status, wait_final, wait_status
from tests.ews_emulator import EwsEmulator, rules
from tests.ews_emulator.pim_seed import add_news_rule
from tests.ews_emulator.soap import EwsError
from tests.servers import Process

REFUSED = "to the archive"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def ews_endpoint(emu: EwsEmulator, login: str, password: str) -> dict[str, object]:
    return {"type": "ews", "host": "127.0.0.1", "port": urlsplit(emu.url).port, "security": "none",
            "login": login, "password": password}


def ews_account(emu: EwsEmulator, login: str, password: str) -> Account:
    return ews_connection.connect_ews("127.0.0.1", int(urlsplit(emu.url).port or 80), "none", login, password)


def api(info: StackInfo, mid: str, action: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{info.intake_url}/api/v1/migrations/{mid}/{action}", json=body, timeout=60)


def refuse_one_rule(monkeypatch: pytest.MonkeyPatch, mailbox: str) -> None:
    """The target fails one rule every time with a fault that could pass (ErrorInternalServerError), so
    the batch is tried again until it is given up as poison. (A refusal that waiting will not cure, such
    as a validation error, fails only its rule at once: test_ews_rules_to_exchange.py.)"""
    validate = rules._validate

    def strict(rule: Any, index: int, mbx: Any, require_id: bool) -> None:
        validate(rule, index, mbx, require_id)
        if mbx.smtp == mailbox and rule.findtext(rules.tq("DisplayName")) == REFUSED:
            raise EwsError("ErrorInternalServerError", "An internal server error occurred. Try again later.")

    monkeypatch.setattr(rules, "_validate", strict)


def test_a_rule_batch_given_up_as_poison_ends_the_migration_and_it_can_be_undone(
        running_stack: StackInfo, emulator: EwsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = f"p{secrets.token_hex(3)}@old.test", f"p{secrets.token_hex(3)}@new.test"
    emulator.add_mailbox(src, "old-pw-1")
    emulator.add_mailbox(dst, "new-pw-1")
    source = ews_account(emulator, src, "old-pw-1")
    add_news_rule(source)
    source.create_rule(Rule(display_name=REFUSED, priority=2, is_enabled=True,
                            conditions=Conditions(contains_subject_strings=["invoice"]),
                            actions=Actions(mark_as_read=True)))
    ews_account(emulator, dst, "new-pw-1").create_rule(Rule(
        display_name="mine", priority=1, is_enabled=True, conditions=Conditions(contains_sender_strings=["boss"]),
        actions=Actions(mark_as_read=True)))
    refuse_one_rule(monkeypatch, dst)
    folders_before = {f.name for f in ews_account(emulator, dst, "new-pw-1").msg_folder_root.children}

    mid = start(running_stack, ews_endpoint(emulator, src, "old-pw-1"), ews_endpoint(emulator, dst, "new-pw-1"),
                options=["rules"])
    st = wait_final(running_stack, mid, src, timeout=180)
    assert st["state"] == "completed_with_errors", st
    counts = st["items"]["rules"]
    assert counts["total"] == 2 and counts["done"] + counts["failed"] == 2 and counts["failed"] >= 1, counts
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src}).json()
    [refused] = [row for row in report["items"] if row["subject"] == REFUSED]
    assert refused["result"] == "failed" and refused["item_type"] == "rule" and refused["reason"]

    resp = api(running_stack, mid, "undo", {"login": src, "target_password": "new-pw-1"})
    assert resp.status_code == 202, resp.text
    assert wait_final(running_stack, mid, src)["state"] == "undone"
    after = ews_account(emulator, dst, "new-pw-1")
    assert [r.display_name for r in after.rules] == ["mine"]
    # The folder the rule moves mail into was made for it on the target: undo removes it too.
    assert {f.name for f in after.msg_folder_root.children} == folders_before


@pytest.fixture(scope="module")
def stall_stack(broker: Process, redis_server: Process,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-stall")
    env = stack_env(broker, redis_server, f"s{secrets.token_hex(4)}.", MAILFERRY_STALL_TIMEOUT_MINUTES="0.2",
                    MAILFERRY_LOAD_BATCH="50")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def reported(st: dict[str, Any]) -> bool:
    emails = st["items"]["emails"]
    return bool(emails["done"] + emails["failed"] + emails["skipped"] >= emails["total"] > 0)


def test_what_makes_no_progress_is_ended_and_can_then_be_undone(stall_stack: StackInfo, accounts: Accounts) -> None:
    running, cancelled = accounts.new("src"), accounts.new("src")
    targets = {running: accounts.new("dst"), cancelled: accounts.new("dst")}
    for src in targets:
        with accounts.client(src) as c:
            seed.seed(c, seed.plan_mailbox(200, with_corpus=False))
    dead = list(stall_stack.processes["loader"])
    for pid in dead:  # nothing will be written: no loader
        os.kill(pid, signal.SIGKILL)
    stall_stack.processes["loader"] = []
    mids = {src: start(stall_stack, accounts.endpoint(src), accounts.endpoint(dst)) for src, dst in targets.items()}
    wait_status(stall_stack, mids[cancelled], cancelled,
             lambda st: st["state"] == "running" and st["items"]["emails"]["total"] > 0)
    assert api(stall_stack, mids[cancelled], "cancel", {"login": cancelled}).json()["state"] == "cancelling"

    for src in targets:  # a running migration and a cancel that cannot finish both end as failed
        st = wait_status(stall_stack, mids[src], src, lambda st: st["state"] == "failed")
        assert "no progress" in st["error"] and "MAILFERRY_STALL_TIMEOUT_MINUTES" in st["error"], st
        assert st["undo_possible_until"], st
    assert [h["state"] for h in status(stall_stack, mids[cancelled], cancelled)["history"]][-2:] == [
        "cancelling", "failed"]

    mid = mids[running]
    body = {"login": running, "target_password": accounts.passwords[targets[running]]}
    first = api(stall_stack, mid, "undo", body)
    assert first.status_code == 202, first.text
    st = wait_status(stall_stack, mid, running, lambda st: st["state"] == "undo_failed")  # an undo that cannot run
    assert "no progress" in st["undo"]["error"], st

    stack.start_service(stall_stack, "loader", Path(stall_stack.state_dir) / "logs")
    assert stack.wait_ready(f"http://127.0.0.1:{stall_stack.http_ports['loader'][-1]}/readyz", 120)
    for src in targets:  # the loader is back: the items of the ended migrations are refused, not written
        st = wait_status(stall_stack, mids[src], src, reported)
        assert st["items"]["emails"]["done"] == 0, st
    again = api(stall_stack, mid, "undo", body)
    assert again.status_code == 202, again.text
    st = wait_final(stall_stack, mid, running)
    assert st["state"] == "undone", st
    with accounts.client(targets[running]) as t:
        assert sum(t.folder_status(n, [b"MESSAGES"])[b"MESSAGES"] for _f, _d, n in t.list_folders()) == 0


