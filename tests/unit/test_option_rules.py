"""Which options a source/target pair can take, and why not."""

from __future__ import annotations

import pytest

from shared.migration_state import OPERATIONS
from shared.option_rules import IMPLEMENTED, allowed_options, ordered, problems


def test_allowed_options_by_pair() -> None:
    assert allowed_options("ews", "ews") == OPERATIONS
    assert allowed_options("imap", "imap") == ("emails", "rules")
    assert allowed_options("pop3", "imap") == ("emails",)
    assert allowed_options("imap", "ews") == ("emails",)


def test_ordered_follows_the_fixed_order_and_drops_unknowns() -> None:
    assert ordered(["rules", "emails", "nonsense"]) == ["emails", "rules"]
    assert ordered([]) == []


@pytest.mark.parametrize("options", [["emails"], ["rules"], ["rules", "emails"]])
def test_imap_to_imap_runs(options: list[str]) -> None:
    assert problems("imap", "imap", options) == []


def fields(found: list[tuple[str, str]]) -> list[str]:
    return [f for f, _ in found]


def test_every_implemented_pair_runs_what_it_implements() -> None:
    assert ("imap", "imap") in IMPLEMENTED
    for (source, target), options in IMPLEMENTED.items():
        assert problems(source, target, list(options)) == [], (source, target)
        assert set(options) <= set(allowed_options(source, target))


def test_unsupported_source_and_target_are_named() -> None:
    found = problems("carrier-pigeon", "pop3", ["emails"])
    assert fields(found)[:2] == ["source.type", "target.type"]
    assert "carrier-pigeon sources" in found[0][1]
    assert "POP3 targets" in found[1][1]
    assert not problems("pop3", "imap", ["emails"])  # POP3 is a source, never a target
    assert fields(problems("carrier-pigeon", "imap", ["emails"]))[0] == "source.type"
    assert "target.type" not in fields(problems("carrier-pigeon", "imap", ["emails"]))


def test_no_options() -> None:
    assert problems("imap", "imap", []) == [("options", "choose at least one thing to migrate")]


def test_unknown_option_lists_the_known_ones() -> None:
    found = problems("imap", "imap", ["emails", "faxes"])
    assert fields(found) == ["options"]
    assert "faxes" in found[0][1] and "contacts" in found[0][1]


def test_refused_option_says_what_can_be_moved() -> None:
    found = problems("imap", "imap", ["emails", "contacts", "calendars"])
    assert fields(found) == ["options"]
    message = found[0][1]
    assert "e-mails and rules (Sieve)" in message
    assert "not contacts, calendars" in message


def test_duplicate_option() -> None:
    assert ("options", "an option is listed twice") in problems("imap", "imap", ["emails", "emails"])
