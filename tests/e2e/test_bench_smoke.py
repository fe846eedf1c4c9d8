"""The benchmark's smoke variant: every line runs and is checked, so ``make bench`` cannot rot.

200 messages, RTT 0 only, ``--quick`` (one 3 MB message instead of 25 MB), with Dovecot's store in memory and
on disk. mailferry (1 and 2 replicas), the naive copy, the raw pipelined copy and the raw FETCH / MULTIAPPEND
lines must copy exactly; mbsync's differences (X-TUID header, dropped keywords) are reported by the benchmark,
not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench import run
from tests.bench.report import MUST_BE_EXACT

pytestmark = pytest.mark.e2e


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # A fetch batch smaller than the 3 MB message: it is planned as a task of its own, run first.
    report = run.main(["--quick", "--messages", "200", "--rtt-ms", "0", "--out", str(out),
                       "--env", "MAILFERRY_FETCH_BATCH_BYTES=2500000"])
    assert json.loads(out.read_text())["lines"] == json.loads(json.dumps(report["lines"], default=str))
    lines = report["lines"]
    assert {r["tool"] for r in lines} == {"mailferry", "mbsync", "naive", "raw-fetch", "raw-append", "raw-copy"}
    assert sorted((r["store"], r.get("replicas", 0)) for r in lines if r["tool"] == "mailferry") == [
        ("disk", 1), ("disk", 2), ("tmpfs", 1), ("tmpfs", 2)]
    assert {k: v["filesystem"] for k, v in report["stores"].items()}["tmpfs"] == "tmpfs"
    assert report["stores"]["disk"]["filesystem"] != "tmpfs"
    for r in lines:
        assert "identical" in r["fidelity"], r
        assert 0 < r["machine_busy"] <= 1, r  # the share of the machine's CPU time the copy kept busy
        assert r["repeats"] == 1 and [x["msgs_per_s"] for x in r["runs"]] == [r["msgs_per_s"]], r  # --quick: once
        if r["tool"] in MUST_BE_EXACT:
            assert r["fidelity"]["identical"] is True, r
            assert r["messages"] == report["mailbox"]["messages"], r
            assert r["msgs_per_s"] > 0, r
    mf = [r for r in lines if r["tool"] == "mailferry"]
    for r in mf:
        assert r["state"] == "completed", r
        assert r["cpu_s_per_1000_msgs"].keys() >= {"extractor", "loader"}, r
        assert all(v > 0 for v in r["peak_rss_mb"].values()), r
        # where the time went: per-stage seconds from the services' own metrics, and a progress timeline
        def count(service: str, stage: str, r: dict[str, object] = r) -> float:
            stages = r["stages"]
            assert isinstance(stages, dict)
            return sum(v.get(stage, {}).get("count", 0) for k, v in stages.items() if k.startswith(service))

        assert count("loader", "write") > 0 and count("extractor", "task") > 0, r
        assert list(r["timeline"][-1][1:]) == [r["messages"], r["messages"]], r["timeline"]
        assert r["dovecot_processes"], r
        planned = [json.loads(line) for log in Path(r["logs"]).glob("extractor*.log")
                   for line in log.read_text().splitlines() if '"msg": "planned"' in line]
        assert [p["large"] for p in planned] == [1], planned
    for store in ("tmpfs", "disk"):
        assert report["ratios"][f"{store} 0"]["mailferry ×1"].keys() >= {
            "mbsync", "naive copy", "raw pipelined copy (4 FETCH × 200 → 4 MULTIAPPEND × 50)"}
