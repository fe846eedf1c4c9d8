"""Dead letters: what could not be processed, with the reason, for operators."""

from __future__ import annotations

from shared.events.envelope import Event, register


@register
class DeadLetter(Event):
    EVENT_TYPE = "dead_letter"
    VERSION = 1

    service: str
    code: str
    reason: str
    topic: str = ""
    partition: int = -1
    offset: int = -1
    item_key: str = ""
    excerpt: str = ""
