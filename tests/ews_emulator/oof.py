"""Out-of-office operations: GetUserOofSettings, SetUserOofSettings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .soap import M_NS, T_NS, EwsError, child, copy_el, local, m_el, require, schema_error, sub, t_el, text_of
from .typed import normalize

if TYPE_CHECKING:
    from .server import Context
    from .store import Mailbox

STATES = ("Disabled", "Enabled", "Scheduled")
AUDIENCES = ("None", "Known", "All")
OOF_CHILDREN = ("OofState", "ExternalAudience", "Duration", "InternalReply", "ExternalReply")


def default_oof() -> Any:
    el = t_el("OofSettings")
    sub(el, T_NS, "OofState", "Disabled")
    sub(el, T_NS, "ExternalAudience", "All")
    d = sub(el, T_NS, "Duration")
    sub(d, T_NS, "StartTime", "2000-01-01T00:00:00Z")
    sub(d, T_NS, "EndTime", "2000-01-02T00:00:00Z")
    sub(sub(el, T_NS, "InternalReply"), T_NS, "Message")
    sub(sub(el, T_NS, "ExternalReply"), T_NS, "Message")
    return el


def _target(ctx: Context, op: Any) -> Mailbox:
    mbx_el = require(op, T_NS, "Mailbox")
    address = text_of(mbx_el, T_NS, "Address")
    if not address:
        raise schema_error("The element 'Mailbox' has incomplete content. Expected: 'Address'.")
    return ctx.resolve_mailbox(address)


def _message(op_name: str, err: EwsError | None = None) -> Any:
    msg = sub(m_el(f"{op_name}Response"), M_NS, "ResponseMessage")
    msg.set("ResponseClass", "Success" if err is None else "Error")
    if err is not None:
        sub(msg, M_NS, "MessageText", err.text)
    sub(msg, M_NS, "ResponseCode", "NoError" if err is None else err.code)
    return msg


def get_user_oof_settings(ctx: Context, op: Any) -> Any:
    # Response shape: "GetUserOofSettings operation" (learn.microsoft.com) successful response sample.
    if local(op) != "GetUserOofSettingsRequest":
        raise schema_error("GetUserOofSettings must be sent as 'GetUserOofSettingsRequest'.")
    try:
        mbx = _target(ctx, op)
    except EwsError as e:
        return _message("GetUserOofSettings", e).getparent()
    msg = _message("GetUserOofSettings")
    resp = msg.getparent()
    resp.append(copy_el(mbx.oof if mbx.oof is not None else default_oof()))
    sub(resp, M_NS, "AllowExternalOof", "All")
    return resp


def set_user_oof_settings(ctx: Context, op: Any) -> Any:
    # Response shape: "SetUserOofSettings operation" (learn.microsoft.com) successful response sample.
    if local(op) != "SetUserOofSettingsRequest":
        raise schema_error("SetUserOofSettings must be sent as 'SetUserOofSettingsRequest'.")
    settings = normalize(copy_el(require(op, T_NS, "UserOofSettings")))
    for c in settings:
        if local(c) not in OOF_CHILDREN:
            raise schema_error(f"The element 'UserOofSettings' has invalid child element '{local(c)}'.")
    state = text_of(settings, T_NS, "OofState")
    audience = text_of(settings, T_NS, "ExternalAudience")
    if state not in STATES or audience not in AUDIENCES:
        raise schema_error(f"Invalid OofState {state!r} or ExternalAudience {audience!r}.")
    duration = child(settings, T_NS, "Duration")
    try:
        mbx = _target(ctx, op)
        if state == "Scheduled":
            if duration is None:
                raise EwsError("ErrorInvalidParameter", "A Scheduled OofState requires a Duration.")
            start, end = text_of(duration, T_NS, "StartTime"), text_of(duration, T_NS, "EndTime")
            if not start or not end or end <= start:
                raise EwsError("ErrorOofCorrupt", "The OOF Duration EndTime must be after StartTime.")
    except EwsError as e:
        return _message("SetUserOofSettings", e).getparent()
    new = t_el("OofSettings")
    previous = mbx.oof if mbx.oof is not None else default_oof()
    for tag in OOF_CHILDREN:
        src = child(settings, T_NS, tag)
        if src is None:
            src = child(previous, T_NS, tag)
        if src is not None:
            new.append(copy_el(src))
    mbx.oof = new
    return _message("SetUserOofSettings").getparent()


OPERATIONS = {
    "GetUserOofSettingsRequest": get_user_oof_settings,
    "SetUserOofSettingsRequest": set_user_oof_settings,
}
