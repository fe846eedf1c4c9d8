"""Calendars and events: single events, series masters with patternedRecurrence, occurrences (/instances),
modified exceptions, cancelled occurrences, all-day events, calendarView and its delta."""

from __future__ import annotations

import secrets
from datetime import date, time, timedelta
from typing import Any

from . import delta, event_instances, extended, folder_tree, mime, query, recurrence, render, resolve, timezones
from .call import Answer, Call
from .errors import bad_request
from .event_instances import Instance
from .routing import Route
from .schema import load_schema
from .store import Entry

# Graph creates an event without attachments given in the create request (they are added to the event once it
# exists: POST /events/{id}/attachments); the emulator refuses them rather than drop them unsaid.
INLINE_CREATE = frozenset({"singleValueExtendedProperties"})
INLINE_UPDATE = frozenset({"singleValueExtendedProperties"})
READ_ONLY = load_schema().read_only("event")
TIME_FIELDS = frozenset({"start", "end", "isAllDay", "recurrence"})


def calendar(call: Call, key: str) -> Entry:
    return resolve.entry(call, key, "calendar", well_known=key == "calendar")


def _cal(call: Call, p: dict[str, str]) -> Entry:
    return calendar(call, p.get("cal", "calendar"))


# -- calendars -----------------------------------------------------------------------------------
def list_calendars(call: Call, p: dict[str, str]) -> Answer:
    return render.listing(call, "calendar", call.mailbox.all_of("calendar"), f"{call.user_path}/calendars")


def get_calendar(call: Call, p: dict[str, str]) -> Answer:
    opts = query.parse(call.emulator.schema, "calendar", call.query, frozenset({"$select"}))
    return Answer(200, render.entity(call, _cal(call, p), opts), entity_type="calendar")


def create_calendar(call: Call, p: dict[str, str]) -> Answer:
    body = call.json()
    call.emulator.validator.check_request("calendar", body)
    name = folder_tree.display_name(body, key="name")
    folder_tree.ensure_free(call.mailbox.all_of("calendar"), str(name), key="name")
    entry = call.mailbox.new_entry("calendar", None, {
        "name": name, "color": body.get("color") or "auto", "hexColor": "", "isDefaultCalendar": False,
        "canEdit": True, "canShare": True, "canViewPrivateItems": True, "isRemovable": True,
        "isTallyingResponses": True, "owner": {"name": call.mailbox.display_name, "address": call.mailbox.upn}})
    return Answer(201, render.entity(call, entry), entity_type="calendar")


def delete_calendar(call: Call, p: dict[str, str]) -> Answer:
    cal = _cal(call, p)
    if cal.well_known:
        raise bad_request("The default calendar cannot be deleted.", "ErrorDeleteDistinguishedFolder")
    for e in [e for e in call.mailbox.entries.values() if e.parent == cal.id]:
        call.mailbox.remove(e)
    call.mailbox.remove(cal)
    return Answer(204)


# -- events --------------------------------------------------------------------------------------
def _defaults(call: Call, now: str) -> dict[str, Any]:
    mbx = call.mailbox
    return {
        "createdDateTime": now, "lastModifiedDateTime": now, "categories": [], "subject": "",
        "body": {"contentType": "html", "content": ""}, "bodyPreview": "", "importance": "normal",
        "sensitivity": "normal", "isAllDay": False, "isCancelled": False, "isDraft": False, "isOrganizer": True,
        "isReminderOn": True, "reminderMinutesBeforeStart": 15, "responseRequested": True,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"}, "showAs": "busy",
        "allowNewTimeProposals": True, "hideAttendees": False, "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown", "attendees": [], "locations": [],
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
        "organizer": {"emailAddress": {"name": mbx.display_name, "address": mbx.upn}},
        "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
        "webLink": "https://outlook.office365.com/owa/?itemid=" + secrets.token_urlsafe(24),
        "hasAttachments": False, "cancelledOccurrences": [], "seriesMasterId": None, "recurrence": None,
        "type": "singleInstance",
    }


def _check_times(props: dict[str, Any]) -> None:
    start, end = props.get("start"), props.get("end")
    if not isinstance(start, dict) or not isinstance(end, dict):
        raise bad_request("An event needs both start and end.", "ErrorInvalidRequest")
    s, e = timezones.to_utc(start), timezones.to_utc(end)
    if e < s:
        raise bad_request("The end date you entered occurs before the start date.",
                          "ErrorCalendarEndDateIsEarlierThanStartDate")
    if props.get("isAllDay"):
        ls, le = timezones.parse_local(start["dateTime"]), timezones.parse_local(end["dateTime"])
        if start.get("timeZone") != end.get("timeZone") or ls.time() != time(0) or le.time() != time(0) or le <= ls:
            raise bad_request("An all-day event must start and end at midnight in the same time zone, and end at "
                              "least one day after it starts.", "ErrorPropertyValidationFailure")
    rec = props.get("recurrence")
    if rec is not None:
        recurrence.check(rec, timezones.parse_local(start["dateTime"]).date())


