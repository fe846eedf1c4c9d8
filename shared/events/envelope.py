"""The envelope every event carries, and the registry of event classes.

Readers accept the current and the previous version of an event; writers emit
only the current one. Adding an optional field keeps the version; removing,
renaming or changing the meaning of a field bumps it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """Base of every event. Subclasses set ``EVENT_TYPE`` and ``VERSION``."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    EVENT_TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    event_type: str = ""
    version: int = 0
    event_id: str = Field(default_factory=new_event_id)
    migration_id: str
    occurred_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, __context: object) -> None:
        # The envelope's type and version always say what the class is.
        object.__setattr__(self, "event_type", self.EVENT_TYPE)
        object.__setattr__(self, "version", self.VERSION)


REGISTRY: dict[tuple[str, int], type[Event]] = {}


def register(cls: type[Event]) -> type[Event]:
    """Class decorator: make an event class decodable by type and version."""
    key = (cls.EVENT_TYPE, cls.VERSION)
    if key in REGISTRY:
        raise RuntimeError(f"event {key} registered twice")
    REGISTRY[key] = cls
    return cls
