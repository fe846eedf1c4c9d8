"""``make load``'s reading of a phase: a row's completion from its migration's own times, the phase's figures,
logins per migration from Dovecot's per-user counts, and the targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.bench.load import logins_per_migration, targets
from tests.bench.load_phases import Row, Timing, ended, percentile, summary

T0 = datetime(2026, 12, 6, 21, 0, 0, tzinfo=UTC).timestamp()


def _status(created: float, finished: float, state: str = "completed") -> dict[str, Any]:
    return {"state": state, "created_at": datetime.fromtimestamp(T0 + created, UTC).isoformat(),
            "finished_at": datetime.fromtimestamp(T0 + finished, UTC).isoformat()}


def test_a_rows_completion_runs_from_its_migrations_created_to_its_finished_time() -> None:
    row = Row("s", "d", 20)
    ended(row, _status(1.5, 9.25, "completed_with_errors"))
    assert (row.state, row.seconds) == ("completed_with_errors", 7.75)
    assert (row.created_at, row.finished_at) == (T0 + 1.5, T0 + 9.25)


def test_the_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]  # 1 … 20
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (10.0, 19.0, 20.0)
    assert percentile([], 95) == 0.0


def _rows() -> list[Row]:
    rows = []
    for i, (created, finished) in enumerate([(1.0, 5.0), (1.2, 9.2), (2.0, 4.0)]):
        r = Row(f"s{i}", f"d{i}", 100 * (i + 1))
        ended(r, _status(created, finished))
        rows.append(r)
    return rows


def test_a_phase_sums_up_its_rows_the_big_one_and_both_clients_latencies() -> None:
    big = Row("big", "bigd", 1000)
    ended(big, _status(0.1, 15.0))
    got = summary(_rows(), big, Timing(T0, T0 + 16.0, T0 + 10.0, 400, [0.01, 0.02, 0.03], [0.05, 0.07]))
    assert got["small_messages"] == 600 and got["messages"] == 1600
    assert (got["small_p50_s"], got["small_p95_s"], got["small_max_s"]) == (4.0, 8.0, 8.0)
    assert got["small_launched_s"] == [1.0, 2.0]
    assert got["aggregate_msgs_per_s"] == 100.0  # 1,600 messages in the 16 s the polling saw
    assert (got["to_last_finish_s"], got["aggregate_to_last_finish_msgs_per_s"]) == (15.0, 106.7)
    assert got["big"] == {"messages": 1000, "seconds": 14.9, "state": "completed", "done_when_small_finished": 400,
                          "small_finished_at_s": 10.0}
    assert (got["status_requests"], got["status_p95_ms"]) == (3, 30.0)
    assert (got["project_view_requests"], got["project_view_p95_ms"]) == (2, 70.0)


def test_without_a_project_the_row_views_latency_is_not_reported() -> None:
    got = summary(_rows(), None, Timing(T0, T0 + 10.0, T0 + 10.0, status_latencies=[0.01]))
    assert got["big"] is None and got["project_view_p95_ms"] is None and got["messages"] == 600


def test_logins_per_migration_split_by_side_and_login_checks() -> None:
    by_user = {"smallsrc-0@load.test": (2, 1), "bigsrc-1@load.test": (3, 1), "alonedst-2@load.test": (4, 1),
               "withdst-3@load.test": (1, 0)}
    assert logins_per_migration(by_user, 2) == {"extractor": 2.5, "loader": 2.5, "intake_checks": 1.5}


def _report(aggregate: float, p95_alone: float, p95_with: float, view: float | None) -> dict[str, Any]:
    return {"raw_multiappend": {"msgs_per_s": 1000.0},
            "alone": {"small_p95_s": p95_alone},
            "with_big": {"aggregate_msgs_per_s": aggregate, "small_p95_s": p95_with, "status_p95_ms": 20.0,
                         "project_view_p95_ms": view},
            "sessions": {"most_open_at_once": 12, "cap": 12}, "exact": {"exact": 201, "rows": 201}}


def test_the_targets_are_met_or_not_by_the_measured_figures() -> None:
    got = {t["target"]: (t["measured"], t["met"]) for t in targets(_report(700.0, 10.0, 16.0, 150.0))}
    assert got["aggregate ≥ 60 % of raw MULTIAPPEND"] == (0.7, True)
    assert got["small p95 with the big one ≤ 1.5× without"] == (1.6, False)
    assert got["status p95 < 100 ms"] == (20.0, True)
    assert got["project row view p95 < 100 ms"] == (150.0, False)
    assert got["sessions at once ≤ the host cap (intake's login checks included)"] == (12, True)
    assert got["every row exact"] == (1.0, True)


def test_posts_mode_has_no_row_view_target() -> None:
    assert all("row view" not in t["target"] for t in targets(_report(500.0, 10.0, 10.0, None)))
