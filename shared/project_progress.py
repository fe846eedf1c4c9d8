"""A project's progress from its rows and their migrations' status fields, and its tables as CSV. Pure code.

A row's state is its migration's (queued … completed) once launched; before that it is ``pending`` (or
``cancelled`` when the project was cancelled first). The project's totals are the sums of its rows'
e-mail counters. Exported tables neutralise any cell a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared import migration_state as ms

PENDING = "pending"
NOT_LAUNCHED = "cancelled"
#: The counters summed into a row's and the project's figures.
COUNTERS = ("total", "done", "skipped", "failed")
ROW_COLUMNS = ("row", "line", "source_login", "target_login", "state", "migration_id", "runs", "total", "done",
               "skipped", "failed", "bytes", "error")
PREFLIGHT_COLUMNS = ("row", "line", "source_login", "target_login", "source_login_check", "target_login_check",
                     "folders", "messages", "bytes", "estimated_seconds", "error")


def current_mid(row: Mapping[str, Any]) -> str | None:
    runs = row.get("runs") or []
    return str(runs[-1]["mid"]) if runs else None


def row_state(row: Mapping[str, Any], fields: Mapping[str, str] | None) -> str:
    if not row.get("runs"):
        return str(row.get("state") or PENDING)
    return (fields or {}).get("state", ms.QUEUED)


def row_view(row: Mapping[str, Any], fields: Mapping[str, str] | None) -> dict[str, Any]:
    """What the operator sees of one row (never a credential)."""
    f = fields or {}
    counts = {c: sum(ms.count(f, f"{c}:{t}") for t in ("email",)) for c in COUNTERS}
    return {"row": row["row"], "line": row.get("line"), "source_login": row["source"]["login"],
            "target_login": row["target"]["login"], "state": row_state(row, fields),
            "migration_id": current_mid(row), "runs": len(row.get("runs") or []), **counts,
            "bytes": ms.count(f, "bytes:email"), "error": f.get("error", "") or row.get("error", "")}


def totals(views: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The project's figures: counters summed, rows by state, and whether every row has ended."""
    out: dict[str, Any] = {c: 0 for c in (*COUNTERS, "bytes")}
    by_state: dict[str, int] = {}
    rows = 0
    for v in views:
        rows += 1
        for c in (*COUNTERS, "bytes"):
            out[c] += int(v[c])
        by_state[v["state"]] = by_state.get(v["state"], 0) + 1
    ended = sum(n for s, n in by_state.items() if s in ms.FINAL or s == NOT_LAUNCHED)
    out.update(rows=rows, rows_by_state=by_state, rows_ended=ended,
               percent=round(100 * (out["done"] + out["skipped"] + out["failed"]) / out["total"], 1)
               if out["total"] else (100.0 if rows and ended == rows else 0.0))
    return out


def all_ended(views: Sequence[Mapping[str, Any]]) -> bool:
    return bool(views) and all(v["state"] in ms.FINAL or v["state"] == NOT_LAUNCHED for v in views)


def safe_cell(value: object) -> object:
    """A text cell that a spreadsheet would read as a formula, made inert with a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def table_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: safe_cell(row.get(c, "")) for c in columns})
    return buf.getvalue()


def notice_lines(summary: Mapping[str, Any]) -> list[str]:
    """The notification's text for a project that has ended (its summary: name, state, dates, totals)."""
    t = summary["totals"]
    lines = [f"Project: {summary['name']}", f"Project ID: {summary['id']}", f"State: {summary['state']}",
             f"Created: {summary['created_at']}", f"Ended: {summary.get('ended_at') or ''}", "",
             f"Rows: {t['rows']}"]
    lines += [f"  {state}: {n}" for state, n in sorted(t["rows_by_state"].items())]
    lines += ["", f"Messages: {t['done']} done, {t['skipped']} skipped, {t['failed']} failed of {t['total']}",
              "", "The project's report (CSV or JSON): GET /api/v1/operator/projects/<id>/report"]
    return lines
