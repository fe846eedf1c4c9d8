"""The e-mail planner (services/extractor/plan.py:plan_emails): listings and ledger keys in, tasks and skipped out.

Every expected task id, UID slice and result is written out here, not computed with the code under test.
"""

from __future__ import annotations

from services.extractor.plan import changed_validity, plan_emails, validity_key
from services.extractor.task_chains import chained, next_in_chain
from shared.adapters.ports import ItemListing
from shared.events import EndpointSpec, ExtractTask, FolderRef

MID = "m1"
SPEC = EndpointSpec(type="imap", host="imap.example.test", port=993, security="tls", login="a@example.test",
                    password_sealed="sealed")
INBOX = FolderRef(folder_id="fin", path=["INBOX"], source_name="INBOX")
WORK = FolderRef(folder_id="fwork", path=["Work"], source_name="Work")
PARENT = FolderRef(folder_id="fpar", path=["Parent"], source_name="Parent")


def listing(validity: int, uids: list[int], large: set[int] | None = None, folder_id: str = "fin") -> ItemListing:
    # The keys as an IMAP source names them, written out: "<folder id>:<UIDVALIDITY>:<UID>".
    return ItemListing(uidvalidity=validity, uids=uids, refs=(), keys=[f"{folder_id}:{validity}:{u}" for u in uids],
                       large=frozenset(large or ()))


def shape(tasks: list[ExtractTask]) -> list[tuple[str, list[int], list[str], bool, str]]:
    """What a task asks for, without its envelope (event id and time differ on every event)."""
    return [(t.task_id, t.uids, t.refs, t.large, t.folder.folder_id) for t in tasks]


def test_large_messages_first_then_slices_and_unselectable_folders_left_out() -> None:
    listings = {"INBOX": listing(7, [1, 2, 3, 4, 5, 6, 7], large={4}),
                "Work": listing(9, [10, 11], folder_id="fwork")}
    plan = plan_emails(MID, SPEC, [(PARENT, False), (INBOX, True), (WORK, True)], listings, set(), task_size=3)
    assert shape(plan.tasks) == [
        ("m1:fin:7:large:4", [4], [], True, "fin"),
        ("m1:fin:7:0", [1, 2, 3], [], False, "fin"),
        ("m1:fin:7:1", [5, 6, 7], [], False, "fin"),
        ("m1:fwork:9:0", [10, 11], [], False, "fwork"),
    ]
    assert all(t.source == SPEC and t.migration_id == MID for t in plan.tasks)
    assert [t.uidvalidity for t in plan.tasks] == [7, 7, 7, 9]
    assert plan.total == 9 and plan.skipped == []


def test_what_the_ledger_knows_is_skipped_with_its_reason() -> None:
    listings = {"INBOX": listing(7, [1, 2, 3, 4], large={2})}
    plan = plan_emails(MID, SPEC, [(INBOX, True)], listings, {"fin:7:2", "fin:7:3", "other:1:1"}, task_size=10)
    assert shape(plan.tasks) == [("m1:fin:7:0", [1, 4], [], False, "fin")]  # the large one is known too
    assert [(r.item_key, r.result, r.subject, r.folder, r.reason) for r in plan.skipped] == [
        ("fin:7:2", "skipped", "UID 2", "INBOX", "already copied to the target by an earlier migration"),
        ("fin:7:3", "skipped", "UID 3", "INBOX", "already copied to the target by an earlier migration"),
    ]
    assert plan.total == 4


def test_sources_without_uids_are_planned_by_reference() -> None:
    refs = ["AAMkA=1", "AAMkA=2", "AAMkA=3"]
    keys = ["fwork:ews:k1", "fwork:ews:k2", "fwork:ews:k3"]
    listings = {"Work": ItemListing(uidvalidity=0, uids=(), refs=refs, keys=keys)}
    plan = plan_emails(MID, SPEC, [(WORK, True)], listings, {"fwork:ews:k2"}, task_size=1)
    assert shape(plan.tasks) == [("m1:fwork:refs:0", [], ["AAMkA=1"], False, "fwork"),
                                 ("m1:fwork:refs:1", [], ["AAMkA=3"], False, "fwork")]
    assert [(r.item_key, r.subject) for r in plan.skipped] == [("fwork:ews:k2", "item k2")]
    assert plan.total == 3


