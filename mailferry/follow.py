"""Following a migration from the shell: poll its status until a final state, with a progress bar.

Used by ``mailferry migrate``/``pst-import`` and by the demo (which the CLI starts), so neither
imports the other.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx


def progress_line(status: dict[str, Any], width: int = 30) -> str:
    parts = []
    for name, c in status.get("items", {}).items():
        finished = c["done"] + c["skipped"] + c["failed"]
        total = max(c["total"], 1)
        filled = int(width * min(finished, total) / total)
        parts.append(f"{name} [{'#' * filled}{'.' * (width - filled)}] {finished}/{c['total']}"
                     f" (done {c['done']}, skipped {c['skipped']}, failed {c['failed']})")
    return f"{status['state']:<22} " + "  ".join(parts)


FINAL = {"completed", "completed_with_errors", "failed", "cancelled", "undone", "undo_failed"}


def follow(api: str, mid: str, login: str, *, timeout: float = 24 * 3600, out: Any = sys.stdout) -> dict[str, Any]:
    """Poll the status until a final state, drawing a progress bar; returns the last status."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    last = ""
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            resp = client.get(f"{api}/api/v1/migrations/{mid}", params={"login": login})
            resp.raise_for_status()
            status = resp.json()
            line = progress_line(status)
            if line != last:
                print(("\r" if out.isatty() else "\n") + line, end="", file=out, flush=True)
                last = line
            if status["state"] in FINAL:
                break
            time.sleep(0.5)
    print(file=out)
    return status
