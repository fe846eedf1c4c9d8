"""Calendar specifics: recurrence expansion, occurrences, exceptions (ModifiedOccurrences) and
deleted occurrences (DeletedOccurrences) of recurring masters."""

from __future__ import annotations

import calendar as pycal
import uuid
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .soap import T_NS, EwsError, copy_el, local, schema_error, sub, tq
from .store import Item, Mailbox, make_id, parse_id

if TYPE_CHECKING:
    from .server import Context

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
INDEXES = {"First": 1, "Second": 2, "Third": 3, "Fourth": 4, "Last": -1}
MONTHS = {name: i for i, name in enumerate(pycal.month_name) if name}
PATTERNS = (
    "DailyRecurrence",
    "WeeklyRecurrence",
    "AbsoluteMonthlyRecurrence",
    "RelativeMonthlyRecurrence",
    "AbsoluteYearlyRecurrence",
    "RelativeYearlyRecurrence",
)
MAX_SCAN_DAYS = 366 * 30
MAX_INSTANCES = 2000


def parse_dt(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(item: Item) -> tzinfo:
    """The wall-clock zone of the master (StartTimeZone Id), so instances keep their local time across DST."""
    tz_el = item.get("StartTimeZone")
    ms_id = tz_el.get("Id") if tz_el is not None else None
    if tz_el is not None and tz_el.find(tq("Periods")) is not None:  # given by its definition: Exchange uses it
        from .zone_definition import DefinedZone

        return DefinedZone(tz_el)
    if ms_id:
        try:
            from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP  # test-only helper table

            return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP[ms_id])
        except (ImportError, KeyError):
            pass
    return UTC


def _weekday_matches(d: date, days: list[str]) -> bool:
    name = DAYS[d.weekday()]
    return (
        name in days
        or ("Day" in days)
        or ("Weekday" in days and d.weekday() < 5)
        or ("WeekendDay" in days and d.weekday() >= 5)
    )


def _nth(d: date, days: list[str], index: str) -> bool:
    if not _weekday_matches(d, days):
        return False
    month_days = [date(d.year, d.month, n) for n in range(1, pycal.monthrange(d.year, d.month)[1] + 1)]
    candidates = [x for x in month_days if _weekday_matches(x, days)]
    pos = INDEXES.get(index, 0)
    return bool(candidates) and candidates[pos - 1 if pos > 0 else -1] == d


def _clamped(d: date, dom: int) -> int:
    return min(dom, pycal.monthrange(d.year, d.month)[1])


