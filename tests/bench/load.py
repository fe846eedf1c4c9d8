"""``make load``: many small mailboxes and one big one through the local stack, with session caps on.

    python -m tests.bench.load [--via project|posts] [--no-preflight] [--small 100] [--big 5000] [--rtt-ms 20]
                               [--host-cap 12] [--replicas 1] [--clients 8] [--out artifacts/load.json]

One private Dovecot (store on tmpfs) behind the delaying proxy (``--rtt-ms``), the broker and Redis, and the
four services with a session cap on the server's host. First the small mailboxes alone (20–200 messages each,
every one to its own target), then again with the big one started first. By default (``--via project``) the
small mailboxes are the rows of two operator projects (one a phase), created from a CSV with each row's
passwords through the operator API with a key made by ``mailferry operator-key``, pre-flighted before the
measured part (its time reported apart) and started by one request each; ``--via posts`` starts each with its
own ``POST /api/v1/migrations`` instead (with intake's login checks). The big one is a single POST either way
(:mod:`tests.bench.load_phases`). Reported: every row checked message by message, the most sessions Dovecot's
own log shows open at once against the cap, aggregate messages/s against raw MULTIAPPEND (4 × 50) into the same
server measured in the same run, the p50/p95 completion time of the small mailboxes with and without the big
one, the p95 latency of the status endpoint (and of the project's row view) while it all runs, CPU seconds per
1,000 messages per service, and logins per migration.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from mailferry import stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.expected_folders import expected_for
from shared.credential_seal import generate_master_key
from tests.bench import baselines, load_costs, measure, profiling
from tests.bench import mailbox as mbox
from tests.bench.latency_proxy import LatencyProxy
from tests.bench.load_phases import Phase, Row
from tests.bench.load_project import Account, OperatorApi, operator_key, preflight_summary, rows_csv
from tests.servers import start_broker, start_redis
from tests.session_log import count, logins_by_user, wait_quiet

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Config:
    small: int = 100
    small_min: int = 20
    small_max: int = 200
    big: int = 5000
    rtt_ms: float = 20.0
    host_cap: int = 12
    replicas: int = 1
    clients: int = 8
    via: str = "project"  # the small mailboxes as an operator's project's rows, or "posts": one POST each
    preflight: bool = True  # the projects' pre-flight before the measured part (its time reported apart)
    profile: bool = False  # py-spy on the loader and the tracker during the phase with the big one
    out: Path = ROOT / "artifacts" / "load.json"


class Load:
    def __init__(self, cfg: Config, work: Path) -> None:
        self.cfg = cfg
        self.work = work
        self.passwords: dict[str, str] = {}
        self.dovecot: DovecotServer | None = None

    def account(self, name: str) -> str:
        login = f"{name}-{len(self.passwords)}@load.test"
        self.passwords[login] = "pw-" + secrets.token_urlsafe(10)
        assert self.dovecot is not None
        self.dovecot.add_user(login, self.passwords[login])
        return login

    def client(self, login: str) -> IMAPClient:
        assert self.dovecot is not None
        c = IMAPClient("127.0.0.1", port=self.dovecot.imap_port, ssl=False, timeout=300)
        c.login(login, self.passwords[login])
        return c

    def row(self, name: str, messages: int, seed: int) -> Row:
        src = self.account(f"{name}src")
        with self.client(src) as c:
            mbox.seed(c, mbox.plan(mbox.MailboxSpec(messages=messages, huge_bytes=0, seed=seed)))
        return Row(src, "", messages)

    def target_for(self, row: Row, name: str) -> Row:
        dst = self.account(f"{name}dst")
        with self.client(row.src) as a, self.client(dst) as b:
            expected = expected_for(a, b)
        return Row(row.src, dst, row.messages, expected=expected)

    def endpoint(self, login: str, port: int) -> dict[str, object]:
        return {"type": "imap", "host": "127.0.0.1", "port": port, "security": "none", "login": login,
                "password": self.passwords[login]}

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        report: dict[str, Any] = {"config": {k: str(v) for k, v in asdict(cfg).items()}}
        base = Path(tempfile.mkdtemp(prefix="mf-load-dovecot-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
        base.chmod(0o755)
        self.dovecot = DovecotServer(base, session_times=True)  # sessions counted by the server's own times
        self.dovecot.start()
        broker, redis = start_broker(self.work / "broker.log"), start_redis(self.work / "redis")
        proxy = LatencyProxy(self.dovecot.imap_port, cfg.rtt_ms)
        state = self.work / "stack"
        try:
            rng = random.Random(5)
            print(f"seeding {cfg.small} small mailboxes and one of {cfg.big} ...", flush=True)
            small = [self.row("small", rng.randint(cfg.small_min, cfg.small_max), i) for i in range(cfg.small)]
            big = self.row("big", cfg.big, 999)
            report["raw_multiappend"] = self.raw_limit(proxy.port, load_costs.CpuMeter(
                {"latency-proxy": proxy.proc.pid}, self.dovecot.pid))
            # Every target and its expected folders now: the harness's own sessions stay out of the measured log.
            alone = [self.target_for(r, "alone") for r in small]
            together = [self.target_for(r, "with") for r in small]
            big_row = self.target_for(big, "big")
            env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
            env.update({"MAILFERRY_KAFKA_BOOTSTRAP": broker.address, "MAILFERRY_REDIS_URL": redis.address,
                        "MAILFERRY_TOPIC_PREFIX": f"load{secrets.token_hex(3)}.", "MAILFERRY_TOPIC_PARTITIONS": "4",
                        "MAILFERRY_INTAKE_PORT": str(stack.free_port()), "MAILFERRY_ALLOW_HOSTS": "127.0.0.1",
                        "MAILFERRY_SECRET_KEY": generate_master_key("load1"),
                        "MAILFERRY_LOGIN_CHECKS_PER_MINUTE": "100000",
                        "MAILFERRY_HOST_SESSION_CAPS": f"127.0.0.1={cfg.host_cap}"})
            key, entry = operator_key("load-bench")  # as the README tells an operator to make one
            env["MAILFERRY_OPERATOR_KEYS"] = entry
            info = stack.up(state, env, replicas={"extractor": cfg.replicas, "loader": cfg.replicas}, timeout=120)
            for name, ports in info.http_ports.items():
                for p in ports if name != "intake" else []:
                    stack.wait_ready(f"http://127.0.0.1:{p}/readyz", 120)
            operator = OperatorApi(info.intake_url, key)
            projects: dict[str, str | None] = {"alone": None, "with": None}
            if cfg.via == "project":
                projects, report["preflight"] = self.projects(operator, {"alone": alone, "with": together},
                                                              proxy.port)
            phase = Phase(info.intake_url, lambda login: self.endpoint(login, proxy.port), cfg.clients, operator)
            wait_quiet(self.dovecot.log_path)  # the harness's sessions ended before the measured part of the log
            offset = self.dovecot.log_path.stat().st_size
            print("small mailboxes alone ...", flush=True)
            report["load_average"] = {"before": os.getloadavg()}  # 1, 5, 15 minutes: the machine's other load
            report["alone"] = phase.run(alone, None, projects["alone"])
            report["load_average"]["after_alone"] = os.getloadavg()
            print("small mailboxes with the big one ...", flush=True)
            pids = measure.service_pids(info.processes, stack.SERVICES)
            cpu0 = measure.cpu_snapshot(pids)
            meter = load_costs.CpuMeter({**pids, "broker": broker.proc.pid, "redis": redis.proc.pid,
                                         "latency-proxy": proxy.proc.pid}, self.dovecot.pid)
            spies = profiling.start_profilers(self.work, pids, ("loader", "tracker"),
                                              ("raw", "cpu")) if cfg.profile else []
            costs0 = meter.snapshot()
            with load_costs.CapSampler(redis.address, "127.0.0.1", cfg.host_cap) as cap_use:
                report["with_big"] = phase.run(together, big_row, projects["with"])
            report["load_average"]["after_with_big"] = os.getloadavg()
            operator.close()
            for spy in spies:
                profiling.stop_profiler(*spy)
            if spies:
                report["profile"] = {f"{name}{suffix}": profiling.summarise_profile(
                    self.work / f"profile-{name}{suffix}.txt") for name in ("loader", "tracker")
                    for suffix in ("", "-cpu")}
            moved = sum(r.messages for r in together) + big.messages
            report["costs_with_big"] = load_costs.costs(costs0, meter.snapshot(), moved,
                                                        report["with_big"]["elapsed_s"])
            report["session_cap_use_with_big"] = cap_use.result()
            report["cpu_s_per_1000_msgs"] = measure.cpu_per_1000(cpu0, measure.cpu_snapshot(pids), moved)
            report["stage_seconds"] = {  # where each worker's time went, both phases (its own stage metrics)
                f"{name}{'' if i == 0 else f'-{i}'}": measure.stage_seconds(measure.scrape(p))
                for name, ports in info.http_ports.items() if name != "intake" for i, p in enumerate(ports)}
            end = self.dovecot.log_path.stat().st_size  # before the check's own sessions
            seen = count(self.dovecot.log_path, offset, end)
            report["sessions"] = {"cap": cfg.host_cap, "most_open_at_once": seen.peak.count,
                                  "most_open_at_once_without_login_checks": seen.peak_without_checks.count,
                                  "logins": seen.sessions, "begun_before": seen.without_start,
                                  "open_at_the_end": seen.without_end, "log_bytes": [offset, end],
                                  "closest_handover_ms": None if seen.closest_handover is None
                                  else round(seen.closest_handover * 1000, 2),
                                  "peak_at": None if seen.peak.at is None
                                  else datetime.fromtimestamp(seen.peak.at).isoformat(timespec="microseconds"),
                                  "logins_per_migration": logins_per_migration(
                                      logins_by_user(self.dovecot.log_path, offset, end), 2 * cfg.small + 1)}
            print("checking every row message by message ...", flush=True)
            report["exact"] = self.check([*alone, *together, big_row])
        finally:
            stack.down(state)
            proxy.stop()
            broker.stop()
            redis.stop()
            if self.dovecot.log_path.exists():  # kept: the sessions can be read again after the run
                shutil.copy(self.dovecot.log_path, self.work / "dovecot.log")
            self.dovecot.destroy()
            shutil.rmtree(base, ignore_errors=True)
        report["targets"] = targets(report)
        return report

    def projects(self, operator: OperatorApi, rows: dict[str, list[Row]], port: int
                 ) -> tuple[dict[str, str | None], dict[str, Any]]:
        """One project a phase, created from its CSV; then (``--preflight``) each project's pre-flight, timed, with
        the sessions it opened counted from Dovecot's log: all before the measured part."""
        assert self.dovecot is not None
        pids: dict[str, str | None] = {}
        for name, phase_rows in rows.items():
            pairs = [(Account(r.src, self.passwords[r.src]), Account(r.dst, self.passwords[r.dst])) for r in phase_rows]
            pids[name] = operator.create(f"load {name}", rows_csv(pairs, "127.0.0.1", port), len(phase_rows))
        found: dict[str, Any] = {"done": self.cfg.preflight}
        if not self.cfg.preflight:
            return pids, found
        wait_quiet(self.dovecot.log_path)
        offset = self.dovecot.log_path.stat().st_size
        for name, phase_rows in rows.items():
            pid = pids[name]
            assert pid is not None
            print(f"pre-flight of project {name} ...", flush=True)
            table, seconds = operator.preflight(pid)
            found[name] = preflight_summary(table, {r.src: r.messages for r in phase_rows}, seconds)
        wait_quiet(self.dovecot.log_path)
        end = self.dovecot.log_path.stat().st_size
        seen = count(self.dovecot.log_path, offset, end)
        found["sessions"] = {"cap": self.cfg.host_cap, "most_open_at_once": seen.peak.count, "logins": seen.sessions}
        return pids, found

    def raw_limit(self, port: int, meter: load_costs.CpuMeter) -> dict[str, Any]:
        dst = self.account("raw")
        layout = mbox.plan(mbox.MailboxSpec(messages=self.cfg.big, huge_bytes=0, seed=999))
        got: list[baselines.LineResult] = []

        def copy() -> int:
            got.append(baselines.raw_append("127.0.0.1", port, dst, self.passwords[dst], layout))
            return got[0].messages

        cost = load_costs.measured(meter, copy)  # its client's CPU is the harness's
        res = got[0]
        return {"messages": res.messages, "seconds": round(res.seconds, 2),
                "msgs_per_s": round(res.messages / res.seconds, 1), "costs": cost}

    def check(self, rows: list[Row]) -> dict[str, Any]:
        bad = []
        for r in rows:
            assert r.expected is not None
            with self.client(r.src) as a, self.client(r.dst) as b:
                result = verify.compare(a, b, r.expected)
            if not (result.identical and result.messages == r.messages and r.state == "completed"):
                bad.append({"source": r.src, "state": r.state, "problems": result.problems()[:5]})
        return {"rows": len(rows), "exact": len(rows) - len(bad), "not_exact": bad}


