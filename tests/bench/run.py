"""``make bench``: how fast mailferry moves a mailbox, against mbsync, a naive copy, a raw copy and the raw limits.

    python -m tests.bench.run [--messages 5000] [--rtt-ms 0,20] [--out artifacts/bench.json] [--quick]
                              [--repeat 3] [--profile] [--env MAILFERRY_X=Y ...] [--lines mailferry,mbsync,...]
                              [--stores tmpfs,disk] [--disk-dir DIR]

Every line runs with Dovecot's mail store in memory (``tmpfs``: /dev/shm) and on the machine's disk
(``disk``: ``--disk-dir``, by default below the output's directory), one store after the other, each
with its own Dovecot and its own seeded source mailbox; the report gives both.

One private Dovecot holds a deterministic source mailbox (``tests/bench/mailbox.py``); every line
copies it into a fresh, empty account on the same Dovecot and is then checked with
``mailferry.verify.compare`` (bytes, flags, INTERNALDATE, folder tree), straight against Dovecot.
At an RTT above 0 a TCP proxy (``latency_proxy.py``, its own process) in front of Dovecot adds
RTT/2 each way for every line, source and target alike; at 0 ms the tools connect to Dovecot
directly. The broker (tansu) and Redis are started once, like ``tests/servers.py`` does; each
mailferry run gets a fresh ``stack.up`` (own topic prefix, 1 or 2 replicas of extractor and
loader) and is driven through the REST API like a user would.

Every line but the naive sample runs ``--repeat`` times (default 3), the lines taking turns, so a
slow moment of the shared machine falls on one run, not on one line; the run with the median
messages/s is reported, with all runs' rates beside it. A run that is not exact is reported instead
of the median, so a fast but lossy run cannot hide behind two good ones.

Prints one table at the end and writes the same numbers, and more, as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient
from imapclient import IMAPClient

from mailferry import stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.expected_folders import expected_for
from mailferry.follow import FINAL
from mailferry.seed import Message
from mailferry.verify import Fingerprint
from shared import redis_keys
from shared.credential_seal import generate_master_key
from tests.bench import baselines, fidelity, measure
from tests.bench import mailbox as mbox
from tests.bench.latency_proxy import LatencyProxy
from tests.bench.machine import machine, measure_rtt
from tests.bench.profiling import start_profilers, stop_profiler, summarise_profile
from tests.bench.raw_copy import raw_copy
from tests.bench.report import MUST_BE_EXACT, ratios, reported_run, table, targets
from tests.e2e import flows
from tests.servers import Process, start_broker, start_redis

ROOT = Path(__file__).resolve().parents[2]
LINES = ("raw-fetch", "raw-append", "raw-copy", "mailferry", "mbsync", "naive")
# Run only when named: mailferry ×1 writing through one target session (the loader's lanes off), to compare
# with the lanes in the same run.
OPTIONAL_LINES = ("mailferry-one-session",)
STORES = ("tmpfs", "disk")


@dataclass
class Config:
    messages: int = 5000
    rtts: list[float] = field(default_factory=lambda: [0.0, 20.0])
    out: Path = ROOT / "artifacts" / "bench.json"
    quick: bool = False
    replicas: list[int] = field(default_factory=lambda: [1, 2])
    lines: tuple[str, ...] = LINES
    huge_mb: float = 25.0
    naive_max: int = 1000
    naive_max_rtt: int = 300
    naive_cap_s: float = 90.0
    mailferry_timeout_s: float = 900.0
    raw_connections: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    profile: bool = False
    seed: int = 8
    repeat: int = 3
    stores: tuple[str, ...] = STORES
    disk_dir: Path | None = None


def parse_args(argv: list[str] | None) -> Config:
    p = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=None, help="messages in the source mailbox (default 5000)")
    p.add_argument("--rtt-ms", default="0,20", help="comma-separated round-trip times to add (default 0,20)")
    p.add_argument("--out", default=str(ROOT / "artifacts" / "bench.json"))
    p.add_argument("--quick", action="store_true",
                   help="small and fast (the smoke test): 200 messages, one 3 MB message instead of 25 MB, "
                        "naive copy on at most 200 messages")
    p.add_argument("--replicas", default="1,2", help="replica counts of extractor and loader to run (default 1,2)")
    p.add_argument("--lines", default=",".join(LINES),
                   help=f"which lines to run, of {','.join(LINES + OPTIONAL_LINES)}")
    p.add_argument("--huge-mb", type=float, default=None, help="size of the one huge message (default 25, 0 none)")
    p.add_argument("--naive-max", type=int, default=None,
                   help="at 0 ms the naive copy copies at most this many messages, a 1-in-k sample (default 1000)")
    p.add_argument("--naive-max-rtt", type=int, default=None, help="the same at RTT > 0 (default 300)")
    p.add_argument("--mailferry-timeout", type=float, default=900.0, help="seconds a mailferry run may take")
    p.add_argument("--env", action="append", default=[], metavar="MAILFERRY_X=VALUE",
                   help="extra settings for the mailferry services (repeatable)")
    p.add_argument("--profile", action="store_true",
                   help="one more mailferry run (1 replica, highest RTT) under py-spy; writes artifacts/profile-*")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--stores", default=",".join(STORES), help="where Dovecot keeps mail: tmpfs, disk or both")
    p.add_argument("--disk-dir", default=None, help="the on-disk store's directory (default: next to --out)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs of each line but the naive sample, taking turns; the median is reported "
                        "(default 3, 1 with --quick)")
    a = p.parse_args(argv)
    cfg = Config(out=Path(a.out), quick=a.quick, profile=a.profile, seed=a.seed,
                 mailferry_timeout_s=a.mailferry_timeout)
    cfg.rtts = [float(x) for x in a.rtt_ms.split(",") if x.strip()]
    cfg.replicas = [int(x) for x in a.replicas.split(",") if x.strip()]
    cfg.lines = tuple(x.strip() for x in a.lines.split(",") if x.strip())
    cfg.stores = tuple(x.strip() for x in a.stores.split(",") if x.strip())
    if not cfg.stores or set(cfg.stores) - set(STORES):
        p.error(f"--stores takes {','.join(STORES)}")
    cfg.disk_dir = Path(a.disk_dir) if a.disk_dir else None
    unknown = set(cfg.lines) - set(LINES) - set(OPTIONAL_LINES)
    if unknown:
        p.error(f"unknown lines {sorted(unknown)}")
    if a.quick:
        cfg.messages, cfg.huge_mb, cfg.naive_max, cfg.naive_max_rtt, cfg.repeat = 200, 3.0, 200, 100, 1
    if a.repeat is not None:
        if a.repeat < 1:
            p.error("--repeat must be at least 1")
        cfg.repeat = a.repeat
    if a.messages is not None:
        cfg.messages = a.messages
    if a.huge_mb is not None:
        cfg.huge_mb = a.huge_mb
    if a.naive_max is not None:
        cfg.naive_max = a.naive_max
    if a.naive_max_rtt is not None:
        cfg.naive_max_rtt = a.naive_max_rtt
    for item in a.env:
        k, _, v = item.partition("=")
        if not k.startswith("MAILFERRY_"):
            p.error(f"--env takes MAILFERRY_ settings, got {item!r}")
        cfg.extra_env[k] = v
    return cfg


class Bench:
    def __init__(self, cfg: Config, work: Path) -> None:
        self.cfg = cfg
        self.work = work
        self.dovecot: DovecotServer | None = None
        self.broker: Process | None = None
        self.redis: Process | None = None
        self.passwords: dict[str, str] = {}
        self.layout: dict[str, list[Message]] = {}
        self.src = ""
        self.results: list[dict[str, Any]] = []
        self.run_id = secrets.token_hex(3)
        self._copy_done: Callable[[], dict[str, float]] = dict
        self._cpu_at_end: dict[str, float] | None = None
        self._ticks: tuple[tuple[int, int], tuple[int, int] | None] = ((0, 0), None)
        self.mailferry_runs = 0
        self.store = ""  # the Dovecot mail store of the lines running now
        # Per target account, before its copy: the folder names expected, and what it held.
        self.expected: dict[str, tuple[dict[str, str | None], dict[str, Counter[Fingerprint]]]] = {}

    def copy_started(self) -> None:
        """The copy begins now (a mailferry line first starts its stack): the machine's busy share counts from here."""
        self._ticks = (measure.machine_ticks(), None)

    def copy_ended(self) -> None:
        """CPU of the shared processes (Dovecot, broker, proxy) is read here, so the check that
        follows each copy does not count as the copy's work."""
        self._ticks = (self._ticks[0], measure.machine_ticks())
        self._cpu_at_end = self._copy_done()

    # accounts on the private Dovecot
    def account(self, name: str) -> str:
        login = f"{name}-{self.run_id}-{len(self.passwords)}@bench.test"
        self.passwords[login] = "pw-" + secrets.token_urlsafe(10)
        assert self.dovecot is not None
        self.dovecot.add_user(login, self.passwords[login])
        return login

    def target(self, name: str) -> str:
        """A new target account, and what the check will expect of it (taken now, before the copy)."""
        login = self.account(name)
        with self.client(self.src) as a, self.client(login) as b:
            before = verify.snapshot(b)
            if any(before.values()):
                raise RuntimeError(f"the new target account {login} is not empty")
            self.expected[login] = (expected_for(a, b), before)
        return login

    def arrived(self, target: str, res: baselines.LineResult) -> None:
        """A line's messages and bytes are what is on its target, counted there."""
        with self.client(target) as b:
            res.messages, res.bytes = fidelity.arrived(b)

    def client(self, login: str) -> IMAPClient:
        """A direct connection (no proxy), for seeding and checking."""
        assert self.dovecot is not None
        c = IMAPClient("127.0.0.1", port=self.dovecot.imap_port, ssl=False, timeout=300)
        c.login(login, self.passwords[login])
        return c

    def drop_account(self, login: str) -> None:
        """Delete a checked target's mail so a long run does not fill the disk."""
        assert self.dovecot is not None
        local, _, domain = login.lower().partition("@")
        shutil.rmtree(self.dovecot.mail_dir / domain / local, ignore_errors=True)

    @contextlib.contextmanager
    def servers(self) -> Iterator[None]:
        """The broker and Redis, for every store."""
        try:
            self.broker = start_broker(self.work / "broker.log")
            self.redis = start_redis(self.work / "redis")
            yield
        finally:
            for p in (self.broker, self.redis):
                if p is not None:
                    p.stop()

    def store_dir(self, store: str) -> Path:
        """Where Dovecot keeps mail: in memory (/dev/shm), or on the disk real servers use. On this VM's ext4,
        after much creating and deleting of accounts, each new file once cost Dovecot ~0.8 ms in the kernel's
        inode allocator (perf: ext4_create → recently_deleted): the disk lines swing more, which is why both
        are measured, each against the raw lines on the same store."""
        if store == "tmpfs":
            shm = Path("/dev/shm")
            return Path(tempfile.mkdtemp(prefix="mf-bench-dovecot-", dir=shm if shm.is_dir() else None))
        parent = self.cfg.disk_dir or self.cfg.out.parent / "bench-disk"
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="mf-bench-dovecot-", dir=parent))

    @contextlib.contextmanager
    def dovecot_on(self, store: str) -> Iterator[None]:
        self.store = store
        base = self.store_dir(store)
        base.chmod(0o755)  # Dovecot's mail processes must reach it, or the store moves to /tmp
        try:
            self.dovecot = DovecotServer(base)
            self.dovecot.start()
            yield
        finally:
            if self.dovecot is not None:
                with contextlib.suppress(OSError):  # kept for a look after the run
                    shutil.copyfile(self.dovecot.log_path, self.work / f"dovecot-{store}.log")
                self.dovecot.destroy()
                shutil.rmtree(self.dovecot.base_dir, ignore_errors=True)
                self.dovecot = None

    def seed(self) -> dict[str, Any]:
        spec = mbox.MailboxSpec(messages=self.cfg.messages, huge_bytes=int(self.cfg.huge_mb * 1024 * 1024),
                                seed=self.cfg.seed)
        t0 = time.perf_counter()
        self.layout = mbox.plan(spec)
        planned = time.perf_counter() - t0
        self.src = self.account("src")
        t0 = time.perf_counter()
        with self.client(self.src) as c:
            mbox.seed(c, self.layout)
        info = mbox.describe(self.layout)
        info.update({"plan_seconds": round(planned, 2), "seed_seconds": round(time.perf_counter() - t0, 2)})
        return info

    # -- one line ----------------------------------------------------------------------------------

    def _fixed_pids(self, proxy: LatencyProxy | None) -> dict[str, int]:
        pids: dict[str, int] = {}
        if self.broker is not None:
            pids["broker"] = self.broker.proc.pid
        if self.redis is not None:
            pids["redis"] = self.redis.proc.pid
        if proxy is not None:
            pids["latency-proxy"] = proxy.proc.pid
        return pids

    def _cpu(self, pids: dict[str, int]) -> dict[str, float]:
        out = measure.cpu_snapshot(pids)
        if self.dovecot is not None:
            out["dovecot"] = measure.session_cpu_seconds(self.dovecot.pid)
        return out

    def check(self, target: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        expected, before = self.expected[target]
        with self.client(self.src) as a, self.client(target) as b:
            result = fidelity.check(a, b, expected, before)
            if not result["identical"]:
                b.normalise_times = False
                result["differences"] = fidelity.diagnose(b, self.layout)
                result["summary"] = fidelity.summary(result["differences"])
        result["check_seconds"] = round(time.perf_counter() - t0, 1)
        return result

    def line(self, name: str, tool: str, rtt: float, port: int, proxy: LatencyProxy | None,
             **kw: Any) -> dict[str, Any]:
        print(f"  {name} at {rtt:g} ms ...", flush=True)
        fixed = self._fixed_pids(proxy)
        self._copy_done = lambda: self._cpu(fixed)  # called by each line when its copy ends, before the check
        self._cpu_at_end = None
        before = self._cpu(fixed)
        self.copy_started()
        row: dict[str, Any] = {"line": name, "tool": tool, "rtt_ms": rtt, "store": self.store}
        try:
            res, check = getattr(self, f"_run_{tool.replace('-', '_')}")(port, row, **kw)
        except Exception as exc:  # a broken line is reported, the others still run
            res, check = baselines.LineResult(), {"identical": False, "error": f"{type(exc).__name__}: {exc}"}
            row["error"] = check["error"]
            row["traceback"] = traceback.format_exc()[-3000:]
            if self.dovecot is not None:
                with contextlib.suppress(OSError):
                    row["dovecot_log_tail"] = self.dovecot.log_path.read_text(errors="replace")[-3000:]
        after = self._cpu_at_end or self._cpu(fixed)
        start, end = self._ticks
        row.update({
            "machine_busy": measure.busy_share(start, end or measure.machine_ticks()),
            "messages": res.messages, "bytes": res.bytes, "seconds": round(res.seconds, 3),
            "msgs_per_s": round(res.messages / res.seconds, 1) if res.seconds else 0.0,
            "mb_per_s": round(res.bytes / 1e6 / res.seconds, 2) if res.seconds else 0.0,
            "cpu_seconds": {**{k: round(v, 2) for k, v in res.cpu_seconds.items()},
                            **{k: round(after[k] - before.get(k, 0.0), 2) for k in after}},
            "peak_rss_mb": {k: round(v, 1) for k, v in res.peak_rss_mb.items()},
            "fidelity": check, "notes": res.notes, **res.extra,
        })
        ok = check.get("identical")
        print(f"    {res.messages} msgs in {res.seconds:.1f} s = {row['msgs_per_s']} msg/s, {row['mb_per_s']} MB/s; "
              f"identical={ok}{'' if ok else ' — ' + str(check.get('summary') or check.get('error', ''))}",
              flush=True)
        return row

    def _run_raw_fetch(self, port: int, row: dict[str, Any]) -> tuple[baselines.LineResult, dict[str, Any]]:
        res, ok = baselines.raw_fetch("127.0.0.1", port, self.src, self.passwords[self.src],
                                      mbox.digests(self.layout), connections=self.cfg.raw_connections)
        self.copy_ended()
        return res, {"identical": ok, "messages_checked": res.messages,
                     "scope": "sha256 of every fetched message against the seeded mailbox"}

    def _run_raw_append(self, port: int, row: dict[str, Any]) -> tuple[baselines.LineResult, dict[str, Any]]:
        dst = self.target("raw")
        res = baselines.raw_append("127.0.0.1", port, dst, self.passwords[dst], self.layout,
                                   connections=self.cfg.raw_connections)
        self.copy_ended()
        self.arrived(dst, res)
        check = self.check(dst)
        self.drop_account(dst)
        return res, check

    def _run_raw_copy(self, port: int, row: dict[str, Any]) -> tuple[baselines.LineResult, dict[str, Any]]:
        dst = self.target("rawcopy")
        res = raw_copy("127.0.0.1", port, (self.src, self.passwords[self.src]), (dst, self.passwords[dst]),
                       list(self.layout), readers=self.cfg.raw_connections, writers=self.cfg.raw_connections)
        self.copy_ended()
        self.arrived(dst, res)
        check = self.check(dst)
        self.drop_account(dst)
        return res, check

    def _run_naive(self, port: int, row: dict[str, Any], limit: int) -> tuple[baselines.LineResult, dict[str, Any]]:
        dst = self.target("naive")
        total = mbox.total_messages(self.layout)
        stride = max(1, math.ceil(total / limit)) if limit else 1
        res, copied, complete = baselines.naive_copy("127.0.0.1", port, (self.src, self.passwords[self.src]),
                                                     (dst, self.passwords[dst]), stride=stride,
                                                     time_cap=self.cfg.naive_cap_s)
        self.copy_ended()
        self.arrived(dst, res)
        row["sampled"] = not complete
        if complete:
            check = self.check(dst)
        else:
            with self.client(dst) as b:
                check = fidelity.check_subset(b, copied)
        self.drop_account(dst)
        return res, check

    def _run_mbsync(self, port: int, row: dict[str, Any]) -> tuple[baselines.LineResult, dict[str, Any]]:
        dst = self.target("mbsync")
        res, code = baselines.run_mbsync(self.work / f"mbsync-{self.store}-{row['rtt_ms']:g}", "127.0.0.1", port,
                                         (self.src, self.passwords[self.src]), (dst, self.passwords[dst]))
        self.copy_ended()
        self.arrived(dst, res)
        row["exit_code"] = code
        check = self.check(dst)
        self.drop_account(dst)
        return res, check

    def _mailferry_env(self, tag: str) -> dict[str, str]:
        assert self.broker is not None and self.redis is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
        env.update({
            "MAILFERRY_KAFKA_BOOTSTRAP": self.broker.address,
            "MAILFERRY_REDIS_URL": self.redis.address,
            "MAILFERRY_TOPIC_PREFIX": f"bench{self.run_id}{tag}.",
            "MAILFERRY_TOPIC_PARTITIONS": "4",
            "MAILFERRY_INTAKE_PORT": str(stack.free_port()),
            "MAILFERRY_ALLOW_HOSTS": "127.0.0.1",
            "MAILFERRY_SECRET_KEY": generate_master_key("bench1"),
            "MAILFERRY_LOGIN_CHECKS_PER_MINUTE": "1000",
        })
        env.update(self.cfg.extra_env)
        return env

    def _forget_leases(self) -> None:
        """A stopped run's workers leave their session leases in the shared Redis until they expire (30 s), and
        every run reads the same source account (cap 10): the next run's extractor would wait for the last
        run's 8 extract sessions' leases. The workers are gone, so their leases go too."""
        assert self.redis is not None
        r = redis.Redis.from_url(self.redis.address)
        try:
            stale = [*r.scan_iter(match=redis_keys.host_sessions("*")),
                     *r.scan_iter(match=redis_keys.account_sessions("*"))]
            if stale:
                r.delete(*stale)
        finally:
            r.close()

    def _endpoint(self, login: str, port: int) -> dict[str, object]:
        return {"type": "imap", "host": "127.0.0.1", "port": port, "security": "none", "login": login,
                "password": self.passwords[login]}

    def _run_mailferry(self, port: int, row: dict[str, Any], replicas: int, profile_dir: Path | None = None,
                       env: dict[str, str] | None = None) -> tuple[baselines.LineResult, dict[str, Any]]:
        res = baselines.LineResult()
        dst = self.target(f"mf{replicas}")
        # Each run its own topics, consumer groups and logs: a group that the last run's workers have
        # just left may still be rebalancing, and the reported run's logs must stay.
        self.mailferry_runs += 1
        tag = f"{self.store[:1]}r{replicas}t{row['rtt_ms']:g}{'p' if profile_dir else ''}n{self.mailferry_runs}"
        state = self.work / f"stack-{tag}"
        shutil.rmtree(state, ignore_errors=True)
        row["replicas"] = replicas
        t_up = time.perf_counter()
        extra_env = env or {}
        env = {**self._mailferry_env(tag), **extra_env}
        info = stack.up(state, env, replicas={"extractor": replicas, "loader": replicas},
                        timeout=90)  # it starts in ~10 s; a service that crashes at start costs the whole wait
        samplers: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            for name, ports in info.http_ports.items():  # intake answered on its own port in stack.up
                for p in ports if name != "intake" else []:
                    if not stack.wait_ready(f"http://127.0.0.1:{p}/readyz", 120):
                        raise RuntimeError(f"{name} on port {p} did not become ready; see {state}/logs")
            row["stack_up_seconds"] = round(time.perf_counter() - t_up, 1)
            pids = measure.service_pids(info.processes, stack.SERVICES)
            if profile_dir is not None:
                samplers = start_profilers(profile_dir, pids)
            before = measure.cpu_snapshot(pids)
            assert self.broker is not None
            broker_port = int(self.broker.address.rsplit(":", 1)[1])
            rx0, tx0 = measure.broker_bytes(broker_port)
            self.copy_started()
            t0 = time.perf_counter()
            mid = flows.start(info, self._endpoint(self.src, port), self._endpoint(dst, port))
            st: dict[str, Any] = {}
            deadline = time.monotonic() + self.cfg.mailferry_timeout_s
            timeline: list[tuple[float, int, int]] = []
            next_sample = 0.0
            while time.monotonic() < deadline:
                st = flows.status(info, mid, self.src)
                if st["state"] in FINAL:
                    break
                if time.perf_counter() >= next_sample:
                    next_sample = time.perf_counter() + 0.5
                    timeline.append(self._progress_sample(info, st, t0))
                time.sleep(0.1)
            res.seconds = time.perf_counter() - t0
            self.copy_ended()
            if self.dovecot is not None:  # the sessions are still open: which ones worked how hard
                res.extra["dovecot_processes"] = measure.session_processes(self.dovecot.pid)[:12]
            timeline.append((round(res.seconds, 2), mbox.total_messages(self.layout),
                             int(((st.get("items") or {}).get("emails") or {}).get("done", 0))))
            res.extra["timeline"] = timeline
            rx1, tx1 = measure.broker_bytes(broker_port)
            after = measure.cpu_snapshot(pids)
            res.peak_rss_mb = {k: measure.peak_rss_mb(p) for k, p in pids.items()}
            res.cpu_seconds = {k: after[k] - before[k] for k in pids}
            for s_name, proc in samplers:
                stop_profiler(s_name, proc)
            samplers = []
            metrics = {}
            for name, ports in info.http_ports.items():
                for i, p in enumerate(ports if name != "intake" else []):
                    metrics[f"{name}{'' if i == 0 else f'-{i}'}"] = measure.scrape(p)
        finally:
            for s_name, proc in samplers:
                stop_profiler(s_name, proc)
            stack.down(state)
            drop_topics(env["MAILFERRY_KAFKA_BOOTSTRAP"], env["MAILFERRY_TOPIC_PREFIX"])
            self._forget_leases()
        emails = (st.get("items") or {}).get("emails") or {}
        self.arrived(dst, res)
        mail_bytes = mbox.total_bytes(self.layout)
        extracted = sum(measure.metric_sum(m, "mailferry_item_bytes_total", service="extractor")
                        for m in metrics.values())
        loaded = sum(measure.metric_sum(m, "mailferry_item_bytes_total", service="loader") for m in metrics.values())
        res.extra = {
            **res.extra,
            "state": st.get("state"), "status_items": emails, "migration_id": mid,
            "cpu_s_per_1000_msgs": measure.cpu_per_1000(before, after, res.messages, digits=2),
            "broker": {
                "bytes_to_broker": rx1 - rx0, "bytes_from_broker": tx1 - tx0,
                "to_broker_per_mail_byte": round((rx1 - rx0) / mail_bytes, 3) if mail_bytes else None,
                "how": "kernel tcpi_bytes_received on the broker's sockets (wire bytes incl. lz4 compression "
                       "and all Kafka protocol traffic of the services)",
            },
            "item_bytes_metric": {"extractor": int(extracted), "loader": int(loaded), "mail_bytes": mail_bytes},
            "stages": {name: measure.stage_seconds(m) for name, m in metrics.items()},
            "logs": str(state / "logs"),
        }
        if st.get("state") not in FINAL:
            res.notes.append(f"did not finish within {self.cfg.mailferry_timeout_s:.0f} s (state {st.get('state')})")
        elif st.get("state") != "completed":
            res.notes.append(f"ended {st.get('state')}: {st.get('error') or st.get('items')}")
        check = self.check(dst)
        self.drop_account(dst)
        return res, check

    @staticmethod
    def _progress_sample(info: stack.StackInfo, st: dict[str, Any], t0: float) -> tuple[float, int, int]:
        """(seconds since start, messages extracted so far, messages loaded so far): where the time goes."""
        extracted = 0
        for p in info.http_ports.get("extractor", []):
            with contextlib.suppress(Exception):
                extracted += int(measure.metric_sum(measure.scrape(p, timeout=1.0), "mailferry_items_total",
                                                    service="extractor", result="extracted"))
        done = int(((st.get("items") or {}).get("emails") or {}).get("done", 0))
        return round(time.perf_counter() - t0, 2), extracted, done

    # -- the whole run -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        t_start = time.perf_counter()
        report: dict[str, Any] = {"machine": machine(), "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.cfg).items()}}
        report["rtt_measured_ms"] = {}
        with self.servers():
            for store in self.cfg.stores:
                with self.dovecot_on(store):
                    print(f"mail store {store}: seeding the source mailbox ...", flush=True)
                    report["mailbox"] = self.seed()
                    print(f"  {report['mailbox']}", flush=True)
                    assert self.dovecot is not None
                    report.setdefault("stores", {})[store] = {
                        "mail_dir": str(self.dovecot.mail_dir), "filesystem": filesystem(self.dovecot.mail_dir)}
                    for rtt in self.cfg.rtts:
                        proxy = LatencyProxy(self.dovecot.imap_port, rtt) if rtt > 0 else None
                        port = proxy.port if proxy else self.dovecot.imap_port
                        try:
                            measured = report["rtt_measured_ms"][f"{store} {rtt:g}"] = round(measure_rtt(port), 2)
                            print(f"{store}, RTT {rtt:g} ms (measured IMAP NOOP round trip {measured} ms):",
                                  flush=True)
                            self.lines_at(rtt, port, proxy)
                        finally:
                            if proxy is not None:
                                proxy.stop()
                    if self.cfg.profile:
                        report.setdefault("profile", {})[store] = self.profile()
            report["services_peak_rss_mb"] = {
                "broker": measure.peak_rss_mb(self.broker.proc.pid) if self.broker else 0,
                "redis": measure.peak_rss_mb(self.redis.proc.pid) if self.redis else 0}
        report["lines"] = self.results
        report["ratios"] = ratios(self.results)
        report["targets"] = targets(self.results)
        report["total_seconds"] = round(time.perf_counter() - t_start, 1)
        return report

    def lines_at(self, rtt: float, port: int, proxy: LatencyProxy | None) -> None:
        """Every chosen line at one RTT, ``repeat`` rounds of them taking turns; one row per line."""
        plan: list[tuple[str, str, dict[str, Any]]] = []
        if "raw-fetch" in self.cfg.lines:
            plan.append(("raw FETCH (4 conn × 200)", "raw-fetch", {}))
        if "raw-append" in self.cfg.lines:
            plan.append(("raw MULTIAPPEND (4 conn × 50)", "raw-append", {}))
        if "raw-copy" in self.cfg.lines:
            plan.append(("raw pipelined copy (4 FETCH × 200 → 4 MULTIAPPEND × 50)", "raw-copy", {}))
        if "mailferry" in self.cfg.lines:
            plan += [(f"mailferry ×{r}", "mailferry", {"replicas": r}) for r in self.cfg.replicas]
        if "mailferry-one-session" in self.cfg.lines:
            plan.append(("mailferry ×1, one write session", "mailferry",
                         {"replicas": 1, "env": {"MAILFERRY_LOAD_CONNECTIONS": "1"}}))
        if "mbsync" in self.cfg.lines:
            plan.append(("mbsync", "mbsync", {}))
        if "naive" in self.cfg.lines:  # the floor, on a sample: once is enough
            plan.append(("naive copy", "naive", {"limit": self.cfg.naive_max if rtt == 0 else self.cfg.naive_max_rtt}))
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _tool, _kw in plan}
        for round_no in range(self.cfg.repeat):
            for name, tool, kw in plan:
                if tool != "naive" or round_no == 0:
                    runs[name].append(self.line(name, tool, rtt, port, proxy, **kw))
        self.results += [reported_run(runs[name]) for name, _tool, _kw in plan]

    def profile(self) -> dict[str, Any]:
        """A mailferry run (1 replica, highest RTT) with py-spy on the loader and the extractor."""
        if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
            return {"error": "py-spy is not installed (pip install py-spy into the venv)"}
        assert self.dovecot is not None
        rtt = max(self.cfg.rtts)
        out_dir = self.cfg.out.parent
        proxy = LatencyProxy(self.dovecot.imap_port, rtt) if rtt > 0 else None
        row: dict[str, Any] = {"line": "mailferry ×1 (under py-spy)", "tool": "mailferry", "rtt_ms": rtt}
        try:
            print(f"profiling mailferry ×1 at {rtt:g} ms ...", flush=True)
            res, check = self._run_mailferry(proxy.port if proxy else self.dovecot.imap_port, row, 1,
                                             profile_dir=out_dir)
        finally:
            if proxy is not None:
                proxy.stop()
        summary = {name: summarise_profile(out_dir / f"profile-{name}.txt") for name in ("loader", "extractor")}
        return {"rtt_ms": rtt, "seconds": round(res.seconds, 1), "messages": res.messages,
                "identical": check.get("identical"),
                "files": sorted(str(p) for p in out_dir.glob("profile-*")), "summary": summary}


def filesystem(path: Path) -> str:
    """The file system type a directory is on (tmpfs, ext4…), as the kernel names it."""
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete a finished run's topics: the broker keeps them in memory, and three rounds of every line
    held about 1 GB by the last run."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in admin.delete_topics(names, operation_timeout=10).values() if names else ():
        with contextlib.suppress(Exception):  # a topic left behind costs memory, not correctness
            future.result(10)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_args(argv)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    work = cfg.out.parent / "bench-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report = Bench(cfg, work).run()
    cfg.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print()
    print(table(report))
    print(f"\nJSON: {cfg.out}")
    return report


def cli() -> int:
    report = main(sys.argv[1:])
    bad = [r["line"] for r in report["lines"] if r["tool"] in MUST_BE_EXACT and not r["fidelity"].get("identical")]
    if bad:
        print(f"copies that are not exact: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
