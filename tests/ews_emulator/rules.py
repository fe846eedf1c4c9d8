"""Inbox rule operations: GetInboxRules, UpdateInboxRules (Create/Set/DeleteRuleOperation).

An UpdateInboxRules request is applied whole or not at all. Refusals, as Exchange gives them:
a rule that fails validation (ErrorInboxRulesValidationError, with the operation's index, the
field and a RuleValidationErrorCodeType code; a folder action naming a folder the mailbox does
not have is FolderDoesNotExist), and enabled rules together larger than the mailbox's rules
quota (ErrorRulesOverQuota; 64 KB unless set with Set-Mailbox -RulesQuota, disabled rules do not
count). Exchange measures a rule as it stores it (MAPI properties, strings in UTF-16); the emulator
counts every text of the rule in UTF-16 plus 16 bytes per element, the same order of size.
"""

from __future__ import annotations

import base64
import itertools
from typing import TYPE_CHECKING, Any

from .soap import M_NS, T_NS, EwsError, copy_el, local, m_el, require, schema_error, sub, text_of, tq
from .typed import normalize

if TYPE_CHECKING:
    from .server import Context
    from .store import Mailbox

RULE_CHILDREN = (
    "RuleId",
    "DisplayName",
    "Priority",
    "IsEnabled",
    "IsNotSupported",
    "IsInError",
    "Conditions",
    "Exceptions",
    "Actions",
)
ACTIONS = {
    "AssignCategories",
    "CopyToFolder",
    "Delete",
    "ForwardAsAttachmentToRecipients",
    "ForwardToRecipients",
    "MarkImportance",
    "MarkAsRead",
    "MoveToFolder",
    "PermanentDelete",
    "RedirectToRecipients",
    "SendSMSAlertToRecipients",
    "ServerReplyWithMessage",
    "StopProcessingRules",
}
# RulePredicatesType: what Conditions and Exceptions may hold.
PREDICATES = {
    "Categories", "ContainsBodyStrings", "ContainsHeaderStrings", "ContainsRecipientStrings",
    "ContainsSenderStrings", "ContainsSubjectOrBodyStrings", "ContainsSubjectStrings", "FlaggedForAction",
    "FromAddresses", "FromConnectedAccounts", "HasAttachments", "Importance", "IsApprovalRequest",
    "IsAutomaticForward", "IsAutomaticReply", "IsEncrypted", "IsMeetingRequest", "IsMeetingResponse", "IsNDR",
    "IsPermissionControlled", "IsReadReceipt", "IsSigned", "IsVoicemail", "ItemClasses", "MessageClassifications",
    "NotSentToMe", "SentCcMe", "SentOnlyToMe", "SentToAddresses", "SentToMe", "SentToOrCcMe", "Sensitivity",
    "WithinDateRange", "WithinSizeRange",
}
# ArrayOfEmailAddressesType: a list of t:Address elements (EmailAddressType), nothing else.
ADDRESS_LISTS = {"FromAddresses", "SentToAddresses", "ForwardAsAttachmentToRecipients", "ForwardToRecipients",
                 "RedirectToRecipients", "SendSMSAlertToRecipients"}
_RULE_SERIAL = itertools.count(1)


