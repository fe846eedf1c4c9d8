"""Exchange's "day N of the month" read from iCalendar rules: what it can say exactly, and what it says with a
note (Exchange puts day 29-31 on the last day of a shorter month)."""

from __future__ import annotations

from shared.formats.ical_records import RecurrenceRule
from shared.formats.month_days import exchange_day, last_day_rule


def day(by_month_day: list[int], by_set_pos: list[int] | None = None) -> tuple[int | None, list[str]]:
    lossy: list[str] = []
    rule = RecurrenceRule("MONTHLY", interval=1, by_month_day=by_month_day, by_set_pos=by_set_pos or [])
    return exchange_day(rule, 1, 28, lossy), lossy


def test_exchanges_own_form_and_the_last_day_are_exact() -> None:
    assert day([28, 29, 30, 31], [-1]) == (31, [])
    assert day([28, 29, 30], [-1]) == (30, [])
    assert day([-1]) == (31, [])
    assert day([15]) == (15, [])


def test_a_run_starting_past_the_shortest_month_is_said_with_a_note() -> None:
    # 29..31, the last of them: no occurrence in a February of 28 days; Exchange's day 31 puts one on the 28th.
    found, lossy = day([29, 30, 31], [-1])
    assert found == 31
    assert len(lossy) == 1 and "29-31" in lossy[0]


def test_a_plain_day_past_28_is_said_with_a_note_and_others_not_at_all() -> None:
    found, lossy = day([30])
    assert found == 30 and len(lossy) == 1
    assert day([1, 15]) == (None, [])  # two days a month: no Exchange pattern


def test_last_day_rule_writes_exchanges_form() -> None:
    assert last_day_rule(31) == ([28, 29, 30, 31], [-1])
    assert last_day_rule(12) == ([12], [])
    assert last_day_rule(31, shortest=30) == ([30, 31], [-1])
