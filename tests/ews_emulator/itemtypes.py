"""Item kinds the emulator stores, the child elements each may carry (from the EWS Types.xsd
element lists of ItemType, MessageType, CalendarItemType, ContactItemType, DistributionListType,
TaskType), and the properties Exchange computes on save (including those parsed from MIME)."""

from __future__ import annotations

import base64
import contextlib
import email
import email.parser
import email.policy
import email.utils
from datetime import UTC, datetime
from typing import Any

from .extended import check_property, identity
from .soap import T_NS, EwsError, local, schema_error, sub, tq

ITEM = set(
    [
        "MimeContent",
        "ItemId",
        "ParentFolderId",
        "ItemClass",
        "Subject",
        "Sensitivity",
        "Body",
        "Attachments",
        "DateTimeReceived",
        "Size",
        "Categories",
        "Importance",
        "InReplyTo",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "InternetMessageHeaders",
        "DateTimeSent",
        "DateTimeCreated",
        "ResponseObjects",
        "ReminderDueBy",
        "ReminderIsSet",
        "ReminderNextTime",
        "ReminderMinutesBeforeStart",
        "DisplayCc",
        "DisplayTo",
        "DisplayBcc",
        "HasAttachments",
        "ExtendedProperty",
        "Culture",
        "EffectiveRights",
        "LastModifiedName",
        "LastModifiedTime",
        "IsAssociated",
        "WebClientReadFormQueryString",
        "WebClientEditFormQueryString",
        "ConversationId",
        "UniqueBody",
        "Flag",
        "StoreEntryId",
        "InstanceKey",
        "NormalizedBody",
        "EntityExtractionResult",
        "PolicyTag",
        "ArchiveTag",
        "RetentionDate",
        "Preview",
        "RightsManagementLicenseData",
        "PredictedActionReasons",
        "IsClutter",
        "BlockStatus",
        "HasBlockedImages",
        "TextBody",
        "IconIndex",
        "SearchKey",
        "SortKey",
        "Hashtags",
        "Mentions",
        "MentionedMe",
        "MentionsPreview",
        "MentionsEx",
        "AppliedHashtags",
        "AppliedHashtagsPreview",
        "Likes",
        "LikesPreview",
        "PendingSocialActivityTagIds",
        "AtAllMention",
        "CanDelete",
        "InferenceClassification",
    ]
)
MESSAGE = ITEM | set(
    [
        "Sender",
        "ToRecipients",
        "CcRecipients",
        "BccRecipients",
        "IsReadReceiptRequested",
        "IsDeliveryReceiptRequested",
        "ConversationIndex",
        "ConversationTopic",
        "From",
        "InternetMessageId",
        "IsRead",
        "IsResponseRequested",
        "References",
        "ReplyTo",
        "ReceivedBy",
        "ReceivedRepresenting",
        "ApprovalRequestData",
        "VotingInformation",
        "ReminderMessageData",
    ]
)
CALENDAR = ITEM | set(
    [
        "UID",
        "RecurrenceId",
        "DateTimeStamp",
        "Start",
        "End",
        "OriginalStart",
        "IsAllDayEvent",
        "LegacyFreeBusyStatus",
        "Location",
        "When",
        "IsMeeting",
        "IsCancelled",
        "IsRecurring",
        "MeetingRequestWasSent",
        "IsResponseRequested",
        "CalendarItemType",
        "MyResponseType",
        "Organizer",
        "RequiredAttendees",
        "OptionalAttendees",
        "Resources",
        "ConflictingMeetingCount",
        "AdjacentMeetingCount",
        "ConflictingMeetings",
        "AdjacentMeetings",
        "Duration",
        "TimeZone",
        "AppointmentReplyTime",
        "AppointmentSequenceNumber",
        "AppointmentState",
        "Recurrence",
        "FirstOccurrence",
        "LastOccurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "MeetingTimeZone",
        "StartTimeZone",
        "EndTimeZone",
        "ConferenceType",
        "AllowNewTimeProposal",
        "IsOnlineMeeting",
        "MeetingWorkspaceUrl",
        "NetShowUrl",
        "EnhancedLocation",
        "StartWallClock",
        "EndWallClock",
        "StartTimeZoneId",
        "EndTimeZoneId",
        "IntendedFreeBusyStatus",
        "JoinOnlineMeetingUrl",
        "OnlineMeetingSettings",
        "IsOrganizer",
        "CalendarActivityData",
        "DoNotForwardMeeting",
    ]
)
CONTACT = ITEM | set(
    [
        "FileAs",
        "FileAsMapping",
        "DisplayName",
        "GivenName",
        "Initials",
        "MiddleName",
        "Nickname",
        "CompleteName",
        "CompanyName",
        "EmailAddresses",
        "AbchEmailAddresses",
        "PhysicalAddresses",
        "PhoneNumbers",
        "AssistantName",
        "Birthday",
        "BusinessHomePage",
        "Children",
        "Companies",
        "ContactSource",
        "Department",
        "Generation",
        "ImAddresses",
        "JobTitle",
        "Manager",
        "Mileage",
        "OfficeLocation",
        "PostalAddressIndex",
        "Profession",
        "SpouseName",
        "Surname",
        "WeddingAnniversary",
        "HasPicture",
        "PhoneticFullName",
        "PhoneticFirstName",
        "PhoneticLastName",
        "Alias",
        "Notes",
        "Photo",
        "UserSMIMECertificate",
        "MSExchangeCertificate",
        "DirectoryId",
        "ManagerMailbox",
        "DirectReports",
        "AccountName",
        "IsAutoUpdateDisabled",
        "IsMessengerEnabled",
        "Comment",
        "ContactShortId",
        "ContactType",
        "Gender",
        "IsHidden",
        "ObjectId",
        "PassportId",
        "IsPrivate",
        "SourceId",
        "TrustLevel",
        "CreatedBy",
        "Urls",
    ]
)
DISTRIBUTION_LIST = ITEM | {"DisplayName", "FileAs", "ContactSource", "Members"}
TASK = ITEM | set(
    [
        "ActualWork",
        "AssignedTime",
        "BillingInformation",
        "ChangeCount",
        "Companies",
        "CompleteDate",
        "Contacts",
        "DelegationState",
        "Delegator",
        "DueDate",
        "IsAssignmentEditable",
        "IsComplete",
        "IsRecurring",
        "IsTeamTask",
        "Mileage",
        "Owner",
        "PercentComplete",
        "Recurrence",
        "StartDate",
        "Status",
        "StatusDescription",
        "TotalWork",
    ]
)

