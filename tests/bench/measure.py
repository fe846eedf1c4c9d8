"""What a process costs, read from /proc, and what went to the broker, read from the kernel.

* CPU seconds: ``utime + stime`` of ``/proc/<pid>/stat`` (all threads), sampled before and after a
  line; for Dovecot the master's reaped children (``cutime + cstime``) plus every live process of
  its session, because each IMAP connection is its own short-lived process.
* Peak RSS: ``VmHWM`` of ``/proc/<pid>/status`` (the process's high-water mark since it started;
  every mailferry run starts fresh services, so that is the peak of that run).
* Bytes to the broker: ``tcpi_bytes_received`` of every established socket on the broker's port,
  from ``ss -ti`` (the broker side of each client connection), after minus before. This is every
  byte the services sent to Kafka on the wire — Produce requests after lz4 compression, plus fetch,
  heartbeat, commit and metadata requests — on connections alive at both samples (the services keep
  theirs open for their lifetime; an admin client that connects and leaves in between is missed).
* Machine busy: the share of all CPUs' time that was not idle (``/proc/stat``), from the start of a
  copy to its end. Near 1.0 means the copy was bound by the machine's cores, not by waiting.
* Item bytes: ``mailferry_item_bytes_total`` and ``mailferry_items_total`` from each service's
  ``/metrics`` (what the extractor read and the loader wrote, by the services' own count).
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as fh:
        raw = fh.read()
    return raw[raw.rindex(")") + 2:].split()  # fields from 3 (state) on


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of ``pid`` (all its threads); with ``children`` add reaped children's."""
    try:
        f = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    ticks = int(f[11]) + int(f[12])  # utime, stime
    if children:
        ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks / CLK_TCK


def service_pids(processes: Mapping[str, Sequence[int]], services: Iterable[str]) -> dict[str, int]:
    """Each service process by name: ``loader``, ``loader-1``… (a stack's ``processes``)."""
    return {f"{name}{'' if i == 0 else f'-{i}'}": pid for name in services
            for i, pid in enumerate(processes.get(name, []))}


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_per_1000(before: Mapping[str, float], after: Mapping[str, float], messages: int,
                 digits: int = 3) -> dict[str, float]:
    """CPU seconds per 1,000 messages per service, its replicas summed (``loader-1`` counts as ``loader``)."""
    per_service: dict[str, float] = {}
    for name, end in after.items():
        service = name.split("-")[0]
        per_service[service] = per_service.get(service, 0.0) + end - before.get(name, 0.0)
    return {service: round(v * 1000 / max(messages, 1), digits) for service, v in per_service.items()}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot. iowait counts as idle; time the hypervisor gave to
    other machines (steal) counts as neither; guest time is already part of user time."""
    try:
        with open("/proc/stat") as fh:
            user, nice, system, idle, iowait, irq, softirq, *_later = (int(x) for x in fh.readline().split()[1:])
    except (OSError, ValueError):
        return 0, 0
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The share of all CPUs' time that was busy between two :func:`machine_ticks` samples."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 2) if total > 0 else None


def peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _session_members(leader: int) -> Iterator[tuple[int, float]]:
    """(pid, CPU seconds) of every live process of a session other than its leader."""
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == leader:
            continue
        try:
            f = _stat_fields(int(name))
        except (OSError, ValueError):
            continue
        if int(f[3]) == leader:  # session id
            yield int(name), (int(f[11]) + int(f[12])) / CLK_TCK


def session_cpu_seconds(leader: int) -> float:
    """CPU of a session leader, its reaped children and every live process of its session (Dovecot)."""
    return cpu_seconds(leader, children=True) + sum(cpu for _pid, cpu in _session_members(leader))


def session_processes(leader: int) -> list[tuple[str, float]]:
    """(title, CPU seconds) of every live process of a session: which Dovecot process did the work."""
    out = []
    for pid, cpu in [(leader, cpu_seconds(leader)), *_session_members(leader)]:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out.append((title, cpu))
    return sorted(out, key=lambda x: -x[1])


def broker_bytes(port: int) -> tuple[int, int]:
    """(bytes received by, bytes sent by) the broker on its live connections, per the kernel."""
    try:
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0, 0
    received = sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out))
    sent = sum(int(x) for x in re.findall(r"bytes_acked:(\d+)", out))
    return received, sent


@dataclass
class Metric:
    name: str
    labels: dict[str, str]
    value: float


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+([-+0-9.eEinfNa]+)$')


def scrape(port: int, timeout: float = 5.0) -> list[Metric]:
    """The Prometheus text of a service's /metrics, parsed into name, labels, value."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out.append(Metric(m.group(1), labels, float(m.group(3))))
    return out


def metric_sum(metrics: list[Metric], name: str, **labels: str) -> float:
    return sum(m.value for m in metrics if m.name == name and all(m.labels.get(k) == v for k, v in labels.items()))


def stage_seconds(metrics: list[Metric]) -> dict[str, dict[str, float]]:
    """``mailferry_stage_seconds`` per stage: total seconds, count and mean (ms), from one scrape."""
    out: dict[str, dict[str, float]] = {}
    for m in metrics:
        stage = m.labels.get("stage")
        if stage is None:
            continue
        if m.name == "mailferry_stage_seconds_sum":
            out.setdefault(stage, {})["seconds"] = round(m.value, 3)
        elif m.name == "mailferry_stage_seconds_count":
            out.setdefault(stage, {})["count"] = m.value
    for v in out.values():
        if v.get("count"):
            v["mean_ms"] = round(1000 * v.get("seconds", 0.0) / v["count"], 1)
    return out
