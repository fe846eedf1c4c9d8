"""A project's CSV: every bad line named with its line, column and reason; good rows as the API's endpoints."""

from __future__ import annotations

from services.intake.project_csv import MAX_CELL, ParsedRow, ProjectSettings, RowError, SideDefaults, parse
from shared.project_progress import safe_cell, table_csv

HEADER = "source_host,source_port,source_security,source_login,source_password,target_host,target_port,target_login\n"
SETTINGS = ProjectSettings(name="p", target=SideDefaults(host="mx.example.net", security="tls",
                                                         password="admin-secret", login_format="{login}*admin"))


def outcomes(*lines: str, settings: ProjectSettings = SETTINGS, room: int = 50_000) -> list[ParsedRow | RowError]:
    return list(parse([HEADER, *lines], settings, {}, room))


def errors(*lines: str) -> set[tuple[int, str]]:
    return {(o.line, o.field) for o in outcomes(*lines) if isinstance(o, RowError)}


def test_a_good_row_takes_the_project_wide_master_user_where_its_cells_are_empty() -> None:
    [row] = outcomes("imap.example.org,993,tls,ann@example.org,pw1,,993,ann@example.net\n")
    assert isinstance(row, ParsedRow)
    assert (row.source.host, row.source.port, row.source.login, row.source.password) == (
        "imap.example.org", 993, "ann@example.org", "pw1")
    assert (row.target.host, row.target.login, row.target.password) == (
        "mx.example.net", "ann@example.net*admin", "admin-secret")
    assert row.options == ["emails"] and row.line == 2


def test_hostile_and_broken_cells_are_each_reported_on_their_line() -> None:
    good = "imap.example.org,993,tls,{},pw,,993,x@example.net\n"
    found = errors(
        good.format("a@example.org"),                                   # 2: fine
        good.format('"a\r\nLOGIN x"'),                                  # 3: a line break in a login
        good.format("=cmd|' /C calc'!A0"),                             # 4: a formula
        good.replace(",pw,", f",{'p' * (MAX_CELL + 1)},").format("b@example.org"),  # 5: oversized
        good.format("a@example.org"),                                   # 6: the same source again
        "imap.example.org,99999,tls,c@example.org,pw,,993,x@example.net\n",  # 7: port
        "imap.example.org,993,ssl,d@example.org,pw,,993,x@example.net\n",  # 8: security
        ",993,tls,e@example.org,pw,,993,x@example.net\n",               # 9: no server
        "imap.example.org,993\n",                                       # 10: short line
        good.format("f@exam\ufffdple.org"),                             # 11: not UTF-8
        good.format("g@example.org\x00"),                               # 12: NUL
    )
    assert found == {(3, "source_login"), (4, "source_login"), (5, "source_password"), (6, "source_login"),
                     (7, "source_port"), (8, "source_security"), (9, "source_host"), (10, ""),
                     (11, "source_login"), (12, "source_login")}


def test_the_header_must_name_known_columns_and_the_logins() -> None:
    bad = list(parse(["source_login,evil_column,source_login,target_lgin\n", "a,b,c,d\n"], SETTINGS, {}))
    assert {(e.line, e.field) for e in bad if isinstance(e, RowError)} == {
        (1, "column 2"), (1, "column 4"), (1, "target_login"), (1, "source_login")}
    [typo] = [e.reason for e in bad if isinstance(e, RowError) and e.field == "column 4"]
    assert typo.startswith("not a column name (did you mean target_login?")
    assert [(e.line, e.reason) for e in parse([], SETTINGS, {}) if isinstance(e, RowError)] == [
        (1, "the CSV is empty: the first line names the columns")]


def test_options_per_row_are_checked_against_the_pair() -> None:
    [row, bad] = list(parse(
        [HEADER.rstrip("\n") + ",options\n",
         "imap.example.org,993,tls,a@example.org,pw,,993,x@example.net,emails\n",
         "imap.example.org,993,tls,b@example.org,pw,,993,y@example.net,emails;contacts\n"], SETTINGS, {}))
    assert isinstance(row, ParsedRow) and row.options == ["emails"]
    assert isinstance(bad, RowError) and (bad.line, bad.field) == (3, "options")


def test_rows_past_the_room_left_are_refused_once() -> None:
    lines = [f"imap.example.org,993,tls,u{i}@example.org,pw,,993,u{i}@example.net\n" for i in range(5)]
    got = outcomes(*lines, room=3)
    assert sum(isinstance(o, ParsedRow) for o in got) == 3
    assert [(o.line, o.field) for o in got if isinstance(o, RowError)] == [(5, "")]


def test_exports_neutralise_formulas() -> None:
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("@SUM(A1)") == "'@SUM(A1)" and safe_cell("ann") == "ann"
    assert safe_cell(5) == 5
    assert table_csv(("a", "b"), [{"a": "-2+3", "b": "x"}]) == "a,b\r\n'-2+3,x\r\n"


def test_a_file_without_its_header_line_never_repeats_the_cells_of_its_first_line() -> None:
    """The first line is then a row of data, its password among it; the errors are stored, published and shown."""
    first = "imap.example.org,993,tls,ann@example.org,Sup3r-Secret-pw,mx.example.net,993,ann@example.net\n"
    found = [e for e in parse([first, first], SETTINGS, {}) if isinstance(e, RowError)]
    assert found and all(e.line == 1 for e in found)
    leaked = [e.line for e in found if "secret" in f"{e.field} {e.reason}".lower() or "ann@" in e.field + e.reason]
    assert not leaked, "a cell of the first line is in its errors"  # (not printed: it may be the password)


def test_a_header_of_100_000_cells_is_one_error_at_once() -> None:
    header = ",".join(f"c{i}" for i in range(100_000)) + "\n"
    [err] = [e for e in parse([header], SETTINGS, {}) if isinstance(e, RowError)]
    assert (err.line, err.field) == (1, "") and "100000 cells" in err.reason


def test_a_port_of_digits_python_reads_but_int_refuses_is_the_rows_error() -> None:
    """"²".isdigit() is True but int("²") raises: once a 500 that left the project half made."""
    found = errors(*(f"imap.example.org,{port},tls,u{i}@example.org,pw,,993,x@example.net\n"
                     for i, port in enumerate(("²", "١٤٣", "１４３", "9.9e2"))))
    assert found == {(2, "source_port"), (3, "source_port"), (4, "source_port"), (5, "source_port")}