KINDS: dict[str, tuple[set[str], str, tuple[str, ...]]] = {
    # element -> (allowed children, default ItemClass, folder classes it may be created in)
    "Message": (MESSAGE, "IPM.Note", ("IPF.Note", "IPF")),
    "Item": (ITEM, "IPM.Note", ("",)),
    "CalendarItem": (CALENDAR, "IPM.Appointment", ("IPF.Appointment",)),
    "Contact": (CONTACT, "IPM.Contact", ("IPF.Contact",)),
    "DistributionList": (DISTRIBUTION_LIST, "IPM.DistList", ("IPF.Contact",)),
    "Task": (TASK, "IPM.Task", ("IPF.Task",)),
}
KIND_ERRORS = {
    "CalendarItem": "ErrorCannotCreateCalendarItemInNonCalendarFolder",
    "Contact": "ErrorCannotCreateContactInNonContactFolder",
    "DistributionList": "ErrorCannotCreateContactInNonContactFolder",
    "Task": "ErrorCannotCreateTaskInNonTaskFolder",
}
# Set by the server only; a client sending them is rejected (ErrorInvalidPropertySet).
READ_ONLY = {
    "ItemId",
    "ParentFolderId",
    "DateTimeReceived",
    "Size",
    "DateTimeSent",
    "DateTimeCreated",
    "HasAttachments",
    "LastModifiedName",
    "LastModifiedTime",
    "ConversationId",
    "EffectiveRights",
    "DisplayTo",
    "DisplayCc",
    "IsSubmitted",
    "IsFromMe",
    "IsResend",
    "IsUnmodified",
    "ResponseObjects",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "FirstOccurrence",
    "LastOccurrence",
    "CalendarItemType",
    "IsRecurring",
}

PR_MESSAGE_DELIVERY_TIME = "0xe06"
PR_MESSAGE_FLAGS = "0xe07"
PR_CLIENT_SUBMIT_TIME = "0x39"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_item(elem: Any, folder_class: str | None) -> str:
    """Check an item element from CreateItem; return its kind."""
    kind = local(elem)
    if kind not in KINDS:
        raise schema_error(f"Items of type '{kind}' cannot be created in the EWS emulator.")
    allowed, _, folder_classes = KINDS[kind]
    for c in elem:
        name = local(c)
        if c.tag != tq(name) or name not in allowed:
            raise schema_error(f"The element '{kind}' has invalid child element '{name}'.")
        if name in READ_ONLY:
            raise EwsError("ErrorInvalidPropertySet", f"Property {name} is read-only and cannot be set.")
        if name == "ExtendedProperty":
            check_property(c)
    fc = folder_class or ""
    if kind in KIND_ERRORS and not any(fc == p or fc.startswith(p + ".") for p in folder_classes):
        raise EwsError(KIND_ERRORS[kind], f"A {kind} cannot be created in a folder of class {fc!r}.")
    return kind


def _ext_value(elem: Any, tag: str) -> str | None:
    """The value of the (validated) extended property with this tag, whatever form the tag was sent in."""
    for ep in elem.findall(tq("ExtendedProperty")):
        uri = ep.find(tq("ExtendedFieldURI"))
        if uri is not None and identity(uri.attrib)[:2] == ("tag", str(int(tag, 16))):
            value = ep.findtext(tq("Value"))
            return None if value is None else str(value)
    return None


def _set(elem: Any, name: str, value: str) -> None:
    el = elem.find(tq(name))
    if el is None:
        el = sub(elem, T_NS, name)
    el.text = value


