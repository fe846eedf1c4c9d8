"""The one wire format, shared by every service: UTF-8 JSON, except the bytes of mail.

An event with a ``data`` field (a message or a piece of one) travels framed: the
four bytes ``MFB1``, the length of a JSON header (the event without ``data``, as
its JSON Schema describes it), the header, then ``data`` as it is. Base64 inside
JSON would add a third to every message on the broker and cost CPU to encode and
decode on both sides. Reading accepts both forms, so records written by an older
version still decode.

Decoding looks at ``event_type`` and ``version`` first, so an unknown event is
a typed :class:`EventError` (a counted dead letter), never a crash loop.
"""

from __future__ import annotations

import json
import struct
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.errors import EventError
from shared.events.envelope import REGISTRY, Event

E = TypeVar("E", bound=Event)


FRAME = b"MFB1"
_LENGTH = struct.Struct(">I")

# Fields added after the first release of their event, left off the wire at their default: the models refuse
# fields they do not know, so a worker of the version before reads every event that does not use them (a rolling
# upgrade runs both side by side). Each key's JSON text cannot occur inside a string value, where quotes are
# escaped, so taking it out is exact at any depth.
_ADDED_AT_DEFAULT = (b',"target_path":null', b',"look_first":false')


def _for_earlier_readers(raw: bytes) -> bytes:
    for added in _ADDED_AT_DEFAULT:
        if added in raw:
            raw = raw.replace(added, b"")
    return raw


def encode(event: Event) -> bytes:
    data = getattr(event, "data", None)
    if isinstance(data, bytes) and "data" in type(event).model_fields:
        header = _for_earlier_readers(event.model_dump_json(exclude={"data"}).encode())
        return b"".join((FRAME, _LENGTH.pack(len(header)), header, data))
    return _for_earlier_readers(event.model_dump_json().encode())


def _framed(raw: bytes) -> dict[str, Any]:
    start = len(FRAME) + _LENGTH.size
    if len(raw) < start:
        raise EventError("framed event cut short")
    (n,) = _LENGTH.unpack_from(raw, len(FRAME))
    if len(raw) < start + n:
        raise EventError("framed event cut short")
    try:
        head = json.loads(raw[start:start + n])
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"framed event header not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise EventError("framed event header not a JSON object")
    head["data"] = raw[start + n:]
    return head


def decode(raw: bytes | str | None) -> Event:
    if not raw:
        raise EventError("empty message")
    if isinstance(raw, bytes) and raw.startswith(FRAME):
        head = _framed(raw)
    else:
        try:
            head = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventError(f"not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise EventError("not a JSON object")
    key = (head.get("event_type"), head.get("version"))
    if not isinstance(key[0], str) or not isinstance(key[1], int) or isinstance(key[1], bool):
        raise EventError(f"unknown event type or version: {key[0]!r} v{key[1]!r} (type must be text, version a number)")
    cls = REGISTRY.get((key[0], key[1]))
    if cls is None:
        raise EventError(f"unknown event type or version: {key[0]!r} v{key[1]!r}")
    try:
        return cls.model_validate(head)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise EventError(f"invalid {key[0]} v{key[1]}: {exc.error_count()} errors, first: {first['msg']}") from None


def decode_as(raw: bytes | str | None, cls: type[E]) -> E:
    event = decode(raw)
    if not isinstance(event, cls):
        raise EventError(f"expected {cls.EVENT_TYPE}, got {event.event_type}")
    return event
