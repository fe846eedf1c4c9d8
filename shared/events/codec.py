"""The one wire format: UTF-8 JSON, bytes as base64, shared by every service.

Decoding looks at ``event_type`` and ``version`` first, so an unknown event is
a typed :class:`EventError` (a counted dead letter), never a crash loop.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError

from shared.errors import EventError
from shared.events.envelope import REGISTRY, Event

E = TypeVar("E", bound=Event)


def encode(event: Event) -> bytes:
    return event.model_dump_json().encode()


def decode(raw: bytes | str | None) -> Event:
    if not raw:
        raise EventError("empty message")
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
