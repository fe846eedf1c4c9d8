"""Folder names between servers: neutral paths, special-use folders, separators, namespaces."""

from __future__ import annotations

import pytest

from shared import folder_map as fm
from shared.folder_map import ListedFolder


def lf(name: str, *flags: str, delimiter: str = "/") -> ListedFolder:
    return ListedFolder(name=name, delimiter=delimiter, flags=flags)


def neutral(listed: list[ListedFolder], prefix: str = "") -> dict[str, list[str]]:
    specials = fm.special_roots(listed, prefix)
    return {f.name: fm.neutral_path(f, specials, prefix) for f in listed}


@pytest.mark.parametrize("name", ["INBOX", "inbox", "Inbox", "iNbOx"])
def test_inbox_in_any_case(name: str) -> None:
    listed = [lf(name), lf(f"{name}/Sub")]
    assert neutral(listed) == {name: ["INBOX"], f"{name}/Sub": ["INBOX", "Sub"]}
    assert fm.target_name(["INBOX"], {}, ".", "INBOX.") == "INBOX"
    assert fm.target_name(["INBOX", "Sub"], {}, ".") == "INBOX.Sub"


def test_sent_flag_wins_over_a_sent_items_name() -> None:
    listed = [lf("Sent Items"), lf("Versendet", "\\Sent"), lf("Sent Items/2019")]
    assert fm.special_roots(listed) == {"Versendet": "\\Sent"}
    paths = neutral(listed)
    assert paths["Versendet"] == ["\\Sent"]
    # The other one stays an ordinary folder, children included.
    assert paths["Sent Items"] == ["Sent Items"]
    assert paths["Sent Items/2019"] == ["Sent Items", "2019"]


def test_name_hints_without_special_use_any_case() -> None:
    listed = [lf("INBOX"), lf("SENT ITEMS"), lf("Deleted Items"), lf("Papierkorb"), lf("Spam"), lf("Entwürfe"),
              lf("Archiv"), lf("Projects")]
    assert fm.special_roots(listed) == {"SENT ITEMS": "\\Sent", "Deleted Items": "\\Trash", "Spam": "\\Junk",
                                        "Entwürfe": "\\Drafts", "Archiv": "\\Archive"}
    # Each use is taken once: "Papierkorb" next to "Deleted Items" stays an ordinary folder.
    assert neutral(listed)["Papierkorb"] == ["Papierkorb"]


def test_flagged_use_taken_once_and_second_name_stays_ordinary() -> None:
    listed = [lf("Spam"), lf("Junk", "\\Junk")]
    assert fm.special_roots(listed) == {"Junk": "\\Junk"}


def test_only_top_level_folders_are_special() -> None:
    listed = [lf("Work"), lf("Work/Sent"), lf("Work/Trash", "\\Trash")]
    assert fm.special_roots(listed) == {}
    assert neutral(listed)["Work/Sent"] == ["Work", "Sent"]


def test_special_use_flag_is_case_insensitive() -> None:
    assert lf("X", "\\SENT").special_use == "\\Sent"
    assert lf("X", "\\HasNoChildren").special_use is None
    assert lf("X", "\\all").special_use == "\\All"


def test_selectable() -> None:
    assert lf("X").selectable
    assert not lf("X", "\\NoSelect").selectable
    assert not lf("X", "\\NonExistent").selectable


def test_german_target_names() -> None:
    target = [lf("INBOX"), lf("Gesendete Elemente"), lf("Gelöschte Elemente"), lf("Entwürfe"),
              lf("Junk-E-Mail"), lf("Archiv")]
    specials = fm.target_special_names(target)
    assert specials == {"\\Sent": "Gesendete Elemente", "\\Trash": "Gelöschte Elemente", "\\Drafts": "Entwürfe",
                        "\\Junk": "Junk-E-Mail", "\\Archive": "Archiv"}
    assert fm.target_name(["\\Sent"], specials, "/") == "Gesendete Elemente"
    assert fm.target_name(["\\Trash"], specials, "/") == "Gelöschte Elemente"


