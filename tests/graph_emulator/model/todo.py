"""Microsoft To Do: task lists and tasks.

Left out because the emulator does not do them: checklist items, linked resources, the upload sessions of task
attachments (a file of 3 MB or more), open extensions, list delta. Task attachments are file attachments of their
own type (taskFileAttachment, based on attachmentBase, not on the attachment of messages and events).
"""

from __future__ import annotations

from .declare import BINARY, BOOLEAN, DATE_TIME, INT32, STRING, entity, enum, nav, prop

TYPES = [
    entity("todo", "entity",
           nav("lists", "todoTaskList")),
    entity("todoTaskList", "entity",
           prop("displayName", STRING),
           prop("isOwner", BOOLEAN, nullable=False, read_only=True),
           prop("isShared", BOOLEAN, nullable=False, read_only=True),
           prop("wellknownListName", "wellknownListName", nullable=False, read_only=True),
           nav("tasks", "todoTask")),
    entity("todoTask", "entity",
           prop("body", "itemBody"),
           prop("bodyLastModifiedDateTime", DATE_TIME, nullable=False, read_only=True),
           prop("categories", STRING, many=True),
           prop("completedDateTime", "dateTimeTimeZone"),
           prop("createdDateTime", DATE_TIME, nullable=False, read_only=True),
           prop("dueDateTime", "dateTimeTimeZone"),
           prop("hasAttachments", BOOLEAN, read_only=True),
           prop("importance", "importance", nullable=False),
           prop("isReminderOn", BOOLEAN, nullable=False),
           prop("lastModifiedDateTime", DATE_TIME, nullable=False, read_only=True),
           prop("recurrence", "patternedRecurrence"),
           prop("reminderDateTime", "dateTimeTimeZone"),
           prop("startDateTime", "dateTimeTimeZone"),
           prop("status", "taskStatus", nullable=False),
           prop("title", STRING),
           nav("attachments", "attachmentBase")),
    entity("attachmentBase", "entity",
           prop("contentType", STRING),
           prop("lastModifiedDateTime", DATE_TIME, read_only=True),
           prop("name", STRING),
           prop("size", INT32, nullable=False, read_only=True),
           abstract=True),
    entity("taskFileAttachment", "attachmentBase",
           prop("contentBytes", BINARY)),
]

ENUMS = [
    enum("wellknownListName", "none", "defaultList", "flaggedEmails"),
    enum("taskStatus", "notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"),
]
