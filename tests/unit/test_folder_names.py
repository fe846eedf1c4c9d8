"""Which source folder keeps its name on the target, and what the others are called (shared.folder_names).

Each target's comparison is written here as the test's own small function (not the adapters'), and every
expected name is written out.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.events import FolderRef
from shared.folder_map import compared_name
from shared.folder_names import (
    as_entry,
    distinct_paths,
    from_entry,
    may_meet,
    renamed_note,
    reserved_keys,
    suffixed,
    utf16_units,
)


def ref(*path: str, source: str = "") -> FolderRef:
    name = source or "/".join(path)
    return FolderRef(folder_id="id-" + name, path=list(path), source_name=name)


def exchange(path: Sequence[str]) -> str:
    """Exchange: a special root is its well-known folder (here "Sent Items"); names ignore case."""
    head = "Sent Items" if path[0].startswith("\\Sent:") else path[0]
    return "\x1f".join([head, *path[1:]]).casefold()


def dotted(path: Sequence[str]) -> str:
    """A "." server: "." and "/" inside a name become "_"."""
    return ".".join(c.replace("/", "_").replace(".", "_") for c in path)


def prefixed(path: Sequence[str]) -> str:
    """A "." server keeping every folder below "INBOX."."""
    parts = [c.replace(".", "_") for c in path]
    return ".".join(parts) if parts[0] == "INBOX" else "INBOX." + ".".join(parts)


def names(given: dict[str, list[str]]) -> dict[str, list[str]]:
    return {fid.removeprefix("id-"): path for fid, path in given.items()}


def test_names_differing_in_case_get_a_folder_each_on_exchange_the_first_in_code_point_order_keeps_it() -> None:
    refs = [ref("work"), ref("Work"), ref("WORK"), ref("work", "Sub")]
    assert names(distinct_paths(refs, exchange)) == {
        "WORK": ["WORK"], "Work": ["Work (2)"], "work": ["work (3)"], "work/Sub": ["work (3)", "Sub"]}


def test_unicode_case_is_folded_not_only_ascii() -> None:
    # Greek final sigma and capital sigma fold alike; "ÄRGER"/"ärger" too.
    refs = [ref("ΟΔΟΣ"), ref("οδος"), ref("ÄRGER"), ref("ärger")]
    assert names(distinct_paths(refs, exchange)) == {
        "ΟΔΟΣ": ["ΟΔΟΣ"], "οδος": ["οδος (2)"], "ÄRGER": ["ÄRGER"], "ärger": ["ärger (2)"]}


def test_a_new_name_never_takes_a_name_another_source_folder_has() -> None:
    refs = [ref("Work"), ref("work"), ref("work (2)"), ref("WORK (3)")]
    assert names(distinct_paths(refs, exchange)) == {
        "Work": ["Work"], "work (2)": ["work (2)"], "WORK (3)": ["WORK (3)"], "work": ["work (4)"]}


def test_the_targets_separator_inside_a_name() -> None:
    refs = [ref("a_b"), ref("a.b"), ref("a/b", source="a/b on a dot source")]
    assert names(distinct_paths(refs, dotted)) == {
        "a.b": ["a.b"], "a/b on a dot source": ["a/b (2)"], "a_b": ["a_b (3)"]}
    # On a "/" server without that rule nothing meets: every folder keeps its name.
    assert names(distinct_paths(refs, lambda p: "/".join(p))) == {
        "a.b": ["a.b"], "a_b": ["a_b"], "a/b on a dot source": ["a/b"]}


def test_inbox_children_and_top_level_folders_meet_below_a_prefix() -> None:
    refs = [ref("INBOX"), ref("INBOX", "Sub"), ref("Sub"), ref("Sub", "Deeper")]
    assert names(distinct_paths(refs, prefixed)) == {
        "INBOX": ["INBOX"], "Sub": ["Sub"], "Sub/Deeper": ["Sub", "Deeper"], "INBOX/Sub": ["INBOX", "Sub (2)"]}


def test_two_spellings_of_inbox_children_are_two_folders_ordered_by_the_sources_names() -> None:
    refs = [ref("INBOX", "x", source="inbox/x"), ref("INBOX", "x", source="INBOX/x")]
    assert names(distinct_paths(refs, lambda p: compared_name("/".join(p), "/"))) == {
        "INBOX/x": ["INBOX", "x"], "inbox/x": ["INBOX", "x (2)"]}


def test_an_ordinary_folder_named_like_the_targets_special_folder_is_not_merged_into_it() -> None:
    # The source's flagged sent folder goes to the target's "Sent Items"; the user's own "sent items" stays apart.
    refs = [ref("sent items"), ref("\\Sent:Gesendet"), ref("sent items", "2024")]
    assert names(distinct_paths(refs, exchange)) == {
        "\\Sent:Gesendet": ["\\Sent:Gesendet"], "sent items": ["sent items (2)"],
        "sent items/2024": ["sent items (2)", "2024"]}


def test_a_later_pass_keeps_every_name_given_before_even_to_folders_sorting_after_new_ones() -> None:
    first = names(distinct_paths([ref("Work"), ref("work")], exchange))
    assert first == {"Work": ["Work"], "work": ["work (2)"]}
    recorded = {"id-" + k: v for k, v in first.items()}
    later = [ref("WORK"), ref("Work"), ref("work"), ref("Archiv"), ref("WORK", "Sub")]
    assert names(distinct_paths(later, exchange, recorded)) == {
        "Work": ["Work"], "work": ["work (2)"], "WORK": ["WORK (3)"], "WORK/Sub": ["WORK (3)", "Sub"],
        "Archiv": ["Archiv"]}


def test_the_same_listing_gives_the_same_names_in_any_order() -> None:
    refs = [ref("b"), ref("B"), ref("a"), ref("A", "x"), ref("A"), ref("a", "X")]
    once = distinct_paths(refs, exchange)
    assert distinct_paths(list(reversed(refs)), exchange) == once
    assert names(once) == {"A": ["A"], "a": ["a (2)"], "B": ["B"], "b": ["b (2)"], "A/x": ["A", "x"],
                           "a/X": ["a (2)", "X"]}


def test_a_renamed_folder_fits_the_targets_length_in_utf16_units() -> None:
    assert suffixed("x" * 254, 2, 255) == "x" * 251 + " (2)"
    assert suffixed("😀" * 127, 2, 255) == "😀" * 125 + " (2)"  # two units each, never split
    assert utf16_units("😀" * 125 + " (2)") == 254
    assert suffixed("Work", 12) == "Work (12)"
    refs = [ref("A" + "😀" * 127), ref("a" + "😀" * 127)]
    assert names(distinct_paths(refs, exchange, max_units=255))["a" + "😀" * 127] == ["a" + "😀" * 125 + " (2)"]


def test_inbox_ignores_case_as_the_head_of_a_name_only() -> None:
    assert compared_name("inbox", "/") == "INBOX"
    assert compared_name("Inbox/x", "/") == "INBOX/x"
    assert compared_name("inbox.x", ".") == "INBOX.x"
    assert compared_name("Inboxes/x", "/") == "Inboxes/x"
    assert compared_name("Work/inbox", "/") == "Work/inbox"


def test_a_decision_travels_through_the_ledger_and_says_why_in_the_report() -> None:
    entry = as_entry("m1", ["Ärger (2)", "Sub"])
    assert from_entry(entry) == ["Ärger (2)", "Sub"]
    renamed = ref("ärger").model_copy(update={"target_path": ["ärger (2)"]})
    assert renamed_note(renamed) == "named “ärger (2)” on the target: its own name meets another folder's there"
    assert renamed_note(ref("Work")) == ""
    assert renamed_note(ref("ärger", "Sub").model_copy(update={"target_path": ["ärger (2)", "Sub"]})) == ""


def test_the_target_is_asked_only_where_two_folders_could_meet_on_some_target() -> None:
    demo = {"i": ["INBOX"], "s": ["\\Sent:Sent"], "t": ["\\Trash:Trash"], "p": ["Projects"], "p2": ["Projects", "2024"],
            "d": ["Données"], "e": ["Empty folder"]}
    assert not may_meet(demo, decided={"i", "s", "t"})
    for rivals in ({"a": ["Work"], "b": ["work"]}, {"a": ["a.b"], "b": ["a_b"]}, {"a": ["a/b"], "b": ["a_b"]},
                   {"a": ["INBOX", "Sub"], "b": ["Sub"]}, {"a": ["Deleted Items"], "b": ["\\Trash:Papierkorb"]},
                   {"a": ["ΟΔΟΣ"], "b": ["οδος"]}, {"a": ["INBOX", "x"], "b": ["INBOX", "x"]}):
        assert may_meet({**demo, **rivals}, decided={"i", "s", "t"}), rivals
        assert not may_meet({**demo, **rivals}, decided={"i", "s", "t", "a", "b"}), rivals  # both named before


def dovecot(path: Sequence[str]) -> str:
    """A "/" server whose Trash and Sent are flagged; it has no folder for the other uses."""
    own = {"\\Trash": "Trash", "\\Sent": "Sent"}
    head = path[0]
    if head.startswith("\\") and not head.startswith("\\\\"):
        use, _sep, name = head.partition(":")
        head = own.get(use, name)
    return "/".join([head, *path[1:]])


def test_an_ordinary_folder_never_goes_into_the_targets_special_folder_of_that_name() -> None:
    # A flagging source without a \\Trash: its "Trash" is the user's own folder, not one the target may empty.
    refs = [ref("INBOX"), ref("\\Sent:Sent"), ref("Trash"), ref("Trash", "2024"), ref("Archive")]
    reserved = reserved_keys(dovecot)
    assert reserved >= {"INBOX", "Trash", "Sent"}
    assert names(distinct_paths(refs, dovecot, reserved=reserved)) == {
        "INBOX": ["INBOX"], "\\Sent:Sent": ["\\Sent:Sent"], "Trash": ["Trash (2)"], "Trash/2024": ["Trash (2)", "2024"],
        "Archive": ["Archive"]}  # the target has no archive folder: nothing to keep apart from
    assert may_meet({"t": ["Trash"]}, decided=set())  # so the planner asks the target about such a folder
    assert not may_meet({"p": ["Projects"], "s": ["\\Sent:Sent"]}, decided={"s"})