def _writable(body: dict[str, Any], inline: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in READ_ONLY and k not in inline and "@" not in k}


def _finish(props: dict[str, Any]) -> None:
    props["type"] = "seriesMaster" if props.get("recurrence") else props.get("type", "singleInstance")
    if props["type"] == "seriesMaster" and not props.get("recurrence"):
        props["type"] = "singleInstance"
    props["originalStartTimeZone"] = props["start"]["timeZone"]
    props["originalEndTimeZone"] = props["end"]["timeZone"]
    props["bodyPreview"] = mime.preview(props.get("body") or {})


def list_events(call: Call, p: dict[str, str]) -> Answer:
    cal = _cal(call, p)
    opts = query.parse(call.emulator.schema, "event", call.query, frozenset({"$select", "$top", "$skip", "$expand"}))
    entries = [e for e in call.mailbox.children(cal.id, "event") if e.props.get("type") != "exception"]
    items = [query.apply_select(_one(call, e, opts), _shown(opts)) for e in entries]
    return Answer(200, query.page(items, opts, 10, f"{call.user_path}/calendars('{cal.id}')/events", call.query),
                  entity_type="event", collection=True)


def _shown(opts: query.Options) -> list[str] | None:
    """What $select keeps: the selected properties and the expanded ones (Graph answers both)."""
    return opts.select + list(opts.expand) if opts.select is not None else None


def _one(call: Call, entry: Entry, opts: query.Options | None) -> dict[str, Any]:
    s, e = event_instances.times(entry.props)
    obj = event_instances.event_json(call, Instance(entry.id, entry.change_key, s, e, None, entry))
    if opts is not None and "exceptionOccurrences" in opts.expand:
        obj["exceptionOccurrences"] = [_one(call, x, None) for x in call.mailbox.all_of("event")
                                       if x.props.get("seriesMasterId") == entry.id]
    if opts is not None and "attachments" in opts.expand:
        obj["attachments"] = [render.attachment(a) for a in entry.attachments]
    if opts is not None and "singleValueExtendedProperties" in opts.expand:
        obj["singleValueExtendedProperties"] = extended.render_list(entry.extended,
                                                                    opts.expand["singleValueExtendedProperties"])
    return obj


def create_event(call: Call, p: dict[str, str]) -> Answer:
    cal = _cal(call, p)
    body = call.json()
    call.emulator.validator.check_request("event", body, INLINE_CREATE)
    props = _defaults(call, call.emulator.clock.iso())
    props.update(_writable(body, INLINE_CREATE))
    _check_times(props)
    _finish(props)
    entry = call.mailbox.new_entry("event", cal.id, props)
    entry.extended = extended.parse_list(body.get("singleValueExtendedProperties") or [])
    props["hasAttachments"] = False
    return Answer(201, _one(call, entry, None), entity_type="event")


def get_event(call: Call, p: dict[str, str]) -> Answer:
    inst = event_instances.find(call, p["event"])
    opts = query.parse(call.emulator.schema, "event", call.query, frozenset({"$select", "$expand"}))
    obj = _one(call, inst.entry, opts) if inst.entry is not None else event_instances.event_json(call, inst)
    return Answer(200, query.apply_select(obj, _shown(opts)), entity_type="event")


def update_event(call: Call, p: dict[str, str]) -> Answer:
    inst = event_instances.find(call, p["event"])
    body = call.json()
    call.emulator.validator.check_request("event", body, INLINE_UPDATE)
    changes = _writable(body, INLINE_UPDATE)
    mbx, now = call.mailbox, call.emulator.clock.iso()
    if inst.entry is None:  # an occurrence becomes a modified exception, keeping its id
        assert inst.master is not None
        if "recurrence" in changes:
            raise bad_request("An occurrence cannot have its own recurrence.", "ErrorInvalidRequest")
        master = inst.master
        props = event_instances.copy_props(master.props)
        tz = master.props["start"]["timeZone"]
        props.update(type="exception", recurrence=None, seriesMasterId=master.id, cancelledOccurrences=[],
                     originalStart=inst.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     start=timezones.render(inst.start, tz), end=timezones.render(inst.end, tz),
                     createdDateTime=now, lastModifiedDateTime=now)
        props.update(changes)
        _check_times(props)
        _finish(props)
        props["type"] = "exception"
        entry = mbx.adopt("event", inst.id, master.parent, props)
        master.touch(now)
        return Answer(200, _one(call, entry, None), entity_type="event")
    entry = inst.entry
    if entry.props.get("type") == "exception" and "recurrence" in changes:
        raise bad_request("An exception cannot have its own recurrence.", "ErrorInvalidRequest")
    merged = {**entry.props, **changes}
    _check_times(merged)
    kind_before = entry.props.get("type")
    entry.props.update(changes)
    if kind_before != "exception":
        _finish(entry.props)
    if kind_before == "seriesMaster" and TIME_FIELDS & set(changes):
        for exc in [x for x in mbx.all_of("event") if x.props.get("seriesMasterId") == entry.id]:
            mbx.remove(exc)  # a changed pattern or time drops the series' exceptions, as Exchange does
        entry.props["cancelledOccurrences"] = []
    for pid, val in extended.parse_list(body.get("singleValueExtendedProperties") or []).items():
        entry.extended[pid] = val
    entry.touch(now)
    return Answer(200, _one(call, entry, None), entity_type="event")


