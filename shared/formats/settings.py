"""Small typed models for inbox rules and the auto-reply, and their mapping to exchangelib.

Rules keep the conditions, exceptions and actions that mean the same on any
Exchange (strings, addresses, flags, choices, date and size ranges, a target folder
by its neutral path); the ones that point at server-specific objects (a reply
template item, SMS alerts, connected accounts) are listed as lossy. Folder actions
travel as neutral paths (a well-known folder as a root token, :mod:`shared.folder_map`) so the
target resolves them to its own folder, "Sent Items" to its "Gesendete Elemente". Addresses
go to Exchange as ``t:Address`` (EmailAddressType), which is what rules take.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchangelib import EWSDateTime, OofSettings
from exchangelib.properties import (
    Actions,
    Address,
    Conditions,
    Exceptions,
    Rule,
    WithinDateRange,
    WithinSizeRange,
)

# Predicates (RulePredicatesType: a rule's conditions and its exceptions) by the kind of value they hold.
STRING_CONDITIONS = ("categories", "contains_body_strings", "contains_header_strings", "contains_recipient_strings",
                     "contains_sender_strings", "contains_subject_or_body_strings", "contains_subject_strings",
                     "item_classes", "message_classifications")
FLAG_CONDITIONS = ("has_attachments", "is_approval_request", "is_automatic_forward", "is_automatic_reply",
                   "is_encrypted", "is_meeting_request", "is_meeting_response", "is_ndr", "is_permission_controlled",
                   "is_read_receipt", "is_signed", "is_voicemail", "not_sent_to_me", "sent_cc_me", "sent_only_to_me",
                   "sent_to_me", "sent_to_or_cc_me")
CHOICE_CONDITIONS = ("flagged_for_action", "importance", "sensitivity")
ADDRESS_CONDITIONS = ("from_addresses", "sent_to_addresses")
FLAG_ACTIONS = ("delete", "mark_as_read", "permanent_delete", "stop_processing_rules")
ADDRESS_ACTIONS = ("forward_to_recipients", "forward_as_attachment_to_recipients", "redirect_to_recipients")
FOLDER_ACTIONS = ("move_to_folder", "copy_to_folder")  # actions that name a folder (by path in RuleModel)


@dataclass
class RuleModel:
    """A rule as data: ``conditions`` and ``exceptions`` map predicate names (exchangelib's) to strings,
    lists of strings or e-mail addresses, booleans, or the date/size range as a small dict."""

    name: str
    priority: int
    enabled: bool
    conditions: dict[str, Any] = field(default_factory=dict)
    actions: dict[str, Any] = field(default_factory=dict)
    lossy: list[str] = field(default_factory=list)
    exceptions: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RuleModel:
        return cls(**json.loads(text))


def _emails(mailboxes: Any) -> list[str]:
    return [m.email_address for m in mailboxes or [] if getattr(m, "email_address", None)]


def _predicates_from_ews(pred: Any, what: str, lossy: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if pred is None:
        return out
    for name in STRING_CONDITIONS:
        if getattr(pred, name, None):
            out[name] = list(getattr(pred, name))
    for name in FLAG_CONDITIONS:
        if getattr(pred, name, None) is not None:
            out[name] = bool(getattr(pred, name))
    for name in CHOICE_CONDITIONS:
        if getattr(pred, name, None):
            out[name] = str(getattr(pred, name))
    for name in ADDRESS_CONDITIONS:
        if getattr(pred, name, None):
            out[name] = _emails(getattr(pred, name))
    dates = pred.within_date_range
    if dates is not None:
        out["within_date_range"] = {"start": _iso(dates.start_date_time), "end": _iso(dates.end_date_time)}
    sizes = pred.within_size_range
    if sizes is not None:
        out["within_size_range"] = {"minimum_size": sizes.minimum_size, "maximum_size": sizes.maximum_size}
    if pred.from_connected_accounts:
        lossy.append(f"{what} on connected accounts (they belong to the source mailbox)")
    return out


def rule_from_ews(rule: Rule, folder_path: Any) -> RuleModel:
    """``folder_path(folder_id) -> list[str] | None`` turns a folder action into a neutral path."""
    model = RuleModel(name=rule.display_name, priority=rule.priority or 1, enabled=bool(rule.is_enabled))
    model.conditions = _predicates_from_ews(rule.conditions, "a condition", model.lossy)
    model.exceptions = _predicates_from_ews(rule.exceptions, "an exception", model.lossy)
    act = rule.actions
    if act is not None:
        for name in FLAG_ACTIONS:
            if getattr(act, name, None) is not None:
                model.actions[name] = bool(getattr(act, name))
        for name in ADDRESS_ACTIONS:
            if getattr(act, name, None):
                model.actions[name] = _emails(getattr(act, name))
        if act.assign_categories:
            model.actions["assign_categories"] = list(act.assign_categories)
        if act.mark_importance:
            model.actions["mark_importance"] = act.mark_importance
        for name in FOLDER_ACTIONS:
            target = getattr(act, name, None)
            if target is not None:
                path = folder_path(getattr(getattr(target, "folder_id", None), "id", None))
                if path:
                    model.actions[name] = path
                else:
                    model.lossy.append(f"{name}: the folder could not be identified")
        if act.server_reply_with_message or act.send_sms_alert_to_recipients:
            model.lossy.append("reply-with-template and SMS actions are not migrated")
    return model


def _when(text: str | None) -> EWSDateTime | None:
    return EWSDateTime.from_datetime(datetime.fromisoformat(text)) if text else None


def _predicates_to_ews(values: dict[str, Any], pred: Conditions) -> Conditions:
    for name, value in values.items():
        if name in ADDRESS_CONDITIONS:
            setattr(pred, name, [Address(email_address=a) for a in value])  # EWS: EmailAddressType, <t:Address>
        elif name == "within_date_range":
            pred.within_date_range = WithinDateRange(start_date_time=_when(value.get("start")),
                                                     end_date_time=_when(value.get("end")))
        elif name == "within_size_range":
            pred.within_size_range = WithinSizeRange(**value)
        else:
            setattr(pred, name, value)
    return pred


def rule_to_ews(model: RuleModel, resolve_folder: Any) -> Rule:
    """``resolve_folder(path) -> Folder`` gives the target folder for a folder action."""
    act = Actions()
    for name, value in model.actions.items():
        if name in ADDRESS_ACTIONS:
            setattr(act, name, [Address(email_address=a) for a in value])
        elif name in FOLDER_ACTIONS:
            setattr(act, name, resolve_folder(value))
        else:
            setattr(act, name, value)
    rule = Rule(display_name=model.name, priority=model.priority, is_enabled=model.enabled,
                conditions=_predicates_to_ews(model.conditions, Conditions()), actions=act)
    if model.exceptions:
        rule.exceptions = _predicates_to_ews(model.exceptions, Exceptions())
    return rule


@dataclass
class AutoReply:
    state: str
    external_audience: str | None = None
    start: str | None = None
    end: str | None = None
    internal_reply: str | None = None
    external_reply: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AutoReply:
        return cls(**json.loads(text))


def _iso(value: Any) -> str | None:
    return datetime.fromtimestamp(value.timestamp(), UTC).isoformat() if value else None


def auto_reply_from_ews(oof: OofSettings) -> AutoReply:
    return AutoReply(state=oof.state, external_audience=oof.external_audience, start=_iso(oof.start),
                     end=_iso(oof.end), internal_reply=oof.internal_reply, external_reply=oof.external_reply)


def auto_reply_to_ews(model: AutoReply) -> OofSettings:
    def when(text: str | None) -> EWSDateTime | None:
        return EWSDateTime.from_datetime(datetime.fromisoformat(text)) if text else None

    kwargs: dict[str, Any] = {"state": model.state, "external_audience": model.external_audience or "All",
                              "internal_reply": model.internal_reply or "",
                              "external_reply": model.external_reply or ""}
    if model.state == OofSettings.SCHEDULED:
        kwargs.update(start=when(model.start), end=when(model.end))
    return OofSettings(**kwargs)