def _matcher(pattern: Any, first: date) -> Any:
    kind = local(pattern)
    interval = int(pattern.findtext(tq("Interval")) or 1)
    days = (pattern.findtext(tq("DaysOfWeek")) or "").split()
    dom = int(pattern.findtext(tq("DayOfMonth")) or 0)
    index = pattern.findtext(tq("DayOfWeekIndex")) or ""
    month = MONTHS.get(pattern.findtext(tq("Month")) or "", 0)

    def months_between(d: date) -> int:
        return (d.year - first.year) * 12 + d.month - first.month

    if kind == "DailyRecurrence":
        return lambda d: (d - first).days % interval == 0
    if kind == "WeeklyRecurrence":  # weeks start on FirstDayOfWeek (Monday when absent), as Exchange counts them
        week_start = DAYS.index(pattern.findtext(tq("FirstDayOfWeek")) or "Monday")
        week0 = first - timedelta(days=(first.weekday() - week_start) % 7)
        return lambda d: _weekday_matches(d, days) and ((d - week0).days // 7) % interval == 0
    if kind == "AbsoluteMonthlyRecurrence":  # day 31 falls on the last day of a shorter month, as in Outlook
        return lambda d: d.day == _clamped(d, dom) and months_between(d) % interval == 0
    if kind == "RelativeMonthlyRecurrence":
        return lambda d: months_between(d) % interval == 0 and _nth(d, days, index)
    if kind == "AbsoluteYearlyRecurrence":
        return lambda d: d.month == month and d.day == _clamped(d, dom)
    if kind == "RelativeYearlyRecurrence":
        return lambda d: d.month == month and _nth(d, days, index)
    raise schema_error(f"Recurrence pattern '{kind}' is not implemented by the EWS emulator.")


def instances(master: Item) -> list[tuple[datetime, datetime]]:
    """(start, end) of every instance of a recurring master, in index order (1-based index = position + 1)."""
    rec = master.get("Recurrence")
    if rec is None:
        return []
    pattern = next((c for c in rec if local(c) in PATTERNS), None)
    rng = next((c for c in rec if local(c).endswith("Recurrence") and local(c) not in PATTERNS), None)
    if pattern is None or rng is None:
        raise schema_error("Recurrence needs a pattern and a range the EWS emulator understands.")
    zone = _zone(master)
    start = parse_dt(master.text("Start") or "").astimezone(zone)
    duration = parse_dt(master.text("End") or "") - parse_dt(master.text("Start") or "")
    first = date.fromisoformat((rng.findtext(tq("StartDate")) or start.date().isoformat())[:10])
    end_date = rng.findtext(tq("EndDate"))
    last = date.fromisoformat(end_date[:10]) if end_date else None
    count = int(rng.findtext(tq("NumberOfOccurrences")) or 0) or None
    matches = _matcher(pattern, first)
    out: list[tuple[datetime, datetime]] = []
    d = first
    while (
        len(out) < (count or MAX_INSTANCES)
        and (d - first).days < MAX_SCAN_DAYS
        and (last is None or d <= last)
    ):
        if matches(d):
            s = datetime.combine(d, start.timetz().replace(tzinfo=None), zone)
            out.append((s, s + duration))
        d += timedelta(days=1)
    return out


def on_create(item: Item) -> None:
    if item.get("UID") is None:
        sub(item.elem, T_NS, "UID", uuid.uuid4().hex.upper())
    if item.get("Recurrence") is not None:
        instances(item)  # validate the pattern now, as Exchange does on save


def render_calendar_computed(parent: Any, name: str, item: Item, mbx: Mailbox) -> None:
    """CalendarItemType, IsRecurring, ModifiedOccurrences, DeletedOccurrences as in the published
    "Recurrence patterns and time zones" / "Access a recurring series by using EWS" samples."""
    if name == "CalendarItemType":
        if item.master_id:
            kind = "Exception" if item.modified else "Occurrence"
        else:
            kind = "RecurringMaster" if item.get("Recurrence") is not None else "Single"
        sub(parent, T_NS, "CalendarItemType", kind)
    elif name == "IsRecurring":
        sub(parent, T_NS, "IsRecurring", "true" if item.master_id else "false")
    elif name == "ModifiedOccurrences":
        modified = [
            mbx.items[i] for i in item.occurrences.values() if i in mbx.items and mbx.items[i].modified
        ]
        if modified:
            holder = sub(parent, T_NS, "ModifiedOccurrences")
            for occ in sorted(modified, key=lambda o: o.instance_index or 0):
                el = sub(holder, T_NS, "Occurrence")
                sub(el, T_NS, "ItemId", Id=occ.id, ChangeKey=occ.changekey)
                for tag in ("Start", "End", "OriginalStart"):
                    sub(el, T_NS, tag, occ.text(tag) or "")
    elif name == "DeletedOccurrences" and item.deleted_occurrences:
        holder = sub(parent, T_NS, "DeletedOccurrences")
        for _, start in sorted(item.deleted_occurrences.items()):
            sub(sub(holder, T_NS, "DeletedOccurrence"), T_NS, "Start", start)


def _occurrence(mbx: Mailbox, master: Item, index: int) -> Item:
    if index in master.deleted_occurrences:
        raise EwsError("ErrorCalendarOccurrenceIsDeletedFromRecurrence", "The occurrence has been deleted.")
    if index in master.occurrences and master.occurrences[index] in mbx.items:
        return mbx.items[master.occurrences[index]]
    all_instances = instances(master)
    if master.get("Recurrence") is None:
        raise EwsError("ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", "The item is not recurring.")
    if not 1 <= index <= len(all_instances):
        raise EwsError(
            "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange", f"Occurrence index {index} is out of range."
        )
    start, end = all_instances[index - 1]
    elem = copy_el(master.elem)
    for tag in (
        "Recurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "FirstOccurrence",
        "LastOccurrence",
    ):
        for el in elem.findall(tq(tag)):
            elem.remove(el)
    for tag, value in (("Start", iso(start)), ("End", iso(end)), ("OriginalStart", iso(start))):
        el = elem.find(tq(tag))
        if el is None:
            el = sub(elem, T_NS, tag)
        el.text = value
    occ = Item(make_id("I", mbx.number), master.folder_id, elem, master_id=master.id, instance_index=index)
    mbx.items[occ.id] = occ
    master.occurrences[index] = occ.id
    return occ


def resolve_occurrence(ctx: Context, el: Any) -> tuple[Mailbox, Item]:
    """t:OccurrenceItemId (RecurringMasterId + InstanceIndex) or t:RecurringMasterItemId (OccurrenceId)."""
    if local(el) == "OccurrenceItemId":
        master_id, raw_index = el.get("RecurringMasterId"), el.get("InstanceIndex")
        if not raw_index or not raw_index.isdigit():
            raise schema_error("OccurrenceItemId requires a numeric InstanceIndex.")
        _, number = parse_id(master_id, ("I",))
        mbx = ctx.mailbox_by_number(number)
        master = mbx.items.get(str(master_id))
        if master is None or master.kind != "CalendarItem":
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        if master.master_id:
            raise EwsError(
                "ErrorCalendarCannotUseIdForRecurringMasterId", "The Id is not a recurring master."
            )
        return mbx, _occurrence(mbx, master, int(raw_index))
    _, number = parse_id(el.get("OccurrenceId"), ("I",))
    mbx = ctx.mailbox_by_number(number)
    occ = mbx.items.get(str(el.get("OccurrenceId")))
    if occ is None:
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
    if not occ.master_id:
        raise EwsError("ErrorCalendarCannotUseIdForOccurrenceId", "The Id is not an occurrence.")
    return mbx, mbx.items[occ.master_id]


def on_update(mbx: Mailbox, item: Item) -> None:
    if item.master_id:
        item.modified = True
        master = mbx.items.get(item.master_id)
        if master is not None:
            master.touch(["ModifiedOccurrences"])


def on_delete(mbx: Mailbox, item: Item) -> None:
    if item.master_id and item.instance_index is not None:
        master = mbx.items.get(item.master_id)
        if master is not None:
            master.occurrences.pop(item.instance_index, None)
            master.deleted_occurrences[item.instance_index] = (
                item.text("OriginalStart") or item.text("Start") or ""
            )
            master.touch(["DeletedOccurrences"])
