"""Folder names between servers: neutral paths, special-use folders, separators, namespaces."""

from __future__ import annotations

import pytest

from shared import folder_map as fm
from shared.adapters.imap.target import create_arguments
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
    assert paths["Versendet"] == ["\\Sent:Versendet"]
    # The other one stays an ordinary folder, children included.
    assert paths["Sent Items"] == ["Sent Items"]
    assert paths["Sent Items/2019"] == ["Sent Items", "2019"]


def test_name_hints_on_a_source_without_special_use_any_case() -> None:
    listed = [lf("INBOX"), lf("SENT ITEMS"), lf("Deleted Items"), lf("Papierkorb"), lf("Spam"), lf("Entwürfe"),
              lf("Archiv"), lf("Projects")]
    assert fm.special_roots(listed) == {"SENT ITEMS": "\\Sent", "Deleted Items": "\\Trash", "Spam": "\\Junk",
                                        "Entwürfe": "\\Drafts", "Archiv": "\\Archive"}
    # Each use is taken once: "Papierkorb" next to "Deleted Items" stays an ordinary folder.
    assert neutral(listed)["Papierkorb"] == ["Papierkorb"]


def test_flagged_use_taken_once_and_second_name_stays_ordinary() -> None:
    listed = [lf("Spam"), lf("Junk", "\\Junk")]
    assert fm.special_roots(listed) == {"Junk": "\\Junk"}


def test_names_count_only_at_the_top_level() -> None:
    listed = [lf("Work"), lf("Work/Sent"), lf("Work/Trash")]
    assert fm.special_roots(listed) == {}
    assert neutral(listed)["Work/Sent"] == ["Work", "Sent"]


def test_flags_count_at_any_depth_as_gmail_sets_them() -> None:
    gmail = [lf("INBOX"), lf("[Gmail]", "\\Noselect"), lf("[Gmail]/Sent Mail", "\\Sent"),
             lf("[Gmail]/Sent Mail/2019"), lf("[Gmail]/Trash", "\\Trash"), lf("Trash"), lf("Old/Trash", "\\Trash"),
             lf("INBOX/Drafts", "\\Drafts")]
    assert fm.special_roots(gmail) == {"[Gmail]/Sent Mail": "\\Sent", "[Gmail]/Trash": "\\Trash",
                                       "INBOX/Drafts": "\\Drafts"}
    assert neutral(gmail) == {
        "INBOX": ["INBOX"], "[Gmail]": ["[Gmail]"], "[Gmail]/Sent Mail": ["\\Sent:Sent Mail"],
        "[Gmail]/Sent Mail/2019": ["\\Sent:Sent Mail", "2019"], "[Gmail]/Trash": ["\\Trash:Trash"],
        "Trash": ["Trash"], "Old/Trash": ["Old", "Trash"], "INBOX/Drafts": ["\\Drafts:Drafts"]}
    assert fm.target_name(["\\Sent:Sent Mail", "2019"], {"\\Sent": "Gesendet"}, ".") == "Gesendet.2019"
    assert fm.target_name(["\\Sent:Sent Mail", "2019"], {}, "/") == "Sent Mail/2019"  # none: its name, at the top


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
    assert fm.target_name(["\\Sent:Sent"], specials, "/") == "Gesendete Elemente"
    assert fm.target_name(["\\Trash:Deleted Items"], specials, "/") == "Gelöschte Elemente"


def test_special_children_land_under_the_target_special_folder() -> None:
    source = [lf("Sent Items"), lf("Sent Items/2019")]
    path = neutral(source)["Sent Items/2019"]
    assert path == ["\\Sent:Sent Items", "2019"]
    specials = fm.target_special_names([lf("Gesendete Elemente", "\\Sent")])
    assert fm.target_name(path, specials, "/") == "Gesendete Elemente/2019"


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
    # A "/" in a name from Exchange ("Q1/Q2") on a "." target: Maildir++ servers refuse it too.
    assert fm.target_name(["Q1/Q2 Berichte", "v1.2"], {}, ".", "INBOX.") == "INBOX.Q1_Q2 Berichte.v1_2"


def test_namespace_prefix_on_source_is_removed() -> None:
    source = [lf("INBOX", delimiter="."), lf("INBOX.Sent", "\\Sent", delimiter="."),
              lf("INBOX.Projects.2024", delimiter="."), lf("INBOX.Trash", delimiter=".")]
    # The source flags its Sent folder, so "Trash" without a flag is an ordinary folder.
    assert fm.special_roots(source, "INBOX.") == {"Sent": "\\Sent"}
    assert neutral(source, "INBOX.") == {
        "INBOX": ["INBOX"],
        "INBOX.Sent": ["\\Sent:Sent"],
        "INBOX.Projects.2024": ["Projects", "2024"],
        "INBOX.Trash": ["Trash"],
    }


