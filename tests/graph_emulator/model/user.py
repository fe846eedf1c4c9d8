"""The user as the emulator serves it: a few properties, the navigation to each mailbox part, and the
mailbox settings with automatic replies."""

from __future__ import annotations

from .declare import STRING, complex_type, entity, enum, nav, prop

TYPES = [
    entity("directoryObject", "entity"),
    entity("user", "directoryObject",
           prop("displayName", STRING),
           prop("mail", STRING),
           prop("mailboxSettings", "mailboxSettings"),
           prop("userPrincipalName", STRING),
           nav("calendar", "calendar", many=False),
           nav("calendarView", "event"),
           nav("calendars", "calendar"),
           nav("contactFolders", "contactFolder"),
           nav("contacts", "contact"),
           nav("events", "event"),
           nav("mailFolders", "mailFolder"),
           nav("messages", "message"),
           nav("todo", "todo", many=False)),
    complex_type("mailboxSettings",
                 prop("automaticRepliesSetting", "automaticRepliesSetting"),
                 prop("dateFormat", STRING),
                 prop("language", "localeInfo"),
                 prop("timeFormat", STRING),
                 prop("timeZone", STRING)),
    complex_type("automaticRepliesSetting",
                 prop("externalAudience", "externalAudienceScope"),
                 prop("externalReplyMessage", STRING),
                 prop("internalReplyMessage", STRING),
                 prop("scheduledEndDateTime", "dateTimeTimeZone"),
                 prop("scheduledStartDateTime", "dateTimeTimeZone"),
                 prop("status", "automaticRepliesStatus")),
    complex_type("localeInfo",
                 prop("displayName", STRING),
                 prop("locale", STRING)),
]

ENUMS = [
    enum("automaticRepliesStatus", "disabled", "alwaysEnabled", "scheduled"),
    enum("externalAudienceScope", "none", "contactsOnly", "all"),
]
