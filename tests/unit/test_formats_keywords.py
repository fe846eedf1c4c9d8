"""Exchange follow-up state and categories <-> IMAP flags and keywords (shared.formats.keywords).

Expectations are written out here, from RFC 3501's atom grammar and the encoding the README
states (modified UTF-7, RFC 3501 §5.1.3), and checked with imapclient's own decoder, not computed
with the module's functions.
"""

from __future__ import annotations

import re

import pytest
from imapclient import imap_utf7

from shared.formats.keywords import (
    categories,
    category_to_keyword,
    follow_up,
    imap_flags,
    keyword_to_category,
    last_verb,
    left_out_by_exchange,
)

# RFC 3501 §9: flag-keyword = atom; atom = 1*ATOM-CHAR; ATOM-CHAR = any CHAR (0x01-0x7F) except
# "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
ATOM = re.compile(r'^[^(){ \x00-\x1f\x7f%*"\\\]\x80-\U0010ffff]+$')

CASES = [
    ("Red Category", "Red&ACA-Category"),
    ("Büro", "B&APw-ro"),
    ("R&D", "R&-D"),
    ("Work", "Work"),
    ("$Label1", "$Label1"),
    ("a(b)c{d}", "a&ACg-b&ACk-c&AHs-d}"),  # "}" is an ATOM-CHAR, "{" is not
    ('50% "done" *now*', "50&ACUAIAAi-done&ACIAIAAq-now&ACo-"),
    ("back\\slash]", "back&AFw-slash&AF0-"),
    ("tab\there", "tab&AAk-here"),
    ("日本 語", "&ZeVnLAAgip4-"),
    ("Важные письма", "&BBIEMAQ2BD0ESwQ1ACAEPwQ4BEEETAQ8BDA-"),
    ("$Completed", "&ACQ-Completed"),
    ("$completed", "&ACQ-completed"),
]


@pytest.mark.parametrize(("category", "keyword"), CASES)
def test_every_category_becomes_an_imap_atom_and_comes_back(category: str, keyword: str) -> None:
    assert category_to_keyword(category) == keyword
    assert ATOM.match(keyword), keyword
    assert keyword_to_category(keyword) == category
    assert imap_utf7.decode(keyword.encode("ascii")) == category  # any modified UTF-7 decoder reads it


# The last is not how mailferry encodes two spaces (one run, "&ACAAIA-").
@pytest.mark.parametrize("keyword", ["R&D", "A&2", "&FF", "&AC-", "&ACA", "Work", "$Forwarded", "&ACA-&ACA-"])
def test_a_keyword_mailferry_did_not_escape_is_taken_as_it_is(keyword: str) -> None:
    assert keyword_to_category(keyword) == keyword


def test_follow_up_states_both_ways() -> None:
    assert imap_flags(True, 2, False, None) == ["\\Seen", "\\Flagged"]
    assert imap_flags(False, 1, False, None) == ["$Completed"]
    assert imap_flags(False, None, True, None) == ["\\Draft"]
    assert imap_flags(None, 0, None, []) == []
    assert follow_up(["\\Flagged"]) == 2
    assert follow_up(["$Completed", "\\Seen"]) == 1
    assert follow_up(["$completed"]) == 1
    assert follow_up(["\\Seen", "Work"]) is None
    assert follow_up(["\\Flagged", "$Completed"]) == 2  # flagged again after completion: flagged


def test_categories_travel_as_keywords_and_the_follow_up_keyword_is_not_a_category() -> None:
    flags = imap_flags(False, 1, False, ["Red Category", "Work", "", "Work", "$Completed"])
    assert flags == ["$Completed", "Red&ACA-Category", "Work", "&ACQ-Completed"]
    assert categories([*flags, "\\Seen", "\\Flagged"]) == ["Red Category", "Work", "$Completed"]


@pytest.mark.parametrize(("flag", "expected"), [("none", ("\\Seen",)), ("flagged", ("\\Seen", "\\Flagged")),
                                                ("complete", ("\\Seen", "$Completed"))])
def test_a_pst_messages_follow_up_state(flag: str, expected: tuple[str, ...]) -> None:
    """PST mail carries PR_FLAG_STATUS too: a completed follow-up is $Completed there as well."""
    from shared.adapters.pst.reader import MailRecord

    mail = MailRecord(source_id=1, folder=("Inbox",), message_class="IPM.Note", subject="s", sender_name="",
                      sender_address="", sent=None, received=None, is_read=True, is_draft=False, flag=flag,
                      attachment_names=(), has_transport_headers=False, rfc822=b"")
    assert mail.imap_flags == expected


@pytest.mark.parametrize(("flags", "verb"), [
    (("\\Answered",), (102, 261)), (("$Forwarded",), (104, 262)), (("\\answered", "$forwarded"), (102, 261)),
    (("\\Seen", "Work"), None)])
def test_replied_and_forwarded_are_exchanges_last_verb(flags: tuple[str, ...], verb: tuple[int, int] | None) -> None:
    assert last_verb(flags) == verb


@pytest.mark.parametrize(("verb", "flags"), [(102, ["\\Answered"]), (103, ["\\Answered"]), (104, ["$Forwarded"]),
                                             (None, []), (0, [])])
def test_exchanges_last_verb_comes_back_as_imap_flags(verb: int | None, flags: list[str]) -> None:
    assert imap_flags(None, None, None, None, verb) == flags


def test_protocol_keywords_are_no_categories_and_what_exchange_cannot_keep_is_named() -> None:
    flags = ["\\Seen", "\\Answered", "$Forwarded", "\\Deleted", "$MDNSent", "NonJunk", "$Junk", "$label1", "Work",
             "\\Recent", "\\Draft", "\\Flagged", "$Completed", "$HasAttachment"]
    assert categories(flags) == ["$label1", "Work"]
    assert left_out_by_exchange(flags) == ("$Forwarded", "\\Deleted", "$MDNSent", "NonJunk", "$Junk",
                                           "$HasAttachment")
    assert left_out_by_exchange(["$Forwarded", "\\Seen"]) == ()


@pytest.mark.parametrize(("category", "keyword"), [("Junk", "&AEo-unk"), ("$MDNSent", "&ACQ-MDNSent"),
                                                   ("nonjunk", "&AG4-onjunk"), ("$Forwarded", "&ACQ-Forwarded")])
def test_a_category_named_like_a_protocol_keyword_stays_a_category(category: str, keyword: str) -> None:
    assert category_to_keyword(category) == keyword
    assert imap_utf7.decode(keyword.encode("ascii")) == category
    assert categories(imap_flags(None, None, None, [category])) == [category]
