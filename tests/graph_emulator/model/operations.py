"""The bound actions and functions the emulator serves: move and copy, upload sessions, delta."""

from __future__ import annotations

from .declare import STRING, Operation, prop


def _delta(binding: str) -> Operation:
    return Operation("delta", "Function", binding, True, (), binding, returns_collection=True)


# A missing destination or attachment description is refused (Graph's parameter reader needs them too).
_DESTINATION = (prop("DestinationId", STRING, nullable=False),)

OPERATIONS = [
    Operation("move", "Action", "message", False, _DESTINATION, "message"),
    Operation("copy", "Action", "message", False, _DESTINATION, "message"),
    Operation("move", "Action", "mailFolder", False, _DESTINATION, "mailFolder"),
    Operation("createUploadSession", "Action", "attachment", True,
              (prop("AttachmentItem", "attachmentItem", nullable=False),), "uploadSession"),
    # removes for good (a plain DELETE of a message moves it to Deleted Items in Exchange Online)
    *[Operation("permanentDelete", "Action", t, False, (), None) for t in ("message", "mailFolder", "contact", "event")],
    *[_delta(t) for t in ("message", "mailFolder", "contact", "contactFolder", "event", "todoTask")],
]
