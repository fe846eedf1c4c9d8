"""The undo plan (pure): each thing once, in creation order, and a total that counts each once."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.loader.undo_plan import build_plan
from shared.events import CreatedThing


def rec(**fields: object) -> str:
    return json.dumps({"kind": "message", **fields})


RECORDS = [
    rec(kind="folder", target_folder="Archiv"),
    rec(kind="folder", target_folder="Archiv/2024"),
    rec(target_folder="Archiv/2024", uidvalidity=7, uid=1, item_key="a:7:1"),
    rec(target_folder="Archiv/2024", uidvalidity=7, uid=2, item_key="a:7:2"),
    rec(target_folder="INBOX", ref="AAMk1", item_key="b:1"),
    rec(kind="item", ref="AAMk2", item_key="contacts:1", name="Ann"),
    rec(kind="item", ref="", item_key="contacts:2"),  # nothing on the target was named: left out
    rec(kind="rule", ref="r1", item_key="rules:1", name="news"),
    rec(kind="setting", name="auto_reply", previous='{"state": "off"}', item_key="auto_reply"),
    rec(kind="setting", name="auto_reply", previous='{"state": "on"}', item_key="auto_reply"),
    rec(kind="sieve_script", name="main", previous=None, previous_active="old", item_key="sieve:main"),
]


def test_a_plan_sorts_the_records_and_counts_each_thing_once() -> None:
    plan = build_plan(RECORDS)
    assert [(t.target_folder, t.uid, t.ref) for t in plan.things] == [
        ("Archiv/2024", 1, ""), ("Archiv/2024", 2, ""), ("INBOX", 0, "AAMk1"), ("", 0, "AAMk2")]
    assert [f.target_folder for f in plan.folders] == ["Archiv", "Archiv/2024"]
    assert [(s.kind, s.name, s.ref, s.previous) for s in plan.settings] == [
        ("rule", "news", "r1", None), ("setting", "auto_reply", "", '{"state": "off"}'),
        ("setting", "auto_reply", "", '{"state": "on"}'), ("sieve_script", "main", "", None)]
    assert plan.keys_to_forget == ["a:7:1", "a:7:2", "auto_reply", "b:1", "contacts:1", "rules:1", "sieve:main"]
    # 4 things + 2 folders + 1 rule + the auto-reply + the script "main"
    assert plan.total == 9


def test_records_repeated_by_a_redelivery_change_nothing() -> None:
    once = build_plan(RECORDS)
    twice = build_plan([*RECORDS, *RECORDS[:8]])  # messages, items, folders and rules again
    assert (twice.things, twice.folders, twice.keys_to_forget, twice.total) == (
        once.things, once.folders, once.keys_to_forget, once.total)
    assert [s for s in twice.settings if s.kind == "rule"] == [s for s in once.settings if s.kind == "rule"]


def test_nothing_recorded_is_nothing_to_do() -> None:
    plan = build_plan([])
    assert (plan.things, plan.folders, plan.settings, plan.keys_to_forget, plan.total) == ([], [], [], [], 0)


record = st.builds(
    lambda kind, n, ref: CreatedThing(kind=kind, target_folder=f"F{n % 3}", uidvalidity=1, uid=n,
                                      ref=f"id{n}" if ref or kind in ("item", "rule") else "", item_key=f"k{n}",
                                      name=f"s{n % 2}").model_dump_json(),
    st.sampled_from(["message", "folder", "item", "rule", "setting", "sieve_script"]),
    st.integers(min_value=0, max_value=12), st.booleans())


@settings(max_examples=200, deadline=None)
@given(records=st.lists(record, max_size=30))
def test_the_total_counts_what_the_plan_holds(records: list[str]) -> None:
    plan = build_plan(records)
    names = {(s.kind, s.name) for s in plan.settings if s.kind != "rule"}
    assert plan.total == len(plan.things) + len(plan.folders) + sum(s.kind == "rule" for s in plan.settings) + len(names)
    assert build_plan(records + records).total == plan.total


def test_a_folder_recorded_before_its_create_and_after_it_with_its_id_is_removed_once_by_that_id() -> None:
    plan = build_plan([rec(kind="folder", target_folder="Work"), rec(kind="folder", target_folder="Work/Old"),
                       rec(kind="folder", target_folder="Work", ref="AAMkF1")])
    assert [(f.target_folder, f.ref) for f in plan.folders] == [("Work", "AAMkF1"), ("Work/Old", "")]
    assert plan.total == 2
