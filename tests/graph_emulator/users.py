"""The user resource (a few properties) and mailboxSettings with automaticRepliesSetting (GET/PATCH)."""

from __future__ import annotations

import copy
from typing import Any

from . import timezones
from .call import Answer, Call
from .errors import bad_request
from .routing import Route

_USER_SELECTABLE = ("id", "displayName", "mail", "userPrincipalName")


def get_user(call: Call, p: dict[str, str]) -> Answer:
    mbx = call.mailbox
    obj: dict[str, Any] = {"id": mbx.user_id, "displayName": mbx.display_name, "mail": mbx.upn, "userPrincipalName": mbx.upn}
    select = call.query.get("$select")
    if select:
        wanted = [s.strip() for s in select.split(",")]
        for s in wanted:
            if s not in _USER_SELECTABLE and s != "mailboxSettings":
                raise bad_request(f"Could not find a property named '{s}' on type 'microsoft.graph.user'.")
        obj = {k: v for k, v in obj.items() if k in wanted or k == "id"}
        if "mailboxSettings" in wanted:
            obj["mailboxSettings"] = copy.deepcopy(mbx.settings)
    return Answer(200, obj, entity_type="user")


def get_settings(call: Call, p: dict[str, str]) -> Answer:
    return Answer(200, copy.deepcopy(call.mailbox.settings), entity_type="mailboxSettings")


def get_auto_replies(call: Call, p: dict[str, str]) -> Answer:
    return Answer(200, copy.deepcopy(call.mailbox.settings["automaticRepliesSetting"]),
                  entity_type="automaticRepliesSetting")


def _check_schedule(merged: dict[str, Any]) -> None:
    if merged.get("status") != "scheduled":
        return
    start, end = merged.get("scheduledStartDateTime"), merged.get("scheduledEndDateTime")
    if not start or not end:
        raise bad_request("A scheduled automatic reply needs scheduledStartDateTime and scheduledEndDateTime.",
                          "ErrorInvalidRequest")
    s, e = timezones.to_utc(start), timezones.to_utc(end)
    if e <= s:
        raise bad_request("The end time of the automatic replies schedule must be after its start time.",
                          "ErrorOofSettingsScheduleInvalid")


def update_settings(call: Call, p: dict[str, str]) -> Answer:
    body = call.json()
    call.emulator.validator.check_request("mailboxSettings", body)
    settings = call.mailbox.settings
    if "timeZone" in body and body["timeZone"] is not None:
        timezones.zone(body["timeZone"])
    merged = dict(settings)
    for key, value in body.items():
        if "@" in key:
            continue
        if key == "automaticRepliesSetting" and isinstance(value, dict):
            auto = dict(settings["automaticRepliesSetting"])
            auto.update({k: v for k, v in value.items() if "@" not in k})
            for k in ("scheduledStartDateTime", "scheduledEndDateTime"):
                if isinstance(auto.get(k), dict):
                    tz = str(auto[k].get("timeZone") or "")
                    timezones.zone(tz)
                    when = timezones.parse_local(str(auto[k].get("dateTime") or ""))
                    auto[k] = {"dateTime": when.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz}
            _check_schedule(auto)
            merged[key] = auto
        else:
            merged[key] = value
    call.mailbox.settings = merged
    return Answer(200, copy.deepcopy(merged), entity_type="mailboxSettings")


ROUTES = [
    Route("GET", "", get_user, "User"),
    Route("GET", "mailboxSettings", get_settings, "MailboxSettings"),
    Route("PATCH", "mailboxSettings", update_settings, "MailboxSettings"),
    Route("GET", "mailboxSettings/automaticRepliesSetting", get_auto_replies, "MailboxSettings"),
]
