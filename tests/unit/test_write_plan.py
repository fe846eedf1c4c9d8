"""The write plan (pure): what the ledger already has, what is written, what may be on the target already."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.ports import MailRecord, PimRecord, ScriptRecord
from shared.durable_write import plan_write
from shared.events import FolderRef, ItemResult, MailMeta, PimItem, SieveScriptItem
from shared.ledger import LedgerEntry

INBOX = FolderRef(folder_id="f1", path=["INBOX"])


def mail(n: int, size: int = 10) -> MailRecord:
    meta = MailMeta(item_key=f"f1:7:{n}", folder=INBOX, flags=[], internaldate=datetime(2024, 1, 1, tzinfo=UTC),
                    size=size, subject=f"s{n}")
    return MailRecord(meta, b"x" * size)


def test_the_ledger_answers_done_for_this_migration_and_skipped_for_another() -> None:
    records = [mail(1), mail(2), mail(3), mail(4)]
    known = {"f1:7:1": LedgerEntry("m-now", "INBOX", 9, 101, 10),
             "f1:7:3": LedgerEntry("m-before", "INBOX", 9, 103, 10)}
    plan = plan_write(records, known, {"f1:7:2", "f1:7:3"}, "m-now")
    assert plan.already == [
        ItemResult(item_key="f1:7:1", result="done", bytes=10, folder="INBOX", subject="s1"),
        ItemResult(item_key="f1:7:3", result="skipped", folder="INBOX", subject="s3",
                   reason="already copied to the target by an earlier migration"),
    ]
    assert [r.key for r in plan.todo] == ["f1:7:2", "f1:7:4"]
    assert plan.inflight == frozenset({"f1:7:2"})  # f1:7:3 is in the ledger: nothing to look for


def test_a_second_copy_of_a_key_in_the_batch_is_dropped() -> None:
    first, again = mail(1, 10), mail(1, 10)
    plan = plan_write([first, mail(2), again], {}, set(), "m")
    assert [r.key for r in plan.todo] == ["f1:7:1", "f1:7:2"] and plan.todo[0] is first
    assert plan.already == []


def test_every_kind_reports_the_same_way() -> None:
    contact = PimRecord(PimItem(migration_id="m", item_key="contacts:1", item_type="contact", format="vcard",
                                name="Ann", payload="BEGIN:VCARD"))
    script = ScriptRecord(SieveScriptItem(migration_id="m", item_key="sieve:main", name="main", script="keep;",
                                          active=True))
    known = {"contacts:1": LedgerEntry("m", "pim", 0, 0, 11), "sieve:main": LedgerEntry("old", "sieve", 0, 0, 5)}
    plan = plan_write([contact, script], known, set(), "m")
    assert plan.already == [
        ItemResult(item_key="contacts:1", item_type="contact", result="done", bytes=11, subject="Ann"),
        ItemResult(item_key="sieve:main", item_type="rule", result="skipped", subject="main",
                   reason="already copied to the target by an earlier migration"),
    ]
    assert plan.todo == []


keys = st.lists(st.integers(min_value=1, max_value=30), max_size=40)


@settings(max_examples=200, deadline=None)
@given(batch=keys, recorded=keys, inflight=keys)
def test_planning_after_recording_the_writes_leaves_nothing_to_write(batch: list[int], recorded: list[int],
                                                                     inflight: list[int]) -> None:
    """Applied twice = applied once: once the batch's writes are in the ledger, a redelivery writes nothing,
    and every key is reported once, as this migration's."""
    records = [mail(n) for n in batch]
    known = {f"f1:7:{n}": LedgerEntry("earlier", "INBOX", 9, n, 10) for n in recorded}
    first = plan_write(records, known, {f"f1:7:{n}" for n in inflight}, "m")
    assert len(first.todo) + len(first.already) == len(set(batch))
    assert first.inflight <= {r.key for r in first.todo}
    after = dict(known) | {r.key: LedgerEntry("m", "INBOX", 9, 1000, 10) for r in first.todo}
    again = plan_write(records, after, set(), "m")
    assert again.todo == [] and again.inflight == frozenset()
    assert sorted(r.item_key for r in again.already) == sorted({f"f1:7:{n}" for n in batch})
    assert {r.item_key for r in again.already if r.result == "done"} == {r.key for r in first.todo}
    assert plan_write(records, after, set(), "m") == again