def test_namespace_prefix_on_target_is_added() -> None:
    target = [lf("INBOX", delimiter="."), lf("INBOX.Sent", "\\Sent", delimiter=".")]
    specials = fm.target_special_names(target, "INBOX.")
    assert specials == {"\\Sent": "INBOX.Sent"}
    assert fm.target_name(["\\Sent:Gesendet", "2019"], specials, ".", "INBOX.") == "INBOX.Sent.2019"
    assert fm.target_name(["Projects", "2024"], specials, ".", "INBOX.") == "INBOX.Projects.2024"
    assert fm.target_name(["\\Drafts:Entwürfe"], specials, ".", "INBOX.") == "INBOX.Entwürfe"
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


# -- the rule, end to end through the pure functions, with the expected names written out -----------

def mapped(source: list[ListedFolder], target: list[ListedFolder], *, source_announces: bool = True,
           target_announces: bool = True, prefix: str = "") -> dict[str, str]:
    """Source folder name → target folder name, the way the extractor and the IMAP loader chain them."""
    specials = fm.special_roots(source, "", source_announces)
    t_specials = fm.target_special_names(target, prefix, target_announces)
    t_delim = next((f.delimiter for f in target if f.delimiter), "/")
    return {f.name: fm.target_name(fm.neutral_path(f, specials), t_specials, t_delim, prefix) for f in source}


SENT_ONLY = [lf("INBOX"), lf("Sent", "\\Sent")]

