"""What ``make load`` costs and what it waits on, beside its figures: is the run bound by the cores or by waiting?

* CPU of **every** process of the run per 1,000 messages — the services, Dovecot (its master, reaped and live
  sessions), the delaying proxy, the broker, Redis and the harness itself (its POST clients and status polling)
  — and the same for the raw MULTIAPPEND copy, with the machine's busy share during each: near 1.0 means the
  two cores were the limit, not a round trip.
* How full the host's session cap was: the live leases on the host, sampled from Redis (not from Dovecot's
  log, which the session count reads), and how often the host's "wanted" flag was up: a worker that starts
  waiting for a lease sets it for 2 s, and while it is up every replica closes its idle sessions there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from shared import redis_keys
from tests.bench import measure


class CpuMeter:
    """CPU seconds of a fixed set of processes, Dovecot and this process, plus the machine's busy ticks."""

    def __init__(self, pids: Mapping[str, int], dovecot_pid: int) -> None:
        self.pids = dict(pids)
        self.dovecot_pid = dovecot_pid

    def snapshot(self) -> tuple[dict[str, float], tuple[int, int]]:
        out = measure.cpu_snapshot(self.pids)
        if self.dovecot_pid:
            out["dovecot"] = measure.session_cpu_seconds(self.dovecot_pid)
        out["harness"] = time.process_time()  # every thread of the harness: clients, polling, the raw copy
        return out, measure.machine_ticks()


def costs(before: tuple[dict[str, float], tuple[int, int]], after: tuple[dict[str, float], tuple[int, int]],
          messages: int, seconds: float) -> dict[str, Any]:
    """CPU seconds per 1,000 messages per process (replicas summed), their total, and the machine's busy share.
    ``cores_used``: the run's processes' CPU over the wall time (2.0 is every core of this machine)."""
    per = measure.cpu_per_1000(before[0], after[0], messages)
    spent = sum(after[0][k] - before[0].get(k, 0.0) for k in after[0])
    return {"cpu_s_per_1000_msgs": per, "total_cpu_s_per_1000_msgs": round(sum(per.values()), 3),
            "cpu_seconds": round(spent, 2), "cores_used": round(spent / seconds, 2) if seconds else None,
            "machine_busy": measure.busy_share(before[1], after[1])}


def measured(meter: CpuMeter, run: Callable[[], int]) -> dict[str, Any]:
    """``run`` (which returns the messages it moved) with its costs."""
    before, t0 = meter.snapshot(), time.perf_counter()
    moved = run()
    return costs(before, meter.snapshot(), moved, time.perf_counter() - t0)


class CapSampler:
    """Samples the live leases on one host every ``every`` seconds (Redis's clock, as the leases are scored),
    and whether the host's "wanted" flag was up (a worker began waiting for a lease within its 2 s)."""

    def __init__(self, redis_url: str, host: str, cap: int, every: float = 0.05) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.key, self.wanted = redis_keys.host_sessions(host), redis_keys.host_wanted(host)
        self.cap = cap
        self.every = every
        self.samples: list[tuple[float, int, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cap-sampler", daemon=True)

    def __enter__(self) -> CapSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.every):
            try:
                secs, micros = self.client.time()
                now_ms = secs * 1000 + micros // 1000
                pipe = self.client.pipeline(transaction=False)
                pipe.zcount(self.key, now_ms, "+inf")
                pipe.exists(self.wanted)
                held, waiting = pipe.execute()
            except redis.RedisError:
                continue
            self.samples.append((time.monotonic() - t0, int(held), bool(waiting)))

    def result(self) -> dict[str, Any]:
        n = len(self.samples)
        if not n:
            return {"samples": 0}
        held = [h for _t, h, _w in self.samples]
        return {"samples": n, "cap": self.cap, "mean_leases": round(sum(held) / n, 2), "most_leases": max(held),
                "share_at_cap": round(sum(1 for h in held if h >= self.cap) / n, 2),
                "share_wanted_flag_up": round(sum(1 for _t, _h, w in self.samples if w) / n, 2),
                # one line per second: mean leases held, share of samples with the wanted flag up
                "per_second": _per_second(self.samples)}


def _per_second(samples: list[tuple[float, int, bool]]) -> list[list[float]]:
    out: dict[int, list[tuple[int, bool]]] = {}
    for t, h, w in samples:
        out.setdefault(int(t), []).append((h, w))
    return [[s, round(sum(h for h, _w in v) / len(v), 1), round(sum(1 for _h, w in v if w) / len(v), 2)]
            for s, v in sorted(out.items())]
