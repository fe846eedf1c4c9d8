"""Running py-spy on the loader and the extractor during a benchmark run, and summing up what it saw."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _py_spy() -> str:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else "py-spy"


def start_profilers(out_dir: Path, pids: dict[str, int], names: tuple[str, ...] = ("loader", "extractor"),
                    formats: tuple[str, ...] = ("svg", "raw", "cpu")) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """py-spy on the named processes (loader and extractor by default): an SVG flame graph (CPU, idle threads
    left out), collapsed stacks per thread including idle time (where the wall clock goes) and without it
    (where the CPU goes); ``formats`` chooses among them (each is a py-spy process of its own)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for name in names:
        pid = pids.get(name)
        if not pid:
            continue
        for fmt, args, path in (("svg", [], f"profile-{name}.svg"),
                                ("raw", ["--idle", "--threads", "--format", "raw"], f"profile-{name}.txt"),
                                ("cpu", ["--format", "raw"], f"profile-{name}-cpu.txt")):
            if fmt not in formats:
                continue
            log = (out_dir / f"profile-{name}-{fmt}.log").open("wb")
            procs.append((f"{name}-{fmt}", subprocess.Popen(
                [_py_spy(), "record", "--pid", str(pid), "--rate", "50", "-o", str(out_dir / path), *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)))
    time.sleep(1.0)
    return procs


def stop_profiler(_name: str, proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def summarise_profile(path: Path, top: int = 12) -> dict[str, Any]:
    """From py-spy's collapsed stacks: share of samples per thread, and per thread the innermost
    frames of our own code (services/, shared/) and the innermost frames overall."""
    if not path.exists():
        return {"error": f"{path} was not written"}
    per_thread: dict[str, int] = {}
    own: dict[str, dict[str, int]] = {}
    leaf: dict[str, dict[str, int]] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        # py-spy's first frame is "thread (<tid>): <name>"; group by the name
        thread = frames[0].split(": ", 1)[1] if ": " in frames[0] else frames[0]
        total += count
        per_thread[thread] = per_thread.get(thread, 0) + count
        ours = [f for f in frames[1:] if "services/" in f or "shared/" in f]
        if ours:
            key = ours[-1]
            own.setdefault(thread, {})
            own[thread][key] = own[thread].get(key, 0) + count
        leaf.setdefault(thread, {})
        leaf[thread][frames[-1]] = leaf[thread].get(frames[-1], 0) + count

    def topn(d: dict[str, int], of: int) -> list[list[Any]]:
        return [[k, round(100 * v / of, 1)] for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]]

    return {"samples": total, "note": "wall clock (idle included); percentages are of each thread's samples",
            "threads_pct": {k: round(100 * v / total, 1) for k, v in sorted(per_thread.items(), key=lambda kv: -kv[1])},
            "innermost_own_frame_pct": {t: topn(d, per_thread[t]) for t, d in own.items()},
            "innermost_frame_pct": {t: topn(d, per_thread[t]) for t, d in leaf.items()}}
