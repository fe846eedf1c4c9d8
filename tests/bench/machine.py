"""What the benchmark ran on: the machine, the code, and the round trip the proxy really adds."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.bench import baselines

ROOT = Path(__file__).resolve().parents[2]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    dovecot_version = ""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        dovecot_version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True,
                                         timeout=10).stdout.strip()
    return {"code": code_version(), "nproc": os.cpu_count(), "cpu_model": model, "memory": mem, "kernel": platform.release(),
            "python": platform.python_version(), "dovecot": dovecot_version, "mbsync": baselines.mbsync_version()}


def code_version() -> dict[str, Any]:
    """Which mailferry was measured: the commit and how many files differ from it (read-only git)."""
    out: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout
        out["modified_files"] = len(status.splitlines())
    return out


def measure_rtt(port: int, n: int = 5) -> float:
    """Median time of an IMAP NOOP round trip through ``port``, in ms."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        f.readline()
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            s.sendall(b"N%d NOOP\r\n" % i)
            while not f.readline().startswith(b"N%d " % i):
                pass
            times.append((time.perf_counter() - t0) * 1000)
        s.sendall(b"L LOGOUT\r\n")
    return statistics.median(times)
