"""The projects' loop, which intake runs every second on every replica: start what is due, end what has ended,
delete what has expired.

A lock per project in Redis (``SET NX`` with an expiry, so a replica that dies frees it) lets one replica at a
time act on a project; the others pass it by until the next second.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.intake.projects import CANCELLED, ENDS, FULL, RUNNING, SCHEDULED, UNDOING, ProjectError, Projects
from shared import project_progress as pp
from shared import topics
from shared.errors import SecretUnavailable
from shared.events import ProjectEnded
from shared.project_store import now_iso

log = logging.getLogger(__name__)


class ProjectLoop:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects
        self.store = projects.store
        self.holder = secrets.token_hex(8)

    def tick(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        for pid in self.store.ids():
            fields = self.store.fields(pid)
            state = fields.get("state")
            try:
                if state == SCHEDULED and fields.get("start_at", "") <= now.isoformat(timespec="seconds"):
                    self._locked(pid, self._run_scheduled)
                elif state in (RUNNING, CANCELLED, UNDOING) and not fields.get("ended_at"):
                    self._locked(pid, self._maybe_ended)
                elif fields.get("ended_at") and self._expired(fields["ended_at"], now):
                    self._locked(pid, self.projects.delete)
            except (SecretUnavailable, ProjectError) as exc:
                log.error("project cannot go on", extra={"project_id": pid, "error": str(exc)})

    def _expired(self, ended_at: str, now: datetime) -> bool:
        days = self.projects.intake.settings.project_retention_days
        return datetime.fromisoformat(ended_at) + timedelta(days=days) <= now

    def _locked(self, pid: str, work: Callable[[str], object]) -> None:
        if not self.store.lock(pid, self.holder):
            return
        try:
            work(pid)
        finally:
            self.store.unlock(pid, self.holder)

    def _run_scheduled(self, pid: str) -> None:
        if self.store.fields(pid).get("state") != SCHEDULED:
            return
        self.store.set_fields(pid, state=RUNNING)
        n = self.projects.launch(pid, every_row=self.store.fields(pid).get("run_pass", FULL) != FULL)
        log.info("project launched", extra={"project_id": pid, "rows": n})
        if self.store.fields(pid).get("state") == CANCELLED:  # cancelled while the last slice was launched
            self.projects.cancel_rows(pid)

    def _maybe_ended(self, pid: str) -> None:
        views = self.projects.row_views(pid)
        state = self.store.fields(pid).get("state", "")
        if not (pp.all_ended(views) and state in ENDS):
            return
        self.store.set_fields(pid, ended_at=now_iso(), state=ENDS[state])
        log.info("project ended", extra={"project_id": pid, "rows": len(views)})
        fields = self.store.fields(pid)
        if fields.get("notify_email"):  # the tracker sends it (it owns the notification queue)
            summary = self.projects.summary(pid, fields, views)
            producer = self.projects.intake.producer
            producer.send(topics.PROGRESS, pid, ProjectEnded(
                migration_id=pid, name=summary["name"], state=summary["state"], notify_email=fields["notify_email"],
                lines=pp.notice_lines(summary)))
            producer.flush(30)
