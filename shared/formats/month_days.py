"""Exchange's "day N of the month" in iCalendar's words, for Exchange (EWS) and Microsoft 365 (Graph) alike.

Exchange puts day 29, 30 or 31 on the last day of a month that is shorter (Outlook: "some months have fewer
than 31 days; for these months the occurrence falls on the last day"). iCalendar's BYMONTHDAY=31 leaves such
months out; BYMONTHDAY=28,29,30,31;BYSETPOS=-1 says Exchange's rule exactly.
"""

from __future__ import annotations

from .ical_records import RecurrenceRule

# The fewest days each month has (February 28).
SHORTEST = {m: 28 if m == 2 else 30 if m in (4, 6, 9, 11) else 31 for m in range(1, 13)}


def last_day_rule(day: int, shortest: int = 28) -> tuple[list[int], list[int]]:
    """BYMONTHDAY and BYSETPOS for Exchange's ``day``, in a month that has at least ``shortest`` days."""
    if day <= shortest:
        return [day], []
    return list(range(shortest, day + 1)), [-1]


def exchange_day(rule: RecurrenceRule, first_day: int, shortest: int, lossy: list[str]) -> int | None:
    """Exchange's day of the month for a rule without BYDAY: the form :func:`last_day_rule` writes, a plain
    BYMONTHDAY, or the first occurrence's day. A plain day past ``shortest`` also falls on the last day of
    shorter months in Exchange, which the rule had not: that goes to ``lossy``. None if Exchange cannot say it."""
    days = rule.by_month_day or [first_day]
    if rule.by_day:
        return None
    if days == [-1] and not rule.by_set_pos:
        return 31  # the last day of every month
    if len(days) > 1 and rule.by_set_pos == [-1] and days == list(range(days[0], days[-1] + 1)) and days[0] >= 28:
        if days[0] > shortest:  # e.g. 29..31: no occurrence in a February, which Exchange would give one
            lossy.append(f"days {days[0]}-{days[-1]} of the month, the last of them: Exchange also puts one on the "
                         f"last day of months shorter than {days[0]} days")
        return days[-1]
    if len(days) == 1 and days[0] > 0 and not rule.by_set_pos:
        if days[0] > shortest:
            lossy.append(f"day {days[0]} of the month also falls on the last day of shorter months in Exchange")
        return days[0]
    return None
