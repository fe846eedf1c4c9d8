"""A phase of ``make load``: the small mailboxes started (alone, or after the big one), followed to their end while
a client polls the status endpoint, and summed up.

Two ways to start them (``--via``):

* ``project`` — they are the rows of an operator's project, started by one ``POST .../projects/{id}/start``; intake
  launches one migration per row, without login checks (the pre-flight checked the credentials before). The harness
  follows the project's row view (one request every 0.5 s) and reads a row's migration status once, when it ends.
* ``posts`` — one ``POST /api/v1/migrations`` each, from ``clients`` threads (two login checks each), each migration's
  status polled every 0.5 s until it ends.

The big one, when there is one, is a single ``POST /api/v1/migrations`` either way, started first: the small ones
start once it has copied its first messages. A row's completion is its migration's own ``finished_at`` minus its
own ``created_at``. The pure parts (a row's end, the summary) are tested in ``tests/unit/test_bench_load_phases.py``.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from mailferry.follow import FINAL
from tests.bench.load_project import OperatorApi

POLL_SECONDS = 0.5
SAMPLE_SECONDS = 0.05  # the status endpoint's client asks this often
PHASE_TIMEOUT = 1800.0


@dataclass
class Row:
    src: str
    dst: str
    messages: int
    mid: str = ""
    expected: dict[str, str | None] | None = None
    seconds: float = 0.0
    state: str = ""
    created_at: float = 0.0  # the status's own times (epoch seconds)
    finished_at: float = 0.0


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``p`` % of the values at or below it. (The
    formula before rounded half to even: the p95 of 100 values was the 96th, not the 95th.)"""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered) - 1e-9) - 1))]


def ended(row: Row, status: Mapping[str, Any]) -> None:
    """The row's final state and completion time, from its migration's own created and finished times."""
    created = datetime.fromisoformat(status["created_at"])
    finished = datetime.fromisoformat(status["finished_at"])
    row.state = str(status["state"])
    row.seconds = (finished - created).total_seconds()
    row.created_at = created.timestamp()
    row.finished_at = finished.timestamp()


@dataclass
class Timing:
    """When the phase began and ended by the harness's clock, and what its clients measured meanwhile."""

    t0: float
    end: float
    small_done: float
    big_done_then: int | None = None  # the big one's messages done when the last small one had ended
    status_latencies: Sequence[float] = ()
    view_latencies: Sequence[float] = ()  # the project's row view, as the operator's follow-up asks it


def summary(rows: Sequence[Row], big: Row | None, timing: Timing) -> dict[str, Any]:
    """The phase's figures: completion times, aggregate rate (to when the polling saw the end, and to the last
    migration's own ``finished_at``), how long the launch took, and the two endpoints' latencies."""
    t0, elapsed = timing.t0, timing.end - timing.t0
    every = [*rows, *([big] if big is not None else [])]
    last = max(r.finished_at for r in every)
    times = [r.seconds for r in rows]
    moved = sum(r.messages for r in every)
    lat, view = timing.status_latencies, timing.view_latencies
    return {
        "small_mailboxes": len(rows), "small_messages": sum(r.messages for r in rows),
        "states": sorted({r.state for r in rows}),
        "small_p50_s": round(statistics.median(times), 2), "small_p95_s": round(percentile(times, 95), 2),
        "small_max_s": round(max(times), 2),
        # from the phase's start to the first and the last small migration's own created_at
        "small_launched_s": [round(min(r.created_at for r in rows) - t0, 2),
                             round(max(r.created_at for r in rows) - t0, 2)],
        "big": None if big is None else {"messages": big.messages, "seconds": round(big.seconds, 1),
                                         "state": big.state, "done_when_small_finished": timing.big_done_then,
                                         "small_finished_at_s": round(timing.small_done - t0, 1)},
        "elapsed_s": round(elapsed, 1), "messages": moved, "aggregate_msgs_per_s": round(moved / elapsed, 1),
        "to_last_finish_s": round(last - t0, 1),
        "aggregate_to_last_finish_msgs_per_s": round(moved / (last - t0), 1) if last > t0 else None,
        "status_requests": len(lat),
        "status_p50_ms": round(percentile(lat, 50) * 1000, 1),
        "status_p95_ms": round(percentile(lat, 95) * 1000, 1),
        "project_view_requests": len(view),
        "project_view_p50_ms": round(percentile(view, 50) * 1000, 1) if view else None,
        "project_view_p95_ms": round(percentile(view, 95) * 1000, 1) if view else None,
    }


