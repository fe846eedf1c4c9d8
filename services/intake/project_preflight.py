"""Pre-flight of a project: every row's two logins checked and its source measured, before anything is copied.

Each row is checked the way a single migration is (:func:`services.intake.login_check.check_both`), then its
source is opened through the registry's Source port and listed as the extractor would list it (the same
folder mapping, selectable folders only): folders, messages, and bytes where the source can say them
without reading the mail (:class:`~shared.adapters.ports.MeasuredSource`). The estimate is the time at the
operator's configured rates (``MAILFERRY_ESTIMATE_*``). Rows run a few at a time in a background thread;
each result is stored on its row as soon as it is known, so the table fills while the operator watches.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.intake.login_check import capped, check_both
from services.intake.migration_start import unsealed_spec
from services.intake.projects import Projects
from shared import project_progress as pp
from shared.adapters import registry
from shared.adapters.ports import MeasuredSource
from shared.errors import MailferryError
from shared.folder_refs import folder_refs
from shared.project_store import now_iso

log = logging.getLogger(__name__)
#: Rows checked side by side (each opens up to three sessions: two logins, one listing).
PARALLEL_ROWS = 4


def estimate_seconds(messages: int, nbytes: int | None, per_second: float, bytes_per_second: float) -> int:
    """The longer of the two limits: messages at ``per_second``, bytes at ``bytes_per_second``."""
    by_count = messages / per_second
    by_size = (nbytes or 0) / bytes_per_second
    return round(max(by_count, by_size))


class Preflight:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.intake = projects.intake
        self.pool = ThreadPoolExecutor(max_workers=PARALLEL_ROWS, thread_name_prefix="preflight")

    def start(self, pid: str) -> dict[str, Any]:
        """Mark the project's pre-flight as running and do it in the background."""
        self.projects.summary(pid)  # 404 for an unknown project
        self.projects.data_key(pid)  # 409 when its credentials are gone
        self.projects.store.set_fields(pid, preflight="running", preflight_at=now_iso())
        threading.Thread(target=self.run, args=(pid,), name=f"preflight-{pid[:8]}", daemon=True).start()
        return {"id": pid, "preflight": "running"}

    def run(self, pid: str) -> None:
        try:
            data_key = self.projects.data_key(pid)
            rows = self.projects.store.rows(pid)
            for row, result in zip(rows, self.pool.map(lambda r: self.guarded(pid, r, data_key), rows),
                                   strict=True):
                row["preflight"] = result
                self.projects.store.put_rows(pid, [row])
            self.projects.store.set_fields(pid, preflight="done", preflight_at=now_iso())
            log.info("project pre-flight done", extra={"project_id": pid, "rows": len(rows)})
        except Exception as exc:  # the state must not stay "running" for ever
            log.exception("project pre-flight failed", extra={"project_id": pid, "error": type(exc).__name__})
            self.projects.store.set_fields(pid, preflight="failed")

    def guarded(self, pid: str, row: dict[str, Any], data_key: bytes) -> dict[str, Any]:
        """One row's result; a failure of the check itself is that row's error, not the whole pre-flight's."""
        try:
            return self.check_row(pid, row, data_key)
        except Exception as exc:
            log.exception("a pre-flight row failed", extra={"project_id": pid, "row": row["row"]})
            return {"error": f"the check failed unexpectedly ({type(exc).__name__})"}

    def check_row(self, pid: str, row: dict[str, Any], data_key: bytes) -> dict[str, Any]:
        source, target = self.projects.endpoints(pid, row, data_key)
        out: dict[str, Any] = {"source_login_check": "ok", "target_login_check": "ok", "folders": None,
                               "messages": None, "bytes": None, "estimated_seconds": None, "error": ""}
        outcomes = check_both((unsealed_spec(source), source.password), (unsealed_spec(target), target.password),
                              self.intake.env, self.intake.pool, row["options"])
        for side, failure in outcomes.items():
            if failure is not None:
                out[f"{side}_login_check"] = failure.code
                out["error"] = out["error"] or f"{side}: {failure}"
        if outcomes["source"] is not None:
            return out
        try:
            out.update(self.measure(source.type, source.password, unsealed_spec(source)))
        except MailferryError as exc:
            out["error"] = out["error"] or f"source: {exc}"
        return out

    def measure(self, type_: str, password: str, spec: Any) -> dict[str, Any]:
        system = registry.system(type_)
        if system.mail_source is None:
            return {}
        with capped(spec, self.intake.env):  # the measuring session is under the session caps too
            session = system.mail_source(spec, lambda: password, self.intake.env)
            try:
                refs = folder_refs(session.list_folders(), session.prefix, session.marks_special_use)
                selectable = [ref for ref, can in refs if can]
                listings = session.list_items(selectable, larger_than=0)
                messages = sum(len(li.keys) for li in listings.values())
                nbytes = sum(session.folder_bytes(selectable).values()) if isinstance(session, MeasuredSource) \
                    else None
            finally:
                session.close()
        settings = self.intake.settings
        return {"folders": len(refs), "messages": messages, "bytes": nbytes,
                "estimated_seconds": estimate_seconds(messages, nbytes, settings.estimate_messages_per_second,
                                                      settings.estimate_bytes_per_second)}


def table(projects: Projects, pid: str) -> list[dict[str, Any]]:
    """The pre-flight's result, one line a row (rows not yet checked have empty figures)."""
    out = []
    for row in projects.store.rows(pid):
        result = row.get("preflight") or {}
        out.append({"row": row["row"], "line": row.get("line"), "source_login": row["source"]["login"],
                    "target_login": row["target"]["login"],
                    **{c: result.get(c) for c in pp.PREFLIGHT_COLUMNS[4:]}})
    return out
