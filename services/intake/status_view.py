"""The status a user sees, built from the status hash. Pure code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.migration_state import ITEM_TYPE_NAMES as PLURAL
from shared.migration_state import OPERATION_ITEM_TYPES, count


def item_counts(fields: Mapping[str, str], item_type: str) -> dict[str, int]:
    done, skipped, failed = (count(fields, f"{r}:{item_type}") for r in ("done", "skipped", "failed"))
    planned_total = count(fields, f"total:{item_type}")
    return {"total": max(planned_total, done + skipped + failed), "done": done, "skipped": skipped,
            "failed": failed, "bytes": count(fields, f"bytes:{item_type}")}


def build(mid: str, fields: Mapping[str, str], errors: list[dict[str, Any]],
          history: list[dict[str, Any]]) -> dict[str, Any]:
    options = json.loads(fields.get("options", "[]"))
    items = {PLURAL[t]: item_counts(fields, t) for op in options for t in OPERATION_ITEM_TYPES.get(op, ())}
    return {
        "id": mid,
        "state": fields.get("state", "unknown"),
        "created_at": fields.get("created_at", ""),
        "updated_at": fields.get("updated_at", ""),
        "finished_at": fields.get("finished_at") or None,
        "current_operation": fields.get("current_operation") or None,
        "options": options,
        "items": items,
        "errors": errors,
        "history": history,
        "error": fields.get("error") or None,
        "undo": undo_view(fields),
    }


def undo_view(fields: Mapping[str, str]) -> dict[str, Any] | None:
    """Undo's own progress and outcome, once one was asked for."""
    if "undo_total" not in fields and "undo_finished_at" not in fields:
        return None
    return {
        "done": count(fields, "undo_done"),
        "total": count(fields, "undo_total"),
        "removed_messages": count(fields, "undo_removed_messages"),
        "removed_folders": count(fields, "undo_removed_folders"),
        "restored_settings": count(fields, "undo_restored_settings"),
        "kept": json.loads(fields.get("undo_kept_reasons", "[]")),
        "finished_at": fields.get("undo_finished_at") or None,
        "error": fields.get("undo_error") or None,
    }
