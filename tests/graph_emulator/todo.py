"""Microsoft To Do: task lists and tasks (title, status, importance, due date, body, categories, recurrence)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from . import delta, query, recurrence, render, resolve, timezones
from .call import Answer, Call
from .errors import bad_request, not_found
from .routing import Route
from .schema import load_schema
from .store import Entry

TASK_READ_ONLY = load_schema().read_only("todoTask")
_QUERY = frozenset({"$select", "$top", "$skip"})


def task_list(call: Call, key: str) -> Entry:
    return resolve.entry(call, key, "todoTaskList")


def task_of(call: Call, p: dict[str, str]) -> Entry:
    lst = task_list(call, p["list"])
    entry = resolve.entry(call, p["task"], "todoTask")
    if entry.parent != lst.id:
        raise not_found()
    return entry


def list_lists(call: Call, p: dict[str, str]) -> Answer:
    return render.listing(call, "todoTaskList", call.mailbox.all_of("todoTaskList"), f"{call.user_path}/todo/lists",
                          100)


def get_list(call: Call, p: dict[str, str]) -> Answer:
    return Answer(200, render.entity(call, task_list(call, p["list"])), entity_type="todoTaskList")


def _list_name(body: dict[str, Any]) -> str:
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("The task list's displayName is required and cannot be empty.", "invalidRequest")
    return name


def create_list(call: Call, p: dict[str, str]) -> Answer:
    body = call.json()
    call.emulator.validator.check_request("todoTaskList", body)
    entry = call.mailbox.new_entry("todoTaskList", None, {"displayName": _list_name(body), "isOwner": True,
                                                          "isShared": False, "wellknownListName": "none"})
    return Answer(201, render.entity(call, entry), entity_type="todoTaskList")


def update_list(call: Call, p: dict[str, str]) -> Answer:
    entry = task_list(call, p["list"])
    body = call.json()
    call.emulator.validator.check_request("todoTaskList", body)
    if "displayName" in body:
        entry.props["displayName"] = _list_name(body)
    entry.touch(call.emulator.clock.iso())
    return Answer(200, render.entity(call, entry), entity_type="todoTaskList")


def delete_list(call: Call, p: dict[str, str]) -> Answer:
    entry = task_list(call, p["list"])
    if entry.well_known:
        raise bad_request("The default task list cannot be deleted.", "invalidRequest")
    for t in call.mailbox.children(entry.id, "todoTask"):
        call.mailbox.remove(t)
    call.mailbox.remove(entry)
    return Answer(204)


def _check_task(props: dict[str, Any]) -> None:
    for key in ("dueDateTime", "startDateTime", "reminderDateTime", "completedDateTime"):
        if isinstance(props.get(key), dict):
            timezones.to_utc(props[key])
    if props.get("recurrence") is not None:
        if not props.get("dueDateTime"):
            raise bad_request("A recurring task needs a dueDateTime.", "invalidRequest")
        recurrence.check(props["recurrence"], None)
    body = props.get("body")
    if isinstance(body, dict) and body.get("contentType") not in (None, "text", "html"):
        raise bad_request("The task body must be text or html.", "invalidRequest")


def _days_as_kept(props: dict[str, Any], mailbox_zone: str) -> None:
    """To Do keeps a start or due date as a day: the midnight that starts it in the mailbox's zone, answered in
    UTC, whatever zone it was written in (Microsoft's "Get todoTask" sample answers 2020-08-25T04:00:00.0000000
    UTC, a day in a mailbox at UTC-4; a mailbox at UTC+2 gets 22:00 the day before)."""
    for key in ("dueDateTime", "startDateTime"):
        value = props.get(key)
        if isinstance(value, dict) and value.get("dateTime"):
            day = timezones.parse_local(str(value["dateTime"])).date()
            props[key] = timezones.render(datetime.combine(day, time(0), timezones.zone(mailbox_zone)), "UTC")


def list_tasks(call: Call, p: dict[str, str]) -> Answer:
    lst = task_list(call, p["list"])
    return render.listing(call, "todoTask", call.mailbox.children(lst.id, "todoTask"),
                          f"{call.user_path}/todo/lists/{lst.id}/tasks", 100)


def get_task(call: Call, p: dict[str, str]) -> Answer:
    opts = query.parse(call.emulator.schema, "todoTask", call.query, frozenset({"$select"}))
    return Answer(200, render.entity(call, task_of(call, p), opts), entity_type="todoTask")


def create_task(call: Call, p: dict[str, str]) -> Answer:
    lst = task_list(call, p["list"])
    body = call.json()
    call.emulator.validator.check_request("todoTask", body)
    now = call.emulator.clock.iso()
    props: dict[str, Any] = {"createdDateTime": now, "lastModifiedDateTime": now, "bodyLastModifiedDateTime": now,
                             "importance": "normal", "isReminderOn": False, "status": "notStarted",
                             "categories": [], "hasAttachments": False, "title": "",
                             "body": {"contentType": "text", "content": ""}}
    props.update({k: v for k, v in body.items() if k not in TASK_READ_ONLY and "@" not in k})
    _check_task(props)
    _days_as_kept(props, str(call.mailbox.settings.get("timeZone") or "UTC"))
    entry = call.mailbox.new_entry("todoTask", lst.id, props)
    return Answer(201, render.entity(call, entry), entity_type="todoTask")


def update_task(call: Call, p: dict[str, str]) -> Answer:
    entry = task_of(call, p)
    body = call.json()
    call.emulator.validator.check_request("todoTask", body)
    changes = {k: v for k, v in body.items() if k not in TASK_READ_ONLY and "@" not in k}
    _check_task({**entry.props, **changes})
    _days_as_kept(changes, str(call.mailbox.settings.get("timeZone") or "UTC"))
    entry.props.update(changes)
    now = call.emulator.clock.iso()
    if "body" in changes:
        entry.props["bodyLastModifiedDateTime"] = now
    entry.touch(now)
    return Answer(200, render.entity(call, entry), entity_type="todoTask")


def delete_task(call: Call, p: dict[str, str]) -> Answer:
    call.mailbox.remove(task_of(call, p))
    return Answer(204)


def tasks_delta(call: Call, p: dict[str, str]) -> Answer:
    lst = task_list(call, p["list"])
    delta.params(call)
    current = render.delta_items(call, call.mailbox.children(lst.id, "todoTask"))
    return delta.answer(call, ("tasks", lst.id), current, f"{call.user_path}/todo/lists/{lst.id}/tasks/delta",
                        "todoTask")


ROUTES = [
    Route("GET", "todo/lists", list_lists, "Tasks"),
    Route("POST", "todo/lists", create_list, "Tasks"),
    Route("GET", "todo/lists/{list}", get_list, "Tasks"),
    Route("PATCH", "todo/lists/{list}", update_list, "Tasks"),
    Route("DELETE", "todo/lists/{list}", delete_list, "Tasks"),
    Route("GET", "todo/lists/{list}/tasks/delta", tasks_delta, "Tasks"),
    Route("GET", "todo/lists/{list}/tasks", list_tasks, "Tasks"),
    Route("POST", "todo/lists/{list}/tasks", create_task, "Tasks"),
    Route("GET", "todo/lists/{list}/tasks/{task}", get_task, "Tasks"),
    Route("PATCH", "todo/lists/{list}/tasks/{task}", update_task, "Tasks"),
    Route("DELETE", "todo/lists/{list}/tasks/{task}", delete_task, "Tasks"),
]