class Phase:
    """One phase against a running stack: ``endpoint(login)`` is the account's part of a POST."""

    def __init__(self, intake_url: str, endpoint: Callable[[str], dict[str, object]], clients: int,
                 operator: OperatorApi | None = None) -> None:
        self.url = intake_url
        self.endpoint = endpoint
        self.clients = clients
        self.operator = operator

    def run(self, rows: list[Row], big: Row | None, project: str | None) -> dict[str, Any]:
        """Start ``big`` (if any), then ``rows`` — by their ``project``'s start, or by POSTs when it is None."""
        latencies: list[float] = []
        view: list[float] = []
        stop = threading.Event()
        t0 = time.time()
        with httpx.Client(timeout=30) as http:
            if big is not None:
                self.post(http, big)
                while self.status(http, big)["items"].get("emails", {}).get("done", 0) == 0:
                    time.sleep(0.2)
            sampler = threading.Thread(target=self.sample, args=(rows, big, stop, latencies), daemon=True)
            sampler.start()
            if project is None:
                with ThreadPoolExecutor(max_workers=self.clients) as clients:  # users start theirs at once
                    list(clients.map(lambda r: self.post(http, r), rows))
                self.follow_posts(http, rows)
            else:
                assert self.operator is not None
                self.operator.start(project)
                self.follow_project(http, project, rows, view)
            small_done = time.time()
            big_done_then = None
            if big is not None:
                big_done_then = self.status(http, big).get("items", {}).get("emails", {}).get("done")
                while (st := self.status(http, big))["state"] not in FINAL:
                    time.sleep(POLL_SECONDS)
                ended(big, st)
            stop.set()
            sampler.join(10)
        return summary(rows, big, Timing(t0, time.time(), small_done, big_done_then, latencies, view))

    def post(self, http: httpx.Client, r: Row) -> None:
        resp = http.post(f"{self.url}/api/v1/migrations", json={
            "source": self.endpoint(r.src), "target": self.endpoint(r.dst), "options": ["emails"]})
        resp.raise_for_status()
        r.mid = str(resp.json()["id"])

    def status(self, http: httpx.Client, r: Row) -> dict[str, Any]:
        resp = http.get(f"{self.url}/api/v1/migrations/{r.mid}", params={"login": r.src})
        resp.raise_for_status()
        return dict(resp.json())

    def sample(self, rows: list[Row], big: Row | None, stop: threading.Event, out: list[float]) -> None:
        """The status endpoint under load, as users polling their migration see it."""
        with httpx.Client(timeout=30) as own:
            while not stop.wait(SAMPLE_SECONDS):
                candidates = [x for x in rows if x.mid] or ([big] if big is not None and big.mid else [])
                if not candidates:
                    continue
                r = random.choice(candidates)
                t = time.perf_counter()
                own.get(f"{self.url}/api/v1/migrations/{r.mid}", params={"login": r.src})
                out.append(time.perf_counter() - t)

    def follow_posts(self, http: httpx.Client, rows: list[Row]) -> None:
        pending = list(rows)
        deadline = time.monotonic() + PHASE_TIMEOUT
        while pending and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            for r in list(pending):
                st = self.status(http, r)
                if st["state"] in FINAL:
                    ended(r, st)
                    pending.remove(r)
        if pending:
            raise RuntimeError(f"{len(pending)} migrations still running after {PHASE_TIMEOUT} s")

    def follow_project(self, http: httpx.Client, pid: str, rows: list[Row], view: list[float]) -> None:
        """The operator's follow-up: the project's row view; a row's migration status read once, at its end."""
        assert self.operator is not None
        by_source = {r.src: r for r in rows}
        pending = set(by_source)
        deadline = time.monotonic() + PHASE_TIMEOUT
        while pending and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            t = time.perf_counter()
            views = self.operator.rows(pid)
            view.append(time.perf_counter() - t)
            for v in views:
                r = by_source.get(v["source_login"])
                if r is None or r.src not in pending or not v["migration_id"]:
                    continue
                r.mid = str(v["migration_id"])
                if v["state"] in FINAL:
                    ended(r, self.status(http, r))
                    pending.discard(r.src)
        if pending:
            raise RuntimeError(f"{len(pending)} rows of {pid} still running after {PHASE_TIMEOUT} s")
