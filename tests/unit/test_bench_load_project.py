"""``make load``'s operator side: the key read from the CLI's answer, the CSV it uploads, a pre-flight summed up."""

from __future__ import annotations

import csv
import io

import pytest

from services.intake.project_csv import ParsedRow, ProjectSettings, parse
from tests.bench.load_project import Account, parse_operator_key, preflight_summary, rows_csv

CLI_ANSWER = ("key (give it to the operator's tool; it is not kept anywhere): mfo_abc-DEF_123\n"
              "entry for MAILFERRY_OPERATOR_KEYS (comma-separated with the others): load:operator:" + "ab" * 32 + "\n")


def test_the_key_and_its_entry_are_read_from_what_the_cli_printed() -> None:
    assert parse_operator_key(CLI_ANSWER) == ("mfo_abc-DEF_123", "load:operator:" + "ab" * 32)


def test_an_answer_without_a_key_is_an_error_not_an_empty_key() -> None:
    with pytest.raises(ValueError):
        parse_operator_key("usage: mailferry operator-key NAME\n")


PAIRS = [(Account("smallsrc-0@load.test", "pw-a,b\"c"), Account("alonedst-7@load.test", "pw-=x")),
         (Account("smallsrc-1@load.test", "pw--"), Account("alonedst-8@load.test", "pw-2"))]


def test_the_csv_has_one_line_a_mailbox_with_each_rows_passwords() -> None:
    lines = list(csv.reader(io.StringIO(rows_csv(PAIRS, "127.0.0.1", 1143))))
    assert lines[0][:5] == ["source_host", "source_port", "source_security", "source_login", "source_password"]
    assert lines[1] == ["127.0.0.1", "1143", "none", "smallsrc-0@load.test", 'pw-a,b"c',
                        "127.0.0.1", "1143", "none", "alonedst-7@load.test", "pw-=x"]
    assert len(lines) == 3


def test_the_projects_own_parser_takes_every_row_with_its_passwords() -> None:
    text = rows_csv(PAIRS, "127.0.0.1", 1143)
    got = list(parse(text.splitlines(keepends=True), ProjectSettings(name="load"), {}))
    assert all(isinstance(r, ParsedRow) for r in got), got
    rows = [r for r in got if isinstance(r, ParsedRow)]
    assert [(r.source.login, r.source.password, r.target.login, r.target.password) for r in rows] == [
        ("smallsrc-0@load.test", 'pw-a,b"c', "alonedst-7@load.test", "pw-=x"),
        ("smallsrc-1@load.test", "pw--", "alonedst-8@load.test", "pw-2")]


def test_a_preflight_is_summed_up_against_what_was_seeded() -> None:
    table = [
        {"source_login": "a", "source_login_check": "ok", "target_login_check": "ok", "messages": 20,
         "estimated_seconds": 1},
        {"source_login": "b", "source_login_check": "ok", "target_login_check": "authentication_failed",
         "messages": 7, "estimated_seconds": 2},
        {"source_login": "c", "source_login_check": "authentication_failed", "target_login_check": "ok",
         "messages": None, "estimated_seconds": None},
    ]
    got = preflight_summary(table, {"a": 20, "b": 8, "c": 5}, 12.34)
    assert got == {"rows": 3, "seconds": 12.3, "logins_ok": 1, "messages_as_seeded": 1, "messages": 27,
                   "estimated_seconds_sum": 3}
