"""An operator's project on the ``projects`` topic (compacted: the latest record per key is the project).

Keys: ``<project id>`` (its fields), ``<project id>/row/<n>`` (one row; its passwords sealed under the
project's data key, which stays in Redis only, as a migration's), ``<project id>/errors/<n>`` (a slice of
an upload's refused lines). A deleted project leaves a tombstone (a null value) on each of its keys.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.events.envelope import Event, register


@register
class ProjectRecord(Event):
    """One part of a project; ``migration_id`` holds the project's id."""

    EVENT_TYPE = "project.record"
    VERSION = 1

    part: Literal["project", "row", "errors"]
    fields: dict[str, str] = Field(default_factory=dict, description="part project: the project's fields")
    row: dict[str, Any] = Field(default_factory=dict, description="part row: the row as intake keeps it")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="part errors: refused CSV lines")