def _mailbox(parent: Any, tag: str, addr: tuple[str, str]) -> None:
    holder = sub(parent, T_NS, tag)
    mb = sub(holder, T_NS, "Mailbox")
    if addr[0]:
        sub(mb, T_NS, "Name", addr[0])
    sub(mb, T_NS, "EmailAddress", addr[1])
    sub(mb, T_NS, "RoutingType", "SMTP")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mime_attachments(elem: Any) -> list[tuple[str, str, bytes]]:
    """(name, content type, payload) of the attachments in an item's MimeContent."""
    mc = elem.find(tq("MimeContent"))
    if mc is None or not mc.text:
        return []
    msg = email.message_from_bytes(base64.b64decode(mc.text), policy=email.policy.compat32)
    out = []
    for part in msg.walk():
        name = part.get_filename()
        payload = part.get_payload(decode=True)
        if name and not part.is_multipart():
            out.append((name, part.get_content_type(), payload if isinstance(payload, bytes) else b""))
    return out


def _addresses(msg: Any, header: str) -> list[tuple[str, str]]:
    """(name, address) of a header's mailboxes. Exchange reads what it can of a malformed field and saves the
    message: the standard library's parser can fail on one (a group without a mailbox, thousands of words), then
    the field's raw text is read piece by piece and what still fails is left out."""
    try:
        return email.utils.getaddresses([str(h) for h in msg.get_all(header) or []])
    except (AttributeError, IndexError, RecursionError, ValueError):
        pass
    out: list[tuple[str, str]] = []
    for raw in msg.raw_items():
        if raw[0].lower() == header.lower():
            for piece in str(raw[1]).split(","):
                with contextlib.suppress(AttributeError, IndexError, RecursionError, ValueError):
                    out += email.utils.getaddresses([piece])
    return out


def compute_properties(elem: Any, kind: str) -> None:
    """Fill in what Exchange computes on save: ItemClass, dates, Size, and what it parses out of MIME."""
    _, item_class, _ = KINDS[kind]
    if elem.find(tq("ItemClass")) is None:
        sub(elem, T_NS, "ItemClass", item_class)
    stamp = now_iso()
    mc = elem.find(tq("MimeContent"))
    raw = base64.b64decode(mc.text or "") if mc is not None else b""
    if raw and kind == "Message":
        # Exchange reads raw 8-bit header bytes as UTF-8; RFC 2047 words are decoded by the default policy.
        msg = email.parser.HeaderParser(policy=email.policy.default).parsestr(raw.decode("utf-8", "replace"))
        if elem.find(tq("Subject")) is None and msg["Subject"] is not None:
            _set(elem, "Subject", str(msg["Subject"]))
        sender = _addresses(msg, "From")
        if elem.find(tq("From")) is None and sender:
            _mailbox(elem, "From", sender[0])
        for header, tag in (("To", "ToRecipients"), ("Cc", "CcRecipients")):
            pairs = _addresses(msg, header)
            if elem.find(tq(tag)) is None and pairs:
                holder = sub(elem, T_NS, tag)
                for name, addr in pairs:
                    mb = sub(holder, T_NS, "Mailbox")
                    if name:
                        sub(mb, T_NS, "Name", name)
                    sub(mb, T_NS, "EmailAddress", addr)
        if elem.find(tq("InternetMessageId")) is None and msg["Message-ID"]:
            _set(elem, "InternetMessageId", str(msg["Message-ID"]).strip())
        if msg["Date"]:
            with contextlib.suppress(TypeError, ValueError, OverflowError):  # a date with no UTC form: not read
                _set(elem, "DateTimeSent", _iso(email.utils.parsedate_to_datetime(str(msg["Date"]))))
    submit = _ext_value(elem, PR_CLIENT_SUBMIT_TIME)
    if submit:
        _set(elem, "DateTimeSent", submit)
    _set(elem, "DateTimeReceived", _ext_value(elem, PR_MESSAGE_DELIVERY_TIME) or stamp)
    if kind == "Message" and elem.find(tq("DateTimeSent")) is None:
        _set(elem, "DateTimeSent", elem.findtext(tq("DateTimeReceived")))
    flags = _ext_value(elem, PR_MESSAGE_FLAGS)
    if kind == "Message":
        if flags is not None and elem.find(tq("IsRead")) is None:
            _set(elem, "IsRead", "true" if int(flags) & 0x1 else "false")
        if elem.find(tq("IsRead")) is None:
            _set(elem, "IsRead", "false")
        draft = (int(flags) & 0x8) != 0 if flags is not None else not raw
        _set(elem, "IsDraft", "true" if draft else "false")
    _set(elem, "DateTimeCreated", stamp)
    _set(elem, "LastModifiedTime", stamp)
    _set(elem, "Size", str(len(raw) or len(elem.findtext(tq("Body")) or "") + 200))


def refresh_attachment_flag(elem: Any, count: int) -> None:
    _set(elem, "HasAttachments", "true" if count else "false")


def compute_last_modified(elem: Any) -> None:
    _set(elem, "LastModifiedTime", now_iso())
