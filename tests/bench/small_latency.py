"""How long a small mailbox takes from POST to ``completed``, stage by stage (issue 18: ≤ 0.4 s at 20 ms RTT).

    python -m tests.bench.small_latency [--messages 50] [--rtt-ms 20] [--stacks 3] [--per-stack 2]
                                        [--out artifacts/small-latency.json] [--env MAILFERRY_X=Y ...]

The benchmark's own parts (``tests/bench/run.py``): the broker and Redis, a private Dovecot on tmpfs with the
benchmark's deterministic mailbox (no huge message), the delaying proxy in front of it for source and target
alike, and the whole stack (one extractor, one loader) driven through the REST API. Each of ``--stacks`` fresh
stacks copies the mailbox ``--per-stack`` times into new target accounts: the first copy is the first migration
after ``up`` (as ``make bench`` measures it), the later ones meet warm services. Every copy is checked message by
message against the source.

Where the time goes is read from the records themselves: every record a service produced for the migration
carries its producer's timestamp (ms), so the request, the plan's events, the first and last message, the
loader's results and the tracker's final snapshot are placed on one clock with the POST. ``completed`` is when
the status in Redis said so (polled every 5 ms, what a status read would answer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from confluent_kafka import Consumer, KafkaError, TopicPartition

from mailferry import stack
from mailferry.follow import FINAL
from shared import redis_keys, topics
from shared.events import ExtractTask, FolderItem, ItemResults, MailChunk, MailItem, decode
from shared.migration_records import SPEC, STATUS
from tests.bench import measure
from tests.bench.latency_proxy import LatencyProxy
from tests.bench.machine import measure_rtt
from tests.bench.run import ROOT, Bench, Config, drop_topics

#: The stages in the order they happen, each with what marks it.
STAGES = {
    "checked": "intake's first record of the migration (both logins checked)",
    "requested": "intake's migrations.requested record",
    "accepted": "intake answered 202 (the request recorded and queued)",
    "plan_start": "the extractor took the request (MigrationValidating)",
    "source_login": "the extractor logged in to the source (OperationStarted)",
    "folders": "the first folder event (after LIST)",
    "planned": "OperationPlanned (every folder listed)",
    "tasks": "the first extract task published",
    "first_item": "the first message on items",
    "last_item": "the last message on items",
    "folders_created": "the loader's first folder result (logged in, folders created)",
    "first_loaded": "the loader's first message result",
    "last_loaded": "the loader's last message result",
    "completed_record": "the tracker's snapshot saying completed",
    "completed": "the status in Redis says completed",
}
READ_TOPICS = (topics.MIGRATIONS_REQUESTED, topics.PROGRESS, topics.ITEMS, topics.EXTRACT_TASKS,
               topics.MIGRATIONS_RECORD)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench.small_latency", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=50)
    p.add_argument("--rtt-ms", type=float, default=20.0)
    p.add_argument("--stacks", type=int, default=3, help="fresh stacks, one after another (default 3)")
    p.add_argument("--per-stack", type=int, default=2, help="copies per stack; the first is cold (default 2)")
    p.add_argument("--out", default=str(ROOT / "artifacts" / "small-latency.json"))
    p.add_argument("--env", action="append", default=[], metavar="MAILFERRY_X=VALUE")
    p.add_argument("--env-b", action="append", default=[], metavar="MAILFERRY_X=VALUE",
                   help="settings of every second stack (an A/B comparison taking turns, as the load changes)")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--target-host", default="127.0.0.1",
                   help="the target's host name: 'localhost' makes it another server as mailferry sees it (the "
                        "loader logs in ahead, as it does where source and target are two servers)")
    return p.parse_args(argv)


def record_times(bootstrap: str, prefix: str, mid: str, t0: float) -> dict[str, float]:
    """Each stage's time in ms after ``t0`` (epoch seconds), from the producers' timestamps of the migration's
    records on the topics it crossed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"small-latency-{mid[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        parts = []
        for spec in READ_TOPICS:
            name = spec.full_name(prefix)
            meta = consumer.list_topics(name, timeout=10).topics[name]
            parts += [TopicPartition(name, p, 0) for p in meta.partitions]
        consumer.assign(parts)
        pending = {(p.topic, p.partition) for p in parts}
        seen: dict[str, list[float]] = {}
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard((str(msg.topic()), int(msg.partition() or 0)))
                continue
            at = (msg.timestamp()[1] / 1000.0 - t0) * 1000.0
            for stage in _stages_of(str(msg.topic()), prefix, (msg.key() or b"").decode(), msg.value(), mid):
                seen.setdefault(stage, []).append(at)
    finally:
        consumer.close()
    out: dict[str, float] = {}
    for stage, times in seen.items():
        out[stage] = round(max(times) if stage.startswith("last_") else min(times), 1)
    return out