class RuleError(Exception):
    def __init__(self, index: int, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field, self.code, self.message = index, field, code, message


def _response(op_name: str) -> tuple[Any, Any]:
    resp = m_el(f"{op_name}Response")
    resp.set("ResponseClass", "Success")
    code = sub(resp, M_NS, "ResponseCode", "NoError")
    return resp, code


def get_inbox_rules(ctx: Context, op: Any) -> Any:
    # Response shape: "GetInboxRules operation" (learn.microsoft.com) successful response sample.
    smtp = text_of(op, M_NS, "MailboxSmtpAddress")
    mbx = ctx.resolve_mailbox(smtp)
    resp, _ = _response("GetInboxRules")
    sub(resp, M_NS, "OutlookRuleBlobExists", "false")
    if mbx.rules:
        holder = sub(resp, M_NS, "InboxRules")
        for rule in sorted(mbx.rules, key=lambda r: int(r.findtext(tq("Priority")) or 0)):
            holder.append(copy_el(rule))
    return resp


def _validate(rule: Any, index: int, mbx: Mailbox, require_id: bool) -> None:
    names = [local(c) for c in rule]
    for n in names:
        if n not in RULE_CHILDREN:
            raise schema_error(f"The element 'Rule' has invalid child element '{n}'.")
    if require_id and "RuleId" not in names:
        raise RuleError(index, "RuleId", "MissingRuleId", "A RuleId is required for SetRuleOperation.")
    if not (text_of(rule, T_NS, "DisplayName") or "").strip():
        raise RuleError(index, "DisplayName", "EmptyValueFound", "DisplayName must not be empty.")
    prio = text_of(rule, T_NS, "Priority")
    if prio is None or not prio.isdigit() or int(prio) < 1:
        raise RuleError(index, "Priority", "InvalidValue", "Priority must be a positive integer.")
    for holder in (rule.find(tq("Conditions")), rule.find(tq("Exceptions"))):
        for p in holder if holder is not None else ():
            if local(p) not in PREDICATES:
                raise schema_error(f"The element '{local(holder)}' has invalid child element '{local(p)}'.")
    for rng, parts in (("WithinDateRange", ("StartDateTime", "EndDateTime")),
                       ("WithinSizeRange", ("MinimumSize", "MaximumSize"))):
        for holder in rule.iter(tq(rng)):  # RulePredicateDateRangeType / RulePredicateSizeRangeType
            for c in holder:
                if local(c) not in parts:
                    raise schema_error(f"The element '{rng}' has invalid child element '{local(c)}'. "
                                       f"List of possible elements expected: '{parts[0]}, {parts[1]}'.")
    for size in rule.iter(tq("WithinSizeRange")):
        low, high = size.findtext(tq("MinimumSize")), size.findtext(tq("MaximumSize"))
        if low is not None and high is not None and int(low) > int(high):
            raise RuleError(index, "WithinSizeRange", "InvalidSizeRange", "MinimumSize is above MaximumSize.")
    for dates in rule.iter(tq("WithinDateRange")):
        start, end = dates.findtext(tq("StartDateTime")), dates.findtext(tq("EndDateTime"))
        if start is not None and end is not None and start > end:  # both UTC "Z" texts (typed.normalize)
            raise RuleError(index, "WithinDateRange", "InvalidDateRange", "StartDateTime is after EndDateTime.")
    for lst in rule.iter(*(tq(n) for n in ADDRESS_LISTS)):
        for a in lst:
            if a.tag != tq("Address"):
                raise schema_error(f"The element '{local(lst)}' has invalid child element '{local(a)}'. "
                                   "List of possible elements expected: 'Address'.")
            if not (a.findtext(tq("EmailAddress")) or "").strip():
                raise RuleError(index, local(lst), "InvalidAddress", "An address of the rule has no e-mail address.")
    actions = rule.find(tq("Actions"))
    if actions is None or len(actions) == 0:
        raise RuleError(index, "Actions", "EmptyValueFound", "A rule needs at least one action.")
    for a in actions:
        if local(a) not in ACTIONS:
            raise schema_error(f"The element 'Actions' has invalid child element '{local(a)}'.")
        for fid in a.iter(tq("FolderId")):
            if fid.get("Id") not in mbx.folders:
                raise RuleError(index, f"Action:{local(a)}", "FolderDoesNotExist", "The folder does not exist.")


def keep_folder_ids(rule: Any, index: int, mbx: Mailbox) -> None:
    """Exchange keeps a folder action as the folder's id: a DistinguishedFolderId in the request (exchangelib
    sends one for a well-known folder) is read back as that folder's FolderId."""
    for action in rule.iter(*(tq(n) for n in ("MoveToFolder", "CopyToFolder"))):
        for dist in list(action.iter(tq("DistinguishedFolderId"))):
            try:
                folder = mbx.distinguished(dist.get("Id") or "")
            except EwsError:
                raise RuleError(index, f"Action:{local(action)}", "FolderDoesNotExist",
                                "The folder does not exist.") from None
            action.replace(dist, action.makeelement(tq("FolderId"), {"Id": folder.id, "ChangeKey": folder.changekey}))


def stored_size(rule: Any) -> int:
    """A rule's size against the rules quota (see the module docstring)."""
    return sum(16 + len((el.text or "").strip().encode("utf-16-le")) for el in rule.iter())


def enabled_size(rules: list[Any]) -> int:
    """What counts against the quota: the enabled rules."""
    return sum(stored_size(r) for r in rules if (r.findtext(tq("IsEnabled")) or "true") == "true")


def _find(rules: list[Any], rule_id: str | None, index: int) -> Any:
    for r in rules:
        if r.findtext(tq("RuleId")) == rule_id:
            return r
    raise RuleError(index, "RuleId", "RuleNotFound", f"No rule with id {rule_id!r}.")


def update_inbox_rules(ctx: Context, op: Any) -> Any:
    # Response shape: "UpdateInboxRules operation" (learn.microsoft.com) create/set/delete response samples.
    mbx = ctx.resolve_mailbox(text_of(op, M_NS, "MailboxSmtpAddress"))
    staged = [copy_el(r) for r in mbx.rules]  # applied only if every operation validates
    try:
        for index, operation in enumerate(require(op, M_NS, "Operations")):
            kind = local(operation)
            if kind == "CreateRuleOperation":
                rule = normalize(copy_el(require(operation, T_NS, "Rule")))
                keep_folder_ids(rule, index, mbx)
                _validate(rule, index, mbx, require_id=False)
                old = rule.find(tq("RuleId"))
                if old is not None:
                    rule.remove(old)
                rid = base64.b64encode(f"RULE{next(_RULE_SERIAL):08d}".encode()).decode()
                rule.insert(0, rule.makeelement(tq("RuleId"), {}))
                rule[0].text = rid
                if rule.find(tq("IsEnabled")) is None:
                    sub(rule, T_NS, "IsEnabled", "true")
                staged.append(rule)
            elif kind == "SetRuleOperation":
                rule = normalize(copy_el(require(operation, T_NS, "Rule")))
                keep_folder_ids(rule, index, mbx)
                _validate(rule, index, mbx, require_id=True)
                old = _find(staged, rule.findtext(tq("RuleId")), index)
                staged[staged.index(old)] = rule
            elif kind == "DeleteRuleOperation":
                staged.remove(_find(staged, text_of(operation, T_NS, "RuleId"), index))
            else:
                raise schema_error(f"The element 'Operations' has invalid child element '{kind}'.")
    except RuleError as e:
        return _error(e)
    size = enabled_size(staged)
    if size > mbx.rules_quota and size > enabled_size(mbx.rules):  # what makes the rules smaller always goes
        return _over_quota_error()
    mbx.rules = staged
    resp, _ = _response("UpdateInboxRules")
    return resp


def _over_quota_error() -> Any:
    resp = m_el("UpdateInboxRulesResponse")
    resp.set("ResponseClass", "Error")
    sub(resp, M_NS, "MessageText", "The rules quota of the mailbox would be exceeded.")
    sub(resp, M_NS, "ResponseCode", "ErrorRulesOverQuota")
    sub(resp, M_NS, "DescriptiveLinkKey", "0")
    return resp


def _error(e: RuleError) -> Any:
    # Error shape: "UpdateInboxRules operation" / "RuleOperationErrors" reference page.
    resp = m_el("UpdateInboxRulesResponse")
    resp.set("ResponseClass", "Error")
    sub(resp, M_NS, "MessageText", "A validation error occurred while executing the rule operation.")
    sub(resp, M_NS, "ResponseCode", "ErrorInboxRulesValidationError")
    sub(resp, M_NS, "DescriptiveLinkKey", "0")
    roe = sub(sub(resp, M_NS, "RuleOperationErrors"), T_NS, "RuleOperationError")
    sub(roe, T_NS, "OperationIndex", str(e.index))
    err = sub(sub(roe, T_NS, "ValidationErrors"), T_NS, "Error")
    sub(err, T_NS, "FieldURI", e.field)
    sub(err, T_NS, "ErrorCode", e.code)
    sub(err, T_NS, "ErrorMessage", e.message)
    sub(err, T_NS, "FieldValue", "")
    return resp


OPERATIONS = {
    "GetInboxRules": get_inbox_rules,
    "UpdateInboxRules": update_inbox_rules,
}

__all__ = ["OPERATIONS", "EwsError"]