def test_special_children_land_under_the_target_special_folder() -> None:
    source = [lf("Sent Items"), lf("Sent Items/2019")]
    path = neutral(source)["Sent Items/2019"]
    assert path == ["\\Sent", "2019"]
    specials = fm.target_special_names([lf("Gesendete Elemente", "\\Sent")])
    assert fm.target_name(path, specials, "/") == "Gesendete Elemente/2019"


def test_special_without_target_folder_gets_the_default_name() -> None:
    assert fm.target_name(["\\Sent", "2019"], {}, "/") == "Sent/2019"
    assert fm.target_name(["\\Junk"], {}, ".", "INBOX.") == "INBOX.Junk"


def test_separator_translation_component_with_target_delimiter_becomes_underscore() -> None:
    # Source with "/" holds "v1.2/notes.txt"; a "." target cannot have "." inside a component.
    path = neutral([lf("v1.2/notes.txt")])["v1.2/notes.txt"]
    assert path == ["v1.2", "notes.txt"]
    assert fm.target_name(path, {}, ".") == "v1_2.notes_txt"
    # And the other way: "." source, "/" target.
    path = neutral([lf("a.b/c", delimiter=".")])["a.b/c"]
    assert path == ["a", "b/c"]
    assert fm.target_name(path, {}, "/") == "a/b_c"
    assert fm.sanitize_component("a.b", "") == "a.b"


def test_namespace_prefix_on_source_is_removed() -> None:
    source = [lf("INBOX", delimiter="."), lf("INBOX.Sent", "\\Sent", delimiter="."),
              lf("INBOX.Projects.2024", delimiter="."), lf("INBOX.Trash", delimiter=".")]
    assert fm.special_roots(source, "INBOX.") == {"Sent": "\\Sent", "Trash": "\\Trash"}
    assert neutral(source, "INBOX.") == {
        "INBOX": ["INBOX"],
        "INBOX.Sent": ["\\Sent"],
        "INBOX.Projects.2024": ["Projects", "2024"],
        "INBOX.Trash": ["\\Trash"],
    }


def test_namespace_prefix_on_target_is_added() -> None:
    target = [lf("INBOX", delimiter="."), lf("INBOX.Sent", "\\Sent", delimiter=".")]
    specials = fm.target_special_names(target, "INBOX.")
    assert specials == {"\\Sent": "INBOX.Sent"}
    assert fm.target_name(["\\Sent", "2019"], specials, ".", "INBOX.") == "INBOX.Sent.2019"
    assert fm.target_name(["Projects", "2024"], specials, ".", "INBOX.") == "INBOX.Projects.2024"
    assert fm.target_name(["\\Drafts"], specials, ".", "INBOX.") == "INBOX.Drafts"
    assert fm.target_name(["INBOX", "Sub"], specials, ".", "INBOX.") == "INBOX.Sub"


def test_prefix_to_no_prefix_round_trip() -> None:
    # Dovecot-style "INBOX." source to a "/" target without namespace prefix.
    source = [lf("INBOX", delimiter="."), lf("INBOX.Gesendet", delimiter="."), lf("INBOX.A.B", delimiter=".")]
    paths = neutral(source, "INBOX.")
    specials = {"\\Sent": "Sent Items"}
    names = {n: fm.target_name(p, specials, "/") for n, p in paths.items()}
    assert names == {"INBOX": "INBOX", "INBOX.Gesendet": "Sent Items", "INBOX.A.B": "A/B"}


def test_no_delimiter() -> None:
    assert fm.split_name("a/b", "") == ["a/b"]
    assert fm.ancestors("a/b", "") == []


@pytest.mark.parametrize("name, delimiter, expected", [
    ("a/b/c", "/", ["a", "a/b"]),
    ("a", "/", []),
    ("INBOX.x.y", ".", ["INBOX", "INBOX.x"]),
])
def test_ancestors(name: str, delimiter: str, expected: list[str]) -> None:
    assert fm.ancestors(name, delimiter) == expected


def test_folder_id_is_stable_short_and_distinct() -> None:
    assert fm.folder_id("INBOX/Sub") == fm.folder_id("INBOX/Sub")
    assert fm.folder_id("INBOX/Sub") != fm.folder_id("INBOX/sub")
    assert len(fm.folder_id("x" * 1000)) == 16