def _stages_of(topic: str, prefix: str, key: str, value: bytes | None, mid: str) -> list[str]:
    """The stages one record marks (none if it is another migration's)."""
    if topic == topics.MIGRATIONS_RECORD.full_name(prefix):
        if key.startswith(f"{STATUS}{mid}:tracker") and value and b'"state":"completed"' in value:
            return ["completed_record"]
        return ["checked"] if key == f"{SPEC}{mid}" else []
    if not value:
        return []
    try:
        ev = decode(value)
    except Exception:
        return []
    if ev.migration_id != mid:
        return []
    name = type(ev).__name__
    if name == "MigrationRequested":
        return ["requested"]
    if name == "MigrationValidating":
        return ["plan_start"]
    if name == "OperationStarted":
        return ["source_login"]
    if name == "OperationPlanned":
        return ["planned"]
    if isinstance(ev, ExtractTask):
        return ["tasks"]
    if isinstance(ev, FolderItem):
        return ["folders"]
    if isinstance(ev, MailItem) or (isinstance(ev, MailChunk) and ev.last):
        return ["first_item", "last_item"]
    if isinstance(ev, ItemResults):
        done = {r.item_type for r in ev.results if r.result == "done"}
        return (["folders_created"] if "folder" in done else []) + \
            (["first_loaded", "last_loaded"] if "email" in done else [])
    return []