def logins_per_migration(by_user: dict[str, tuple[int, int]], migrations: int) -> dict[str, float]:
    """Sessions Dovecot saw per migration: the extractor's (source accounts), the loader's (targets), and
    intake's login checks (both sides; sessions that sent nothing but LOGOUT)."""
    src = sum(work for user, (work, _) in by_user.items() if user.split("-")[0].endswith("src"))
    dst = sum(work for user, (work, _) in by_user.items() if user.split("-")[0].endswith("dst"))
    checks = sum(c for _, c in by_user.values())
    return {"extractor": round(src / migrations, 2), "loader": round(dst / migrations, 2),
            "intake_checks": round(checks / migrations, 2)}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    with_big, alone = report["with_big"], report["alone"]
    raw = report["raw_multiappend"]["msgs_per_s"]
    out = [
        ("aggregate ≥ 60 % of raw MULTIAPPEND", with_big["aggregate_msgs_per_s"] / raw if raw else None, 0.6, True),
        ("small p95 with the big one ≤ 1.5× without", with_big["small_p95_s"] / alone["small_p95_s"]
         if alone["small_p95_s"] else None, 1.5, False),
        ("status p95 < 100 ms", with_big["status_p95_ms"], 100.0, False),
        *([("project row view p95 < 100 ms", with_big["project_view_p95_ms"], 100.0, False)]
          if with_big.get("project_view_p95_ms") is not None else []),
        ("sessions at once ≤ the host cap (intake's login checks included)",
         report["sessions"]["most_open_at_once"], report["sessions"]["cap"], False),
        ("every row exact", report["exact"]["exact"] / max(1, report["exact"]["rows"]), 1.0, True),
    ]
    return [{"target": what, "measured": None if got is None else round(got, 2),
             "met": None if got is None else (got >= want if at_least else got <= want)}
            for what, got, want, at_least in out]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m tests.bench.load", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--via", choices=("project", "posts"), default="project",
                   help="start the small mailboxes as an operator project's rows (default) or by one POST each")
    p.add_argument("--preflight", action=argparse.BooleanOptionalAction, default=True,
                   help="run the projects' pre-flight before the measured part (--via project)")
    p.add_argument("--small", type=int, default=100)
    p.add_argument("--big", type=int, default=5000)
    p.add_argument("--rtt-ms", type=float, default=20.0)
    p.add_argument("--host-cap", type=int, default=12)
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--clients", type=int, default=8, help="threads sending the POSTs (1: one after another)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy on the loader and the tracker during the phase with the big one (load-work/profile-*)")
    p.add_argument("--out", default=str(ROOT / "artifacts" / "load.json"))
    a = p.parse_args(argv)
    cfg = Config(small=a.small, big=a.big, rtt_ms=a.rtt_ms, host_cap=a.host_cap, replicas=a.replicas,
                 clients=a.clients, via=a.via, preflight=a.preflight, profile=a.profile, out=Path(a.out))
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    work = cfg.out.parent / "load-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    report = Load(cfg, work).run()
    cfg.out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print(json.dumps({k: report[k] for k in ("raw_multiappend", "preflight", "alone", "with_big", "sessions", "exact",
                                             "cpu_s_per_1000_msgs", "costs_with_big", "load_average")
                      if k in report}, indent=1, ensure_ascii=False))
    use = report["session_cap_use_with_big"]
    print(json.dumps({k: v for k, v in use.items() if k != "per_second"}, ensure_ascii=False))
    for t in report["targets"]:
        print(f"  {t['target']}: {t['measured']} — {'met' if t['met'] else 'NOT met'}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
