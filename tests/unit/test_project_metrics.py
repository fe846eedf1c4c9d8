"""The projects' gauges: /metrics answers whoever reaches intake, so the projects are read at most every
READING_SECONDS, however often it is asked (a reading over 50,000 rows took 2.2 s)."""

from __future__ import annotations

from typing import Any

from services.intake.project_metrics import READING_SECONDS, ProjectCollector


class Store:
    def ids(self) -> list[str]:
        return ["p1"]

    def fields(self, _pid: str) -> dict[str, str]:
        return {"state": "scheduled"}


class CountingProjects:
    def __init__(self) -> None:
        self.store = Store()
        self.readings = 0

    def row_views(self, _pid: str) -> list[dict[str, Any]]:
        self.readings += 1
        return [{"state": "pending", "total": 3, "done": 1, "skipped": 0, "failed": 0, "bytes": 10}]


def test_scrapes_within_the_reading_time_share_one_reading() -> None:
    projects, now = CountingProjects(), [100.0]
    collector = ProjectCollector(projects, clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(50):
        families = {f.name: f for f in collector.collect()}
    assert projects.readings == 1
    rows = families["mailferry_project_rows"].samples
    assert [(s.labels, s.value) for s in rows] == [({"state": "pending"}, 1)]
    now[0] += READING_SECONDS
    list(collector.collect())
    assert projects.readings == 2