def wait_completed(r: redis.Redis, mid: str, t0: float, timeout: float = 120.0) -> tuple[str, float]:
    """The final state and when Redis first showed it (ms after ``t0``), polled every 5 ms."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        raw = r.hget(redis_keys.migration(mid), "state")
        state = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        if state in FINAL:
            return state, round((time.time() - t0) * 1000.0, 1)
        time.sleep(0.005)
    return state, float("nan")


def stage_deltas(before: dict[str, list[measure.Metric]], after: dict[str, list[measure.Metric]]
                 ) -> dict[str, dict[str, float]]:
    """``mailferry_stage_seconds`` per service and stage for one copy (sum in ms, count)."""
    out: dict[str, dict[str, float]] = {}
    for service, metrics in after.items():
        now, then = measure.stage_seconds(metrics), measure.stage_seconds(before.get(service, []))
        for stage, v in now.items():
            count = v.get("count", 0) - then.get(stage, {}).get("count", 0)
            if count:
                ms = 1000 * (v.get("seconds", 0.0) - then.get(stage, {}).get("seconds", 0.0))
                out.setdefault(service, {})[stage] = round(ms, 1)
    return out


def scrape_all(info: stack.StackInfo) -> dict[str, list[measure.Metric]]:
    return {name: measure.scrape(ports[0]) for name, ports in info.http_ports.items()
            if name != "intake" and ports}


def one_copy(bench: Bench, info: stack.StackInfo, env: dict[str, str], port: int, r: redis.Redis,
             target_host: str) -> dict[str, Any]:
    dst = bench.target("lat")
    load = _loadavg()
    before = scrape_all(info)
    body = {"source": bench._endpoint(bench.src, port), "target": {**bench._endpoint(dst, port), "host": target_host},
            "options": ["emails"]}
    with httpx.Client(base_url=info.intake_url, timeout=120) as http:  # connected before the clock starts, as a
        http.get("/healthz")  # browser's page is: a new client's set-up (its TLS context) is not intake's time
        t0 = time.time()
        resp = http.post("/api/v1/migrations", json=body)
    accepted = round((time.time() - t0) * 1000.0, 1)
    if resp.status_code != 202:
        raise RuntimeError(f"POST answered {resp.status_code}: {resp.text[:300]}")
    mid = str(resp.json()["id"])
    state, completed = wait_completed(r, mid, t0)
    times = record_times(env["MAILFERRY_KAFKA_BOOTSTRAP"], env["MAILFERRY_TOPIC_PREFIX"], mid, t0)
    times.update(accepted=accepted, completed=completed)
    check = bench.check(dst)
    bench.drop_account(dst)
    return {"state": state, "load_average": load, "ms": {s: times[s] for s in STAGES if s in times},
            "stages_ms": stage_deltas(before, scrape_all(info)), "identical": check.get("identical"),
            "messages_checked": check.get("messages_checked")}


def one_stack(bench: Bench, n: int, port: int, per_stack: int, extra_env: dict[str, str],
              target_host: str) -> list[dict[str, Any]]:
    tag = f"lat{n}"
    state_dir = bench.work / f"stack-{tag}"
    env = {**bench._mailferry_env(tag), **extra_env}
    info = stack.up(state_dir, env, replicas={"extractor": 1, "loader": 1}, timeout=90)
    runs: list[dict[str, Any]] = []
    r = redis.Redis.from_url(env["MAILFERRY_REDIS_URL"])
    try:
        for name, ports in info.http_ports.items():
            for p in ports if name != "intake" else []:
                if not stack.wait_ready(f"http://127.0.0.1:{p}/readyz", 120):
                    raise RuntimeError(f"{name} did not become ready; see {state_dir}/logs")
        for i in range(per_stack):
            run = one_copy(bench, info, env, port, r, target_host)
            run.update(stack=n, copy=i, cold=i == 0)
            runs.append(run)
            print(f"  stack {n} copy {i} ({'cold' if i == 0 else 'warm'}): {run['state']} "
                  f"in {run['ms'].get('completed')} ms, identical={run['identical']}", flush=True)
            time.sleep(1.0)
    finally:
        r.close()
        stack.down(state_dir)
        drop_topics(env["MAILFERRY_KAFKA_BOOTSTRAP"], env["MAILFERRY_TOPIC_PREFIX"])
        bench._forget_leases()
    return runs


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per stage, the median ms after the POST over the cold and over the warm copies."""
    out: dict[str, dict[str, float]] = {}
    for kind, chosen in (("cold", [r for r in runs if r["cold"]]), ("warm", [r for r in runs if not r["cold"]])):
        for stage in STAGES:
            values = [r["ms"][stage] for r in chosen if stage in r["ms"]]
            if values:
                out.setdefault(stage, {})[kind] = round(statistics.median(values), 1)
    return out


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| stage (ms after POST) | " + " | ".join(
        f"{r.get('variant', '')}s{r['stack']}c{r['copy']}{'*' if r['cold'] else ''}" for r in runs) + " |",
             "|---|" + "---|" * len(runs)]
    for stage in STAGES:
        lines.append(f"| {stage} | " + " | ".join(str(r["ms"].get(stage, "—")) for r in runs) + " |")
    lines.append("(* the first copy after `up`)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    extra = dict(item.partition("=")[::2] for item in a.env)
    extra_b = {**extra, **dict(item.partition("=")[::2] for item in a.env_b)}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / "small-latency-work"
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(Config(messages=a.messages, huge_mb=0.0, rtts=[a.rtt_ms], stores=("tmpfs",), seed=a.seed), work)
    report: dict[str, Any] = {"messages": a.messages, "rtt_ms": a.rtt_ms, "env": extra, "stages": STAGES,
                              "target_host": a.target_host}
    if a.env_b:
        report["env_b"] = extra_b
    runs: list[dict[str, Any]] = []
    with bench.servers(), bench.dovecot_on("tmpfs"):
        report["mailbox"] = bench.seed()
        assert bench.dovecot is not None
        proxy = LatencyProxy(bench.dovecot.imap_port, a.rtt_ms) if a.rtt_ms > 0 else None
        port = proxy.port if proxy else bench.dovecot.imap_port
        try:
            report["rtt_measured_ms"] = round(measure_rtt(port), 2)
            for n in range(a.stacks):
                b = bool(a.env_b) and n % 2 == 1
                for run in one_stack(bench, n, port, a.per_stack, extra_b if b else extra, a.target_host):
                    runs.append({**run, "variant": "B" if b else "A"})
        finally:
            if proxy is not None:
                proxy.stop()
    report.update(runs=runs, summary=summary(runs), load_average=list(_loadavg()))
    if a.env_b:
        report["summary_b"] = summary([r for r in runs if r["variant"] == "B"])
        report["summary"] = summary([r for r in runs if r["variant"] == "A"])
    out.write_text(json.dumps(report, indent=2))
    print(table(runs))
    for name in ("summary", "summary_b"):
        if name in report:
            print(name, {stage: v for stage, v in report[name].items() if stage in ("accepted", "folders",
                                                                                 "first_item", "completed")})
    print(f"JSON: {out}")
    return report


def _loadavg() -> tuple[float, float, float]:
    with open("/proc/loadavg") as fh:
        a, b, c = fh.read().split()[:3]
    return float(a), float(b), float(c)


def cli() -> int:
    report = main(sys.argv[1:])
    bad = [r for r in report["runs"] if r["state"] != "completed" or not r["identical"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(cli())
