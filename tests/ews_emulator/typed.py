"""Typed values: what the EWS schema (types.xsd, Exchange 2016) says each stored element holds.

Exchange validates every request against its schema and keeps values typed, not as text: an
xs:boolean sent as ``1`` comes back as ``true``, an xs:dateTime sent with an offset comes back in
UTC with a ``Z``, an enumeration outside its list is refused. The emulator does the same for every
element it stores (items, attachments, inbox rules, the auto-reply), so a value a client writes
in a form it cannot read back fails a test instead of passing as text.

Types come from the element's name, or from its parent and name where the schema gives one name
two types (a task's ``StartDate`` is a dateTime, a recurrence range's an xs:date). Elements not
listed are strings. A value that does not fit its type is the SOAP fault Exchange answers,
``ErrorSchemaValidation``, with the violation worded as Exchange words it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .soap import T_NS, EwsError, local, schema_error

XS = "http://www.w3.org/2001/XMLSchema"

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FREE_BUSY = ("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")
_IMPORTANCE = ("Low", "Normal", "High")
_PHONE_KEYS = ("AssistantPhone", "BusinessFax", "BusinessPhone", "BusinessPhone2", "Callback", "CarPhone",
               "CompanyMainPhone", "HomeFax", "HomePhone", "HomePhone2", "Isdn", "MobilePhone", "OtherFax",
               "OtherTelephone", "Pager", "PrimaryPhone", "RadioPhone", "Telex", "TtyTddPhone")

# Enumerations (xs:string restrictions in types.xsd): the schema type's name and its values.
ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Importance": ("ImportanceChoicesType", _IMPORTANCE),
    "MarkImportance": ("ImportanceChoicesType", _IMPORTANCE),
    "Sensitivity": ("SensitivityChoicesType", ("Normal", "Personal", "Private", "Confidential")),
    "LegacyFreeBusyStatus": ("LegacyFreeBusyType", _FREE_BUSY),
    "IntendedFreeBusyStatus": ("LegacyFreeBusyType", _FREE_BUSY),
    "BusyType": ("LegacyFreeBusyType", _FREE_BUSY),
    "DayOfWeekIndex": ("DayOfWeekIndexType", ("First", "Second", "Third", "Fourth", "Last")),
    "Month": ("MonthNamesType", ("January", "February", "March", "April", "May", "June", "July", "August",
                                 "September", "October", "November", "December")),
    "FirstDayOfWeek": ("DayOfWeekType", _DAYS),
    "PostalAddressIndex": ("PhysicalAddressIndexType", ("None", "Business", "Home", "Other")),
    "FileAsMapping": ("FileAsMappingType", (
        "None", "LastCommaFirst", "FirstSpaceLast", "Company", "LastCommaFirstCompany", "CompanyLastFirst",
        "LastFirst", "LastFirstCompany", "CompanyLastCommaFirst", "LastFirstSuffix", "LastSpaceFirstCompany",
        "CompanyLastSpaceFirst", "LastSpaceFirst", "DisplayName", "FirstName", "LastFirstMiddleSuffix",
        "LastName", "Empty")),
    "ContactSource": ("ContactSourceType", ("ActiveDirectory", "Store")),
    "ResponseType": ("ResponseTypeType", ("Unknown", "Organizer", "Tentative", "Accept", "Decline",
                                          "NoResponseReceived")),
    "MyResponseType": ("ResponseTypeType", ("Unknown", "Organizer", "Tentative", "Accept", "Decline",
                                            "NoResponseReceived")),
    "MailboxType": ("MailboxTypeType", ("Unknown", "OneOff", "Mailbox", "PublicDL", "PrivateDL", "Contact",
                                        "PublicFolder", "GroupMailbox", "ImplicitContact", "User")),
    "FlaggedForAction": ("FlaggedForActionType", ("Any", "Call", "DoNotForward", "FollowUp", "FYI", "Forward",
                                                  "NoResponseNecessary", "Read", "Reply", "ReplyToAll", "Review")),
    "FlagStatus": ("FlagStatusType", ("NotFlagged", "Flagged", "Complete")),
    "OofState": ("OofState", ("Disabled", "Enabled", "Scheduled")),
    "ExternalAudience": ("ExternalAudience", ("None", "Known", "All")),
    "InferenceClassification": ("InferenceClassificationType", ("Focused", "Other")),
}
# Space-separated lists of an enumeration (xs:list).
LIST_ENUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "DaysOfWeek": ("DaysOfWeekType", (*_DAYS, "Day", "Weekday", "WeekendDay")),
}
# Names with one type wherever they appear.
SIMPLE: dict[str, str] = {
    **{name: "boolean" for name in (
        "IsSubmitted", "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "ReminderIsSet", "HasAttachments",
        "IsAssociated", "IsReadReceiptRequested", "IsDeliveryReceiptRequested", "IsRead", "IsResponseRequested",
        "IsAllDayEvent", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
        "AllowNewTimeProposal", "IsOnlineMeeting", "IsOrganizer", "DoNotForwardMeeting", "HasPicture",
        "IsAutoUpdateDisabled", "IsMessengerEnabled", "IsHidden", "IsPrivate", "IsInline", "IsContactPhoto",
        "IsAssignmentEditable", "IsComplete", "IsTeamTask", "IsEnabled", "IsNotSupported", "IsInError",
        "IsApprovalRequest", "IsAutomaticForward", "IsAutomaticReply", "IsEncrypted", "IsMeetingRequest",
        "IsMeetingResponse", "IsNDR", "IsPermissionControlled", "IsReadReceipt", "IsSigned", "IsVoicemail",
        "NotSentToMe", "SentCcMe", "SentOnlyToMe", "SentToMe", "SentToOrCcMe", "Delete", "MarkAsRead",
        "PermanentDelete", "StopProcessingRules", "IsTruncated", "CanDelete", "MentionedMe", "AtAllMention",
        "IsClutter", "HasBlockedImages")},
    **{name: "int" for name in (
        "ReminderMinutesBeforeStart", "Size", "Priority", "Interval", "DayOfMonth", "NumberOfOccurrences",
        "ChangeCount", "ActualWork", "TotalWork", "AppointmentSequenceNumber", "AppointmentState",
        "ConflictingMeetingCount", "AdjacentMeetingCount", "ConferenceType", "MinimumSize", "MaximumSize",
        "IconIndex")},
    "PercentComplete": "double",
    **{name: "dateTime" for name in (
        "DateTimeReceived", "DateTimeSent", "DateTimeCreated", "ReminderDueBy", "ReminderNextTime",
        "LastModifiedTime", "Start", "End", "OriginalStart", "DateTimeStamp", "AppointmentReplyTime",
        "RecurrenceId", "CompleteDate", "DueDate", "StartDate", "AssignedTime", "Birthday",
        "WeddingAnniversary", "StartTime", "EndTime", "StartDateTime", "EndDateTime", "LastResponseTime",
        "ProposedStart", "ProposedEnd", "RetentionDate")},
}
RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
# (parent, name) where the schema gives a name another type than SIMPLE does.
IN_CONTEXT: dict[tuple[str, str], Any] = {
    **{(r, "StartDate"): "date" for r in RANGES},
    ("EndDateRecurrence", "EndDate"): "date",
    # A zone given by its definition (TimeZoneDefinitionType: StartTimeZone, EndTimeZone, TimeZoneContext), as
    # Outlook for Mac and invitations from other systems store it: Month is a number there, not a month name.
    **{(t, "Month"): "int" for t in ("RecurringDayTransition", "RecurringDateTransition")},
    ("RecurringDayTransition", "Occurrence"): "int",
    ("RecurringDateTransition", "Day"): "int",
    ("RecurringDayTransition", "DayOfWeek"): ("DayOfWeekType", _DAYS),
    ("AbsoluteDateTransition", "DateTime"): "dateTime",
    ("Member", "Status"): ("MemberStatusType", ("Unrecognized", "Normal", "Demoted")),
    ("Task", "Status"): ("TaskStatusType", ("NotStarted", "InProgress", "Completed", "WaitingOnOthers",
                                            "Deferred")),
}
# Attributes with a type: (element, attribute) -> enumeration; indexed entries by their container.
ATTRIBUTES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Body", "BodyType"): ("BodyTypeType", ("HTML", "Text")),
    ("EmailAddresses", "Key"): ("EmailAddressKeyType", ("EmailAddress1", "EmailAddress2", "EmailAddress3")),
    ("ImAddresses", "Key"): ("ImAddressKeyType", ("ImAddress1", "ImAddress2", "ImAddress3")),
    ("PhysicalAddresses", "Key"): ("PhysicalAddressKeyType", ("Home", "Business", "Other")),
    ("PhoneNumbers", "Key"): ("PhoneNumberKeyType", _PHONE_KEYS),
}

_DATETIME = re.compile(r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(Z|[+-]\d{2}:\d{2})?$")
_INT = re.compile(r"^[+-]?\d+$")
_BOOLEANS = {"true": "true", "1": "true", "false": "false", "0": "false"}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _invalid(name: str, value: str, datatype: str, why: str) -> EwsError:
    return schema_error(
        f"The '{T_NS}:{name}' element is invalid - The value '{value}' is invalid according to its datatype "
        f"'{datatype}' - {why}")


def _enum(name: str, value: str, spec: tuple[str, tuple[str, ...]]) -> str:
    type_name, values = spec
    if value not in values:
        raise _invalid(name, value, f"{T_NS}:{type_name}", "The Enumeration constraint failed.")
    return value


def utc_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def typed_text(name: str, kind: Any, raw: str) -> str:
    """The value as Exchange stores and answers it; ErrorSchemaValidation when it does not fit."""
    value = raw.strip()  # xs:whiteSpace collapse for every non-string type
    if isinstance(kind, tuple):
        return _enum(name, value, kind)
    if kind == "boolean":
        if value not in _BOOLEANS:
            raise _invalid(name, raw, f"{XS}:boolean", f"The string '{raw}' is not a valid Boolean value.")
        return _BOOLEANS[value]
    if kind == "int":
        if not _INT.match(value) or not INT_MIN <= int(value) <= INT_MAX:
            raise _invalid(name, raw, f"{XS}:int", f"The string '{raw}' is not a valid Int32 value.")
        return str(int(value))
    if kind == "double":
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or not re.match(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$", value):
            raise _invalid(name, raw, f"{XS}:double", f"The string '{raw}' is not a valid Double value.")
        return str(int(number)) if number == number.to_integral_value() else format(number.normalize(), "f")
    if kind == "dateTime":
        if not _DATETIME.match(value):
            raise _invalid(name, raw, f"{XS}:dateTime", f"The string '{raw}' is not a valid DateTime value.")
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _invalid(name, raw, f"{XS}:dateTime",
                           f"The string '{raw}' is not a valid DateTime value.") from None
        # Without an offset Exchange reads the request's time zone; the emulator's requests carry none: UTC.
        return utc_text(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
    if kind == "date":
        if not _DATE.match(value):
            raise _invalid(name, raw, f"{XS}:date", f"The string '{raw}' is not a valid Date value.")
        try:
            datetime.strptime(value[:10], "%Y-%m-%d")
        except ValueError:
            raise _invalid(name, raw, f"{XS}:date", f"The string '{raw}' is not a valid Date value.") from None
        return value
    raise AssertionError(f"unknown schema type {kind!r}")


def _kind(parent: str | None, name: str) -> Any:
    if parent is not None and (parent, name) in IN_CONTEXT:
        return IN_CONTEXT[(parent, name)]
    if name in ENUMS:
        return ENUMS[name]
    return SIMPLE.get(name)


def normalize(elem: Any) -> Any:
    """Check and normalise every typed value and attribute below (and in) ``elem``; returns ``elem``.

    Extended properties are left to :mod:`.extended` (their type is in their URI).
    """
    for el in elem.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith("{"):
            continue
        name = local(el)
        parent = el.getparent()
        parent_name = local(parent) if parent is not None else None
        if name == "ExtendedProperty":
            continue
        for attr, value in el.attrib.items():
            spec = ATTRIBUTES.get((name, attr))
            if spec is None and parent_name is not None and name == "Entry":
                spec = ATTRIBUTES.get((parent_name, attr))
            if spec is not None:
                _enum(f"{name}/@{attr}", value, spec)
        if len(el):
            continue
        if name in LIST_ENUMS:
            type_name, values = LIST_ENUMS[name]
            words = (el.text or "").split()
            if not words or any(w not in values for w in words):
                raise _invalid(name, el.text or "", f"{T_NS}:{type_name}", "The Enumeration constraint failed.")
            el.text = " ".join(words)
            continue
        kind = _kind(parent_name, name)
        if kind is not None:
            el.text = typed_text(name, kind, el.text or "")
    return elem


def check_percent_complete(elem: Any) -> None:
    """Exchange takes 0-100 for a task's PercentComplete (ErrorInvalidPercentCompleteValue otherwise)."""
    found = elem.find(f"{{{T_NS}}}PercentComplete")
    if found is not None and not 0 <= Decimal(found.text or "0") <= 100:
        raise EwsError("ErrorInvalidPercentCompleteValue", "PercentComplete must be between 0 and 100.")