def test_an_empty_folder_gives_no_task() -> None:
    plan = plan_emails(MID, SPEC, [(INBOX, True)], {"INBOX": listing(7, [])}, set(), task_size=3)
    assert plan.tasks == [] and plan.skipped == [] and plan.total == 0


def test_the_plan_of_an_unchanged_listing_gives_the_same_tasks() -> None:
    listings = {"INBOX": listing(7, list(range(1, 40)), large={5, 30}),
                "Work": listing(9, [10, 11], folder_id="fwork")}
    folders = [(INBOX, True), (WORK, True)]
    first = plan_emails(MID, SPEC, folders, listings, {"fin:7:1"}, task_size=8)
    again = plan_emails(MID, SPEC, folders, listings, {"fin:7:1"}, task_size=8)
    assert shape(first.tasks) == shape(again.tasks)
    assert [t.task_id for t in first.tasks][:2] == ["m1:fin:7:large:5", "m1:fin:7:large:30"]
    assert first.skipped == again.skipped and first.total == again.total == 41


def test_a_second_pass_after_everything_was_copied_plans_nothing() -> None:
    listings = {"INBOX": listing(7, [1, 2, 3], large={3})}
    plan = plan_emails(MID, SPEC, [(INBOX, True)], listings, {"fin:7:1", "fin:7:2", "fin:7:3"}, task_size=2)
    assert plan.tasks == []
    assert [r.item_key for r in plan.skipped] == ["fin:7:1", "fin:7:2", "fin:7:3"]


def test_a_large_message_of_a_later_folder_is_published_before_every_slice() -> None:
    listings = {"INBOX": listing(7, [1, 2]), "Work": listing(9, [10, 11], large={11}, folder_id="fwork")}
    plan = plan_emails(MID, SPEC, [(INBOX, True), (WORK, True)], listings, set(), task_size=5)
    assert [t.task_id for t in plan.tasks] == ["m1:fwork:9:large:11", "m1:fin:7:0", "m1:fwork:9:0"]


def test_a_folder_whose_uidvalidity_changed_is_found_and_its_tasks_look_first() -> None:
    listings = {"INBOX": listing(8, [1, 2]), "Work": listing(9, [5], folder_id="fwork"),
                "Parent": listing(4, [], folder_id="fpar")}
    refs = [(INBOX, True), (WORK, True), (PARENT, True)]
    # INBOX was first planned at 7, Work never: INBOX changed, Work's 9 goes on the record, an empty folder waits.
    changed, new = changed_validity(listings, refs, {"fin": 7})
    assert (changed, new) == ({"fin"}, {"fwork": 9})
    assert changed_validity(listings, refs, {"fin": 8, "fwork": 9}) == (set(), {})
    plan = plan_emails(MID, SPEC, refs, listings, set(), task_size=10, look_first=changed)
    assert [(t.task_id, t.look_first) for t in plan.tasks] == [("m1:fin:8:0", True), ("m1:fwork:9:0", False)]
    assert validity_key("fin") == "~uidvalidity~fin"


def test_look_first_stays_with_each_task_of_a_chain() -> None:
    listings = {"INBOX": listing(8, [1, 2, 3, 4, 5, 6], large={6})}
    plan = plan_emails(MID, SPEC, [(INBOX, True)], listings, set(), task_size=2, look_first={"fin"})
    [head] = chained(plan.tasks, 1)
    seen = []
    task: ExtractTask | None = head
    while task is not None:
        seen.append((task.task_id, task.look_first))
        task = next_in_chain(task)
    assert seen == [("m1:fin:8:large:6", True), ("m1:fin:8:0", True), ("m1:fin:8:1", True), ("m1:fin:8:2", True)]
