"""Which flags go to an IMAP target and which are left out after a refusal (shared.adapters.imap.flags)."""

from __future__ import annotations

from shared.adapters.imap.flags import Fewer, about_keywords, fewer_keywords, not_kept_reason, permanent_flags, storable

FULL = permanent_flags([b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft", b"\\*"])
SEEN_ONLY = permanent_flags([b"\\Deleted", b"\\Seen"])
LISTED = permanent_flags([b"\\Seen", b"\\Flagged", b"$Label1"])


def test_permanentflags_decide_what_is_sent() -> None:
    flags = ("\\Seen", "\\Flagged", "$Work", "$label1")
    assert storable(flags, None, None) == (flags, ())  # no PERMANENTFLAGS: every flag is permanent
    assert storable(flags, FULL, None) == (flags, ())
    assert storable(flags, SEEN_ONLY, None) == (("\\Seen",), ("\\Flagged", "$Work", "$label1"))
    assert storable(flags, LISTED, None) == (("\\Seen", "\\Flagged", "$label1"), ("$Work",))
    assert permanent_flags([]) == frozenset()  # a folder that keeps no flag at all


def test_a_length_once_refused_is_not_sent_again() -> None:
    assert storable(("\\Seen", "a" * 59, "b" * 60, "c" * 61), FULL, 60) == (("\\Seen", "a" * 59), ("b" * 60, "c" * 61))


def test_which_refusals_speak_of_keywords() -> None:
    assert about_keywords("append failed: [CANNOT] Keyword length too long (0.001 + 0.000 secs).")
    assert about_keywords("NO Invalid flag list")
    assert not about_keywords("NO [OVERQUOTA] Quota exceeded (mailbox for user is full)")


def test_fewer_keywords_each_try() -> None:
    flags = ("\\Seen", "$Work", "x" * 70, "y" * 60, "z" * 60)
    assert fewer_keywords(flags, "NO [CANNOT] Keyword length too long", last=False) == Fewer(
        ("\\Seen", "$Work", "y" * 60, "z" * 60), ("x" * 70,), 70)
    assert fewer_keywords(("\\Seen", "$Work", "y" * 60, "z" * 60), "NO Keyword length too long", last=False) == Fewer(
        ("\\Seen", "$Work"), ("y" * 60, "z" * 60), 60)
    assert fewer_keywords(("\\Seen", "$Work", "Spam"), "NO Invalid keyword: $Work", last=False) == Fewer(
        ("\\Seen", "Spam"), ("$Work",))
    assert fewer_keywords(("\\Seen", "$Work", "Spam"), "NO Keywords not allowed", last=False) == Fewer(
        ("\\Seen",), ("$Work", "Spam"))
    assert fewer_keywords(("\\Seen", "$Work", "x" * 70), "NO Keyword length too long", last=True) == Fewer(
        ("\\Seen",), ("$Work", "x" * 70))
    assert fewer_keywords(("\\Seen", "\\Flagged"), "NO Invalid flag", last=False) is None  # nothing to leave out


def test_the_report_names_the_category_a_keyword_stands_for() -> None:
    assert not_kept_reason(["\\Flagged", "$Work", "Red&ACA-Category"]) == (
        "copied without the flags the target cannot store: \\Flagged, $Work, Red&ACA-Category (category 'Red Category')")
