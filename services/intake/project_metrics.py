"""The projects' gauges, computed from Redis when Prometheus scrapes intake (every replica answers the same).

Projects by state; for the projects that are scheduled or running, their rows by state and their messages
(total, done, skipped, failed): what an operator watches during a batch. Ended projects are left out of the
row figures, so a scrape costs what the running projects hold, not the history.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.intake.projects import PROJECT_STATES, RUNNING, SCHEDULED, Projects
from shared import project_progress as pp

log = logging.getLogger(__name__)
COUNTERS = (*pp.COUNTERS, "bytes")


#: How long one reading of the projects serves scrapes: /metrics answers anyone who reaches intake, and a reading
#: over a scheduled project of 50,000 rows took 2.2 s; read at most this often, whatever the request rate.
READING_SECONDS = 10.0


class ProjectCollector(Collector):
    def __init__(self, projects: Projects, clock: Callable[[], float] = time.monotonic) -> None:
        self.projects = projects
        self.clock = clock
        self._last: tuple[float, list[GaugeMetricFamily]] | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:  # concurrent scrapes wait for one reading rather than each making its own
            now = self.clock()
            if self._last is None or now - self._last[0] >= READING_SECONDS:
                self._last = (now, list(self._read()))
            families = self._last[1]
        yield from families

    def _read(self) -> Iterator[GaugeMetricFamily]:
        # Projects by state (draft, scheduled, running, ended, cancelled, undoing, undone).
        by_project = GaugeMetricFamily("mailferry_projects", "Projects by state", labels=["state"])
        # Rows of the scheduled and running projects, by their migration's state (pending before launch).
        by_row = GaugeMetricFamily("mailferry_project_rows", "Rows of active projects by state", labels=["state"])
        # Messages of the scheduled and running projects: total planned, done, skipped, failed, and bytes.
        messages = GaugeMetricFamily("mailferry_project_messages", "Messages of active projects",
                                     labels=["count"])
        states = dict.fromkeys(PROJECT_STATES, 0)
        rows: dict[str, int] = {}
        sums = dict.fromkeys(COUNTERS, 0)
        try:
            for pid in self.projects.store.ids():
                state = self.projects.store.fields(pid).get("state", "")
                states[state] = states.get(state, 0) + 1
                if state not in (RUNNING, SCHEDULED):
                    continue
                for view in self.projects.row_views(pid):
                    rows[view["state"]] = rows.get(view["state"], 0) + 1
                    for c in COUNTERS:
                        sums[c] += int(view[c])
        except redis.RedisError as exc:
            log.warning("project metrics not read", extra={"error": str(exc)})
        for state, n in states.items():
            by_project.add_metric([state], n)
        for state, n in rows.items():
            by_row.add_metric([state], n)
        for c, n in sums.items():
            messages.add_metric([c], n)
        yield from (by_project, by_row, messages)
