"""Types shared by mail, calendars, contacts and To Do: the base entities, addresses and bodies, attachments,
MAPI extended properties and upload sessions."""

from __future__ import annotations

from .declare import BINARY, BOOLEAN, DATE_TIME, INT32, INT64, STRING, complex_type, entity, enum, nav, prop

TYPES = [
    entity("entity", None,
           prop("id", STRING, nullable=False, read_only=True),
           abstract=True),
    # Exchange items: changeKey and the two timestamps are the server's.
    entity("outlookItem", "entity",
           prop("categories", STRING, many=True),
           prop("changeKey", STRING, read_only=True),
           prop("createdDateTime", DATE_TIME, read_only=True),
           prop("lastModifiedDateTime", DATE_TIME, read_only=True),
           abstract=True),
    complex_type("emailAddress",
                 prop("address", STRING),
                 prop("name", STRING)),
    complex_type("recipient",
                 prop("emailAddress", "emailAddress")),
    complex_type("itemBody",
                 prop("content", STRING),
                 prop("contentType", "bodyType")),
    # a wall-clock time and the (Windows or IANA) zone it is meant in
    complex_type("dateTimeTimeZone",
                 prop("dateTime", STRING, nullable=False),
                 prop("timeZone", STRING)),
    complex_type("physicalAddress",
                 prop("city", STRING),
                 prop("countryOrRegion", STRING),
                 prop("postalCode", STRING),
                 prop("state", STRING),
                 prop("street", STRING)),
    # MAPI properties by tag or by named-property GUID; values always travel as strings
    entity("singleValueLegacyExtendedProperty", "entity",
           prop("value", STRING)),
    entity("multiValueLegacyExtendedProperty", "entity",
           prop("value", STRING, many=True)),
    # attachments of messages and events; the emulator stores only file attachments and names the other two
    # kinds so a request using them gets its own clear refusal
    entity("attachment", "entity",
           prop("contentType", STRING),
           prop("isInline", BOOLEAN, nullable=False),
           prop("lastModifiedDateTime", DATE_TIME, read_only=True),
           prop("name", STRING),
           prop("size", INT32, nullable=False, read_only=True),
           abstract=True),
    entity("fileAttachment", "attachment",
           prop("contentBytes", BINARY),
           prop("contentId", STRING),
           prop("contentLocation", STRING)),
    entity("itemAttachment", "attachment"),
    entity("referenceAttachment", "attachment"),
    # what createUploadSession is told about the file to come, and what it answers
    complex_type("attachmentItem",
                 prop("attachmentType", "attachmentType"),
                 prop("contentId", STRING),
                 prop("contentType", STRING),
                 prop("isInline", BOOLEAN),
                 prop("name", STRING),
                 prop("size", INT64)),
    complex_type("uploadSession",
                 prop("expirationDateTime", DATE_TIME),
                 prop("nextExpectedRanges", STRING, many=True),
                 prop("uploadUrl", STRING)),
]

ENUMS = [
    enum("bodyType", "text", "html"),
    enum("importance", "low", "normal", "high"),
    enum("sensitivity", "normal", "personal", "private", "confidential"),
    enum("attachmentType", "file", "item", "reference"),
]

# navigation properties every extensible Exchange item has
EXTENDED_PROPERTIES = (
    nav("multiValueExtendedProperties", "multiValueLegacyExtendedProperty"),
    nav("singleValueExtendedProperties", "singleValueLegacyExtendedProperty"),
)
