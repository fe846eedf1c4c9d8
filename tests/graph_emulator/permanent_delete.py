"""`permanentDelete` on messages, mail folders, contacts and events: removed for good (to the Purges folder,
out of the user's reach), not moved to Deleted Items. The action takes no parameters."""

from __future__ import annotations

from . import contacts, events, mail_folders, messages
from .call import Answer, Call
from .errors import bad_request
from .routing import Handler, Route


def _no_parameters(handler: Handler) -> Handler:
    def run(call: Call, p: dict[str, str]) -> Answer:
        if call.body.strip() not in (b"", b"{}"):
            raise bad_request("The action 'permanentDelete' takes no parameters.", "RequestBodyRead")
        handler(call, p)
        return Answer(204)
    return run


ROUTES = [
    Route("POST", "messages/{message}/permanentDelete", _no_parameters(messages.delete), "Mail"),
    Route("POST", "mailFolders/{folder}/messages/{message}/permanentDelete", _no_parameters(messages.delete), "Mail"),
    Route("POST", "mailFolders/{folder}/permanentDelete", _no_parameters(mail_folders.delete), "Mail"),
    Route("POST", "contacts/{contact}/permanentDelete", _no_parameters(contacts.delete), "Contacts"),
    Route("POST", "events/{event}/permanentDelete", _no_parameters(events.delete_event), "Calendars"),
]