CASES = {
    "a flagged source's unflagged Archiv, target without \\Archive": (
        [lf("INBOX"), lf("Sent", "\\Sent"), lf("Archiv"), lf("Archiv/2019"), lf("Archiv/2019/Q1")], SENT_ONLY,
        {"INBOX": "INBOX", "Sent": "Sent", "Archiv": "Archiv", "Archiv/2019": "Archiv/2019",
         "Archiv/2019/Q1": "Archiv/2019/Q1"}),
    "a flagged \\Archive Archiv, target without \\Archive: keeps its name": (
        [lf("Archiv", "\\Archive"), lf("Archiv/2019")], SENT_ONLY,
        {"Archiv": "Archiv", "Archiv/2019": "Archiv/2019"}),
    "a flagged \\Archive Archiv onto the target's flagged Archive": (
        [lf("Archiv", "\\Archive"), lf("Archiv/2019")], [*SENT_ONLY, lf("Archive", "\\Archive")],
        {"Archiv": "Archive", "Archiv/2019": "Archive/2019"}),
    "flagged Gesendet onto flagged Sent Items": (
        [lf("Gesendet", "\\Sent"), lf("Gesendet/2020")], [lf("INBOX"), lf("Sent Items", "\\Sent")],
        {"Gesendet": "Sent Items", "Gesendet/2020": "Sent Items/2020"}),
    "a target with no special folders at all": (
        [lf("Sent", "\\Sent"), lf("Entwürfe", "\\Drafts"), lf("Papierkorb", "\\Trash"), lf("Spam", "\\Junk"),
         lf("Archives", "\\Archive")], [lf("INBOX")],
        {"Sent": "Sent", "Entwürfe": "Entwürfe", "Papierkorb": "Papierkorb", "Spam": "Spam", "Archives": "Archives"}),
    "a target that flags nothing keeps even English names": (
        [lf("Trash", "\\Trash")], [lf("INBOX"), lf("Papierkorb")], {"Trash": "Trash"}),
    "an unflagged Archive on a target with SPECIAL-USE is not its archive": (
        [lf("Archiv", "\\Archive")], [*SENT_ONLY, lf("Archive")], {"Archiv": "Archiv"}),
    "a nested flagged target folder": (
        [lf("Archive", "\\Archive"), lf("Archive/2019")], [*SENT_ONLY, lf("Ablage"), lf("Ablage/Alt", "\\Archive")],
        {"Archive": "Ablage/Alt", "Archive/2019": "Ablage/Alt/2019"}),
    "a source that announces SPECIAL-USE but flags nothing: no names are read": (
        [lf("Sent"), lf("Trash")], [lf("INBOX"), lf("Gesendet", "\\Sent"), lf("Müll", "\\Trash")],
        {"Sent": "Sent", "Trash": "Trash"}),
    "a source with a \\All view and a Sent by name only": (
        [lf("Sent"), lf("Alle", "\\All")], [lf("INBOX"), lf("Gesendet", "\\Sent")],
        {"Sent": "Sent", "Alle": "Alle"}),
    "a folder named like a token stays itself": (
        [lf("\\Sent"), lf("\\Sent:x"), lf("Sent", "\\Sent")], [lf("INBOX"), lf("Gesendet", "\\Sent")],
        {"\\Sent": "\\Sent", "\\Sent:x": "\\Sent:x", "Sent": "Gesendet"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_folder_keeps_its_name_unless_the_target_has_one_for_its_use(case: str) -> None:
    source, target, expected = CASES[case]
    assert mapped(source, target) == expected


def test_names_are_read_only_from_a_source_without_special_use() -> None:
    source = [lf("INBOX"), lf("Gesendete Objekte"), lf("Spam"), lf("Archiv"), lf("Archiv/2019"), lf("Projekte")]
    target = [lf("INBOX"), lf("Sent", "\\Sent"), lf("Junk", "\\Junk"), lf("Archive", "\\Archive")]
    assert mapped(source, target, source_announces=False) == {
        "INBOX": "INBOX", "Gesendete Objekte": "Sent", "Spam": "Junk", "Archiv": "Archive",
        "Archiv/2019": "Archive/2019", "Projekte": "Projekte"}
    assert mapped(source, target, source_announces=True) == {
        "INBOX": "INBOX", "Gesendete Objekte": "Gesendete Objekte", "Spam": "Spam", "Archiv": "Archiv",
        "Archiv/2019": "Archiv/2019", "Projekte": "Projekte"}


def test_well_known_names_on_a_target_without_special_use() -> None:
    source = [lf("Sent", "\\Sent"), lf("Drafts", "\\Drafts"), lf("Archive", "\\Archive"), lf("Junk", "\\Junk")]
    target = [lf("INBOX"), lf("Gesendete Elemente"), lf("Entwürfe"), lf("Archiv")]
    assert mapped(source, target, target_announces=False) == {
        "Sent": "Gesendete Elemente", "Drafts": "Entwürfe", "Archive": "Archiv", "Junk": "Junk"}
    # The same target announcing SPECIAL-USE without flags has none of these: every name is kept.
    assert mapped(source, target, target_announces=True) == {
        "Sent": "Sent", "Drafts": "Drafts", "Archive": "Archive", "Junk": "Junk"}


def test_target_namespace_prefix_for_kept_names() -> None:
    source = [lf("Archiv", "\\Archive"), lf("Archiv/2019"), lf("Sent", "\\Sent")]
    target = [lf("INBOX", delimiter="."), lf("INBOX.Sent", "\\Sent", delimiter=".")]
    assert mapped(source, target, prefix="INBOX.") == {
        "Archiv": "INBOX.Archiv", "Archiv/2019": "INBOX.Archiv.2019", "Sent": "INBOX.Sent"}


@pytest.mark.parametrize("use, names", [(use, names) for use, names in fm.WELL_KNOWN_NAMES.items()])
def test_every_use_and_language_follows_one_rule(use: str, names: tuple[str, ...]) -> None:
    for own in names:
        title = own.title()
        source = [lf("INBOX"), lf(title, use), lf(f"{title}/Alt")]
        assert mapped(source, [lf("INBOX")]) == {"INBOX": "INBOX", title: title, f"{title}/Alt": f"{title}/Alt"}
        theirs = [lf("INBOX"), lf("Zielordner", use)]
        assert mapped(source, theirs) == {"INBOX": "INBOX", title: "Zielordner", f"{title}/Alt": "Zielordner/Alt"}


def test_root_tokens_and_events_from_before() -> None:
    assert fm.root_token("\\Archive", "Archiv") == "\\Archive:Archiv"
    assert fm.parse_root("\\Archive:Archiv") == ("\\Archive", "Archiv")
    assert fm.parse_root("\\Sent:a:b") == ("\\Sent", "a:b")
    assert fm.parse_root("Archiv") == (None, "Archiv")
    assert fm.parse_root("\\\\Sent") == (None, "\\Sent")
    assert fm.parse_root("\\Unknown:x") == (None, "\\Unknown:x")
    # An event written before tokens carried a name: only the use is known, so its English name.
    assert fm.parse_root("\\Sent") == ("\\Sent", "Sent")
    assert fm.target_name(["\\Archive", "2019"], {}, "/") == "Archive/2019"


def test_created_use_only_for_a_special_root_the_target_lacks() -> None:
    specials = {"\\Sent": "Sent"}
    assert fm.created_use(["\\Archive:Archiv"], specials) == "\\Archive"
    assert fm.created_use(["\\Archive:Archiv", "2019"], specials) is None
    assert fm.created_use(["\\Sent:Gesendet"], specials) is None
    assert fm.created_use(["Archiv"], specials) is None
    assert fm.created_use(["INBOX"], specials) is None


def test_create_special_use_arguments() -> None:
    assert create_arguments(b'"Archiv"', "\\Archive") == (b'"Archiv"', b"(USE (\\Archive))")
    assert create_arguments(b'"Archiv"', None) == (b'"Archiv"',)


def test_a_folder_is_shown_to_the_user_by_its_own_name_not_its_use() -> None:
    from shared.events.tasks import FolderRef

    assert FolderRef(folder_id="x", path=["\\Sent:Gesendete Elemente", "2019"]).display == "Gesendete Elemente/2019"
    assert FolderRef(folder_id="x", path=["INBOX", "Projekte"]).display == "INBOX/Projekte"
    assert FolderRef(folder_id="x", path=["\\\\Odd"]).display == "\\Odd"
