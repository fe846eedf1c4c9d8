"""Well-known (distinguished) folders and their localized display names."""

from __future__ import annotations

# DistinguishedFolderId values from the published "DistinguishedFolderId" reference page.
# A request naming one of these that the mailbox lacks gets ErrorFolderNotFound; any other
# value fails schema validation, as on a real server.
DISTINGUISHED_IDS = frozenset(
    [
        "calendar",
        "contacts",
        "deleteditems",
        "drafts",
        "inbox",
        "journal",
        "notes",
        "outbox",
        "sentitems",
        "tasks",
        "msgfolderroot",
        "root",
        "junkemail",
        "searchfolders",
        "voicemail",
        "recoverableitemsroot",
        "recoverableitemsdeletions",
        "recoverableitemsversions",
        "recoverableitemspurges",
        "archiveroot",
        "archivemsgfolderroot",
        "archivedeleteditems",
        "archiveinbox",
        "archiverecoverableitemsroot",
        "archiverecoverableitemsdeletions",
        "archiverecoverableitemsversions",
        "archiverecoverableitemspurges",
        "syncissues",
        "conflicts",
        "localfailures",
        "serverfailures",
        "recipientcache",
        "quickcontacts",
        "conversationhistory",
        "adminauditlogs",
        "todosearch",
        "mycontacts",
        "directory",
        "imcontactlist",
        "peopleconnect",
        "favorites",
    ]
)

# (distinguished id, parent distinguished id, FolderClass, response element tag)
# "archive" is not a distinguished id in EWS (Exchange 2016); Outlook creates a plain "Archive" folder.
DEFAULT_FOLDERS: list[tuple[str, str | None, str | None, str]] = [
    ("root", None, None, "Folder"),
    ("msgfolderroot", "root", None, "Folder"),
    ("inbox", "msgfolderroot", "IPF.Note", "Folder"),
    ("sentitems", "msgfolderroot", "IPF.Note", "Folder"),
    ("drafts", "msgfolderroot", "IPF.Note", "Folder"),
    ("deleteditems", "msgfolderroot", "IPF.Note", "Folder"),
    ("junkemail", "msgfolderroot", "IPF.Note", "Folder"),
    ("outbox", "msgfolderroot", "IPF.Note", "Folder"),
    ("archive", "msgfolderroot", "IPF.Note", "Folder"),
    ("calendar", "msgfolderroot", "IPF.Appointment", "CalendarFolder"),
    ("contacts", "msgfolderroot", "IPF.Contact", "ContactsFolder"),
    ("tasks", "msgfolderroot", "IPF.Task", "TasksFolder"),
]

_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "root": "",
        "msgfolderroot": "Top of Information Store",
        "inbox": "Inbox",
        "sentitems": "Sent Items",
        "drafts": "Drafts",
        "deleteditems": "Deleted Items",
        "junkemail": "Junk Email",
        "outbox": "Outbox",
        "archive": "Archive",
        "calendar": "Calendar",
        "contacts": "Contacts",
        "tasks": "Tasks",
    },
    "de": {
        "root": "",
        "msgfolderroot": "Oberste Ebene des Informationsspeichers",
        "inbox": "Posteingang",
        "sentitems": "Gesendete Elemente",
        "drafts": "Entwürfe",
        "deleteditems": "Gelöschte Elemente",
        "junkemail": "Junk-E-Mail",
        "outbox": "Postausgang",
        "archive": "Archiv",
        "calendar": "Kalender",
        "contacts": "Kontakte",
        "tasks": "Aufgaben",
    },
}

# FolderClass -> response element tag, for folders created by clients.
FOLDER_TAGS = {
    "Folder": None,
    "CalendarFolder": "IPF.Appointment",
    "ContactsFolder": "IPF.Contact",
    "TasksFolder": "IPF.Task",
    "SearchFolder": None,
}


def folder_names(locale: str) -> dict[str, str]:
    lang = locale.replace("-", "_").split("_")[0].lower()
    if lang not in _NAMES:
        raise ValueError(f"unsupported locale {locale!r}; known: {sorted(_NAMES)}")
    return _NAMES[lang]
