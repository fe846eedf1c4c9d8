"""Events as Graph shows them: times in the requested zone, series expanded into occurrences (with modified
exceptions and cancelled dates) inside a calendarView window."""

from __future__ import annotations

import base64
import copy
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import recurrence, render, timezones
from .call import Call
from .clock import iso_utc
from .errors import GraphError
from .store import Entry, Mailbox


@dataclass
class Instance:
    id: str
    change_key: str
    start: datetime  # UTC
    end: datetime
    master: Entry | None  # for occurrences
    entry: Entry | None  # the stored event (single instance, master or exception)
    day: date | None = None


def out_zone(call: Call) -> str:
    name = call.prefer("outlook.timezone") or "UTC"
    timezones.zone(name)
    return name


def times(entry_props: dict[str, Any]) -> tuple[datetime, datetime]:
    return timezones.to_utc(entry_props["start"]), timezones.to_utc(entry_props["end"])


def occurrence_id(mailbox: Mailbox, master: Entry, day: date) -> str:
    digest = hashlib.sha256(mailbox.key + master.immutable_id.encode() + day.isoformat().encode()).digest()
    raw = mailbox.key[:16] + hashlib.shake_256(digest).digest(85)
    occ = "AAMkA" + base64.urlsafe_b64encode(raw).decode()
    mailbox.occurrences[occ] = (master.id, day.isoformat())
    return occ


def oid(master: Entry, day: date) -> str:
    return f"OID.{master.id}.{day.isoformat()}"


def _times_json(call: Call, props: dict[str, Any], start: datetime, end: datetime) -> dict[str, Any]:
    tz = out_zone(call)
    if props.get("isAllDay"):
        local_s = timezones.parse_local(props["start"]["dateTime"])
        days = (timezones.parse_local(props["end"]["dateTime"]) - local_s).days
        first = start.astimezone(timezones.zone(props["start"]["timeZone"])).date()
        return {"start": {"dateTime": f"{first.isoformat()}T00:00:00.0000000", "timeZone": tz},
                "end": {"dateTime": f"{(first + timedelta(days=days)).isoformat()}T00:00:00.0000000", "timeZone": tz}}
    return {"start": timezones.render(start, tz), "end": timezones.render(end, tz)}


def event_json(call: Call, inst: Instance) -> dict[str, Any]:
    if inst.entry is not None:
        obj = render.entity(call, inst.entry)
        obj.update(_times_json(call, inst.entry.props, inst.start, inst.end))
        if obj.get("seriesMasterId"):
            obj["seriesMasterId"] = render.ref(call, obj["seriesMasterId"])
        return obj
    assert inst.master is not None
    obj = render.entity(call, inst.master)
    obj["@odata.etag"] = f'W/"{inst.master.change_key}"'
    obj.update(id=inst.id, type="occurrence", seriesMasterId=render.ref(call, inst.master.id), recurrence=None,
               originalStart=iso_utc(inst.start.timestamp()), cancelledOccurrences=[])
    obj.update(_times_json(call, inst.master.props, inst.start, inst.end))
    return obj


def series(mailbox: Mailbox, master: Entry, until: date) -> list[Instance]:
    """Every occurrence of a series master up to `until`, exceptions in place, cancelled dates left out."""
    props = master.props
    s, e = times(props)
    tz = timezones.zone(props["start"]["timeZone"])
    local_start = s.astimezone(tz)
    cancelled = set(props.get("cancelledOccurrences") or [])
    out = []
    for day in recurrence.dates(props["recurrence"], until):
        if oid(master, day) in cancelled:
            continue
        occ = occurrence_id(mailbox, master, day)
        exc = mailbox.entries.get(occ)
        if exc is not None:
            es, ee = times(exc.props)
            out.append(Instance(occ, exc.change_key, es, ee, master, exc, day))
            continue
        start = datetime.combine(day, local_start.timetz().replace(tzinfo=None)).replace(tzinfo=tz).astimezone(UTC)
        out.append(Instance(occ, master.change_key, start, start + (e - s), master, None, day))
    return out


def in_window(mailbox: Mailbox, events: list[Entry], lo: datetime, hi: datetime) -> list[Instance]:
    out: list[Instance] = []
    for ev in events:
        kind = ev.props.get("type")
        if kind == "exception":
            continue
        if kind == "seriesMaster":
            candidates = series(mailbox, ev, (hi + timedelta(days=2)).date())
        else:
            s, e = times(ev.props)
            candidates = [Instance(ev.id, ev.change_key, s, e, None, ev)]
        out.extend(i for i in candidates if i.start < hi and (i.end > lo or (i.end == i.start and i.start >= lo)))
    return sorted(out, key=lambda i: i.start)


def find(call: Call, key: str) -> Instance:
    """An event by id: a stored event, or an occurrence of a series (404 when cancelled)."""
    mbx = call.mailbox
    entry = mbx.get(key, "event")
    if entry is not None:
        s, e = times(entry.props)
        return Instance(entry.id, entry.change_key, s, e, None, entry)
    if key in mbx.occurrences:
        master_id, day = mbx.occurrences[key]
        master = mbx.get(master_id, "event")
        if master is not None:
            for inst in series(mbx, master, date.fromisoformat(day)):
                if inst.id == key:
                    return inst
    from . import resolve

    if not resolve.well_formed(key):
        raise resolve.malformed()
    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def window(call: Call, extra: dict[str, str] | None = None) -> tuple[datetime, datetime]:
    q = {**call.query, **(extra or {})}
    if not q.get("startDateTime") or not q.get("endDateTime"):
        raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query "
                                                       "string parameters StartDateTime and EndDateTime.")
    out = []
    for name in ("startDateTime", "endDateTime"):
        try:
            when = datetime.fromisoformat(q[name].replace("Z", "+00:00"))
        except ValueError as err:
            raise GraphError(400, "ErrorInvalidParameter", f"The value '{q[name]}' of parameter '{name}' is not a "
                                                           "valid date and time.") from err
        out.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    return out[0], out[1]


def copy_props(props: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(props)
