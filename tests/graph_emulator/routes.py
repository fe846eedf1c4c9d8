"""Every Graph route the emulator serves; anything else is answered 400/405 as Graph does (never a pretend).

Order matters where a literal segment and a key could both match (`messages/delta` before `messages/{id}`)."""

from __future__ import annotations

from . import (
    attachments,
    contact_photos,
    contacts,
    events,
    mail_folders,
    messages,
    permanent_delete,
    rules,
    todo,
    todo_attachments,
    upload_sessions,
    users,
)
from .routing import Route

ALL: list[Route] = [
    *messages.DELTA_ROUTES,
    *upload_sessions.ROUTES,
    *permanent_delete.ROUTES,
    *attachments.ROUTES,
    *messages.ROUTES,
    *rules.ROUTES,
    *mail_folders.ROUTES,
    *contact_photos.ROUTES,
    *contacts.ROUTES,
    *events.ROUTES,
    *todo_attachments.ROUTES,
    *todo.ROUTES,
    *users.ROUTES,
]
