"""The benchmark's choice of the run to report, and its reading of the machine's busy share."""

from __future__ import annotations

from typing import Any

from tests.bench import measure
from tests.bench.report import reported_run


def _run(rate: float, identical: bool = True, tool: str = "mailferry", **extra: Any) -> dict[str, Any]:
    return {"line": "mailferry ×1", "tool": tool, "msgs_per_s": rate, "seconds": 5000 / rate if rate else 0.0,
            "machine_busy": 0.9, "fidelity": {"identical": identical}, **extra}


def test_the_median_run_is_reported_with_every_runs_rate() -> None:
    row = reported_run([_run(1300.0), _run(1500.0), _run(1200.0)])
    assert row["msgs_per_s"] == 1300.0
    assert row["repeats"] == 3
    assert [r["msgs_per_s"] for r in row["runs"]] == [1300.0, 1500.0, 1200.0]


def test_with_an_even_number_of_runs_the_slower_middle_one_is_reported() -> None:
    assert reported_run([_run(1400.0), _run(1200.0)])["msgs_per_s"] == 1200.0


def test_a_lossy_run_is_reported_even_if_it_was_the_fastest() -> None:
    row = reported_run([_run(1300.0), _run(9000.0, identical=False), _run(1200.0)])
    assert row["msgs_per_s"] == 9000.0 and row["fidelity"]["identical"] is False
    assert [r["identical"] for r in row["runs"]] == [True, False, True]


def test_a_failed_run_is_reported() -> None:
    row = reported_run([_run(1300.0), _run(0.0, error="RuntimeError: broker gone"), _run(1200.0)])
    assert row["error"] == "RuntimeError: broker gone"


def test_mbsync_changing_messages_is_not_a_failure_of_the_run() -> None:
    # mbsync is measured as it is: its differences are reported, so its median still stands
    row = reported_run([_run(800.0, False, "mbsync"), _run(820.0, False, "mbsync"), _run(790.0, False, "mbsync")])
    assert row["msgs_per_s"] == 800.0


def test_the_busy_share_of_the_machine() -> None:
    assert measure.busy_share((100, 1000), (250, 1200)) == 0.75
    assert measure.busy_share((100, 1000), (100, 1000)) is None
    busy, total = measure.machine_ticks()
    assert 0 < busy < total  # this machine has been up and working
