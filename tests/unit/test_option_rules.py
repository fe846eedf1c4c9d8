"""Which options a source/target pair can take, and why not."""

from __future__ import annotations

import pytest

from shared.adapters.registry import (
    IMPLEMENTED,
    SUPPORTED_SOURCES,
    SUPPORTED_TARGETS,
    allowed_options,
    ordered,
    problems,
    pst_problems,
    runnable,
    table,
)
from shared.migration_state import OPERATIONS


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


def test_pst_into_imap_takes_only_emails() -> None:
    assert pst_problems("imap", ["emails"]) == []
    found = pst_problems("imap", ["emails", "contacts"])
    assert fields(found) == ["options"] and "not contacts" in found[0][1]


def test_pst_into_exchange_takes_what_a_pst_holds() -> None:
    assert pst_problems("ews", ["emails", "contacts", "contact_groups", "calendars", "tasks"]) == []
    found = pst_problems("ews", ["rules", "auto_reply"])  # they live on the server, not in the file
    assert fields(found) == ["options"] and "not rules, auto_reply" in found[0][1]


def test_pst_refuses_a_target_it_cannot_go_into() -> None:
    assert pst_problems("pop3", ["emails"]) == [("target.type", "a PST file cannot be imported into a POP3 account")]


def test_pst_checks_none_twice_and_unknown_in_that_order() -> None:
    assert pst_problems("imap", []) == [("options", "choose at least one thing to migrate")]
    found = pst_problems("imap", ["emails", "emails", "faxes"])
    assert found[0] == ("options", "an option is listed twice") and "faxes" in found[1][1]


def test_the_table_the_page_gets_is_exactly_what_the_checks_accept() -> None:
    rules = table()
    assert set(rules) == SUPPORTED_SOURCES | {"pst"}
    for source, targets in rules.items():
        assert set(targets) == SUPPORTED_TARGETS
        for target, options in targets.items():
            check = pst_problems(target, options) if source == "pst" else problems(source, target, options)
            assert options and check == [], (source, target)
            assert options == ordered(options)
            for other in OPERATIONS:
                if other not in options:
                    single = pst_problems(target, [other]) if source == "pst" else problems(source, target, [other])
                    assert single, (source, target, other)  # what the page greys out, intake refuses


def test_runnable_for_unsupported_types_is_empty() -> None:
    assert runnable("carrier-pigeon", "imap") == ()
    assert runnable("imap", "pop3") == ()
    assert runnable("pst", "pop3") == ()
