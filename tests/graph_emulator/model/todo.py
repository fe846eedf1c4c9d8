"""Microsoft To Do: task lists and tasks.

Left out because the emulator does not do them: checklist items, linked resources, task attachments and
their upload sessions, open extensions, list delta.
"""

from __future__ import annotations

from .declare import BOOLEAN, DATE_TIME, STRING, entity, enum, nav, prop

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
           prop("title", STRING)),
]

ENUMS = [
    enum("wellknownListName", "none", "defaultList", "flaggedEmails"),
    enum("taskStatus", "notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"),
]