def delete_event(call: Call, p: dict[str, str]) -> Answer:
    inst = event_instances.find(call, p["event"])
    mbx, now = call.mailbox, call.emulator.clock.iso()
    master = inst.master
    if master is None and inst.entry is not None and inst.entry.props.get("type") == "exception":
        master = mbx.get(inst.entry.props["seriesMasterId"], "event")
        inst.day = date.fromisoformat(mbx.occurrences[inst.entry.id][1])
    if master is not None and inst.day is not None:  # an occurrence or exception: cancel that date
        if inst.entry is not None:
            mbx.remove(inst.entry)
        master.props["cancelledOccurrences"] = [*master.props.get("cancelledOccurrences", []),
                                                event_instances.oid(master, inst.day)]
        master.touch(now)
        return Answer(204)
    assert inst.entry is not None
    for exc in [x for x in mbx.all_of("event") if x.props.get("seriesMasterId") == inst.entry.id]:
        mbx.remove(exc)
    mbx.remove(inst.entry)
    return Answer(204)


def instances(call: Call, p: dict[str, str]) -> Answer:
    inst = event_instances.find(call, p["event"])
    if inst.entry is None or inst.entry.props.get("type") != "seriesMaster":
        raise bad_request("Instances can be listed only for a series master.", "ErrorInvalidRequest")
    lo, hi = event_instances.window(call)
    opts = query.parse(call.emulator.schema, "event", call.query,
                       frozenset({"$select", "$top", "$skip", "startDateTime", "endDateTime"}))
    found = [i for i in event_instances.series(call.mailbox, inst.entry, (hi + timedelta(days=2)).date())
             if i.start < hi and i.end > lo]
    items = [query.apply_select(event_instances.event_json(call, i), opts.select) for i in found]
    return Answer(200, query.page(items, opts, 10, f"{call.user_path}/events('{inst.entry.id}')/instances",
                                  call.query), entity_type="event", collection=True)


def calendar_view(call: Call, p: dict[str, str]) -> Answer:
    cal = _cal(call, p)
    lo, hi = event_instances.window(call)
    opts = query.parse(call.emulator.schema, "event", call.query, frozenset({"$select", "$top", "$skip"}))
    found = event_instances.in_window(call.mailbox, call.mailbox.children(cal.id, "event"), lo, hi)
    items = [query.apply_select(event_instances.event_json(call, i), opts.select) for i in found]
    return Answer(200, query.page(items, opts, 10, f"{call.user_path}/calendars('{cal.id}')/calendarView",
                                  call.query), entity_type="event", collection=True)


def calendar_view_delta(call: Call, p: dict[str, str]) -> Answer:
    cal = _cal(call, p)
    delta.params(call, frozenset({"startDateTime", "endDateTime"}))
    extra = delta.state_extra(call) if ("$deltatoken" in call.query or "$skiptoken" in call.query) else {
        k: call.query.get(k, "") for k in ("startDateTime", "endDateTime")}
    lo, hi = event_instances.window(call, extra)
    found = event_instances.in_window(call.mailbox, call.mailbox.children(cal.id, "event"), lo, hi)
    current = {i.id: (i.change_key, _renderer(call, i)) for i in found}
    return delta.answer(call, ("calendarView", cal.id, lo.isoformat(), hi.isoformat()), current,
                        f"{call.user_path}/calendars('{cal.id}')/calendarView/delta", "event", extra)


def _renderer(call: Call, inst: Instance) -> Any:
    return lambda: event_instances.event_json(call, inst)


def _event_routes() -> list[Route]:
    out = []
    for prefix in ("", "calendar/", "calendars/{cal}/"):
        out += [
            Route("GET", f"{prefix}calendarView/delta", calendar_view_delta, "Calendars"),
            Route("GET", f"{prefix}calendarView", calendar_view, "Calendars"),
            Route("GET", f"{prefix}events", list_events, "Calendars"),
            Route("POST", f"{prefix}events", create_event, "Calendars"),
            Route("GET", f"{prefix}events/{{event}}", get_event, "Calendars"),
            Route("PATCH", f"{prefix}events/{{event}}", update_event, "Calendars"),
            Route("DELETE", f"{prefix}events/{{event}}", delete_event, "Calendars"),
            Route("GET", f"{prefix}events/{{event}}/instances", instances, "Calendars"),
        ]
    return out


ROUTES = [
    Route("GET", "calendars", list_calendars, "Calendars"),
    Route("POST", "calendars", create_calendar, "Calendars"),
    Route("GET", "calendar", get_calendar, "Calendars"),
    Route("GET", "calendars/{cal}", get_calendar, "Calendars"),
    Route("DELETE", "calendars/{cal}", delete_calendar, "Calendars"),
    *_event_routes(),
]
