"""``make chaos``: one migration of 5,000+ messages per fault, checked message by message.

The stack runs as separate processes against a real broker, Redis and Dovecot, with a fault-injecting TCP
proxy (``fault_proxy.py``) in front of the broker (advertised to every client, so all broker traffic passes
it), the source and the target. Each run copies the same seeded source into a fresh target account while
one kind of fault strikes at random moments (chosen by progress: a random share of the messages done), then
checks with ``mailferry.verify`` (imapclient, none of mailferry's adapters) that every message is on the
target exactly once (lost = missing, duplicated = extra), that the status says ``completed`` and counts every
message. Then the migration is undone, and the target must hold exactly what it held besides (nothing, or
another migration's copies), message by message. Results go to ``artifacts/chaos/results.json`` and a
Markdown table on stdout.

Faults are registered in :data:`FAULTS` (name → what, function, :class:`Expect`); ``--faults`` chooses.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis as redis_lib
from imapclient import IMAPClient

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.follow import FINAL
from tests.chaos.fault_proxy import FaultProxy
from tests.conftest import stack_env
from tests.e2e.flows import DEMO_TREE, same_names
from tests.servers import Process, start_broker, start_redis

ROOT = Path(__file__).resolve().parents[2]
SECOND_FOLDERS = ("INBOX", "Other", "Other/Deeper")  # the second source's: only INBOX shared with the first
PASSWORD = "pw-chaos-" + secrets.token_hex(4)


@dataclass(frozen=True)
class Expect:
    """What a fault's run must end with, besides every message once: ``quota_share`` < 1 gives the target a
    quota of that share of the mailbox's size (the rest is refused ``NO [OVERQUOTA]``: reported per item,
    ``completed_with_errors``); ``delta`` asks for a delta pass after the run (it must copy nothing)."""

    quota_share: float = 1.0
    delta: bool = False


@dataclass
class Rig:
    """Everything a run needs: the servers, the proxies, the stack and the seeded source."""

    dovecot: DovecotServer
    broker: Process
    broker_proxy: FaultProxy
    redis: Process
    source_proxy: FaultProxy
    target_proxy: FaultProxy
    info: stack.StackInfo
    logs: Path
    source: str
    messages: int
    rng: random.Random
    size: int = 0  # the source's messages' bytes
    second_source: str = ""  # another account, other folders: a second migration into the same target
    second_messages: int = 0
    runs: int = 0

    def endpoint(self, login: str, proxy: FaultProxy) -> dict[str, object]:
        return {"type": "imap", "host": "127.0.0.1", "port": proxy.port, "security": "none", "login": login,
                "password": PASSWORD}

    def client(self, login: str) -> IMAPClient:
        c = IMAPClient(self.dovecot.host, port=self.dovecot.imap_port, ssl=False, timeout=300)
        c.login(login, PASSWORD)
        return c

    def new_account(self, name: str, quota_kib: int = 0) -> str:
        self.runs += 1
        login = f"{name}-{self.runs}-{secrets.token_hex(3)}@example.test"
        self.dovecot.add_user(login, PASSWORD, quota_kib=quota_kib)
        return login


@dataclass
class Progress:
    """The run's migration as the runner sees it, polled in the background (intake may be down meanwhile)."""

    rig: Rig
    mid: str
    target: str = ""
    done: int = 0
    state: str = "queued"
    last: dict[str, Any] = field(default_factory=dict)
    others: list[Progress] = field(default_factory=list)  # other migrations into the same target
    source: str = ""  # the source login, when not the rig's

    def poll(self) -> None:
        try:
            resp = httpx.get(f"{self.rig.info.intake_url}/api/v1/migrations/{self.mid}",
                             params={"login": self.source or self.rig.source}, timeout=10)
        except httpx.HTTPError:
            return
        if resp.status_code == 200:
            self.last = resp.json()
            self.state = self.last["state"]
            self.done = int(self.last["items"].get("emails", {}).get("done", 0))

    last_strike: float = 0.0

    def wait_share(self, share: float, timeout: float = 600, gap: float = 1.0) -> bool:
        """Until ``share`` of the messages are done and ``gap`` seconds have passed since the last strike;
        False if the migration ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if self.state in FINAL:
                return False
            if self.done >= share * self.rig.messages and time.monotonic() - self.last_strike >= gap:
                self.last_strike = time.monotonic()
                return True
            time.sleep(0.05)
        return False

    def wait_final(self, timeout: float = 900) -> str:
        """Until a final state (or ``timeout``); the state."""
        deadline = time.monotonic() + timeout
        while self.state not in FINAL and time.monotonic() < deadline:
            self.poll()
            time.sleep(0.25)
        return self.state

    def wait_seconds(self, seconds: float) -> bool:
        """Sleep ``seconds``; False if the migration ended meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
            if self.state in FINAL:
                return False
            time.sleep(0.05)
        return True


Fault = Callable[[Rig, Progress], list[str]]
FAULTS: dict[str, tuple[str, Fault, Expect]] = {}


def register(name: str, what: str, expect: Expect | None = None) -> Callable[[Fault], Fault]:
    """Add a fault: ``fn(rig, progress)`` strikes during the run (and may strike after its end, once
    ``progress`` is final) and returns what it did, one line each."""
    def add(fn: Fault) -> Fault:
        FAULTS[name] = (what, fn, expect or Expect())
        return fn
    return add


def moments(rng: random.Random, n: int) -> list[float]:
    return sorted(rng.uniform(0.03, 0.9) for _ in range(n))


def restart(rig: Rig, name: str) -> None:
    """SIGKILL the service's first process and start a new one in its place."""
    pid = rig.info.processes[name].pop(0)
    rig.info.http_ports[name].pop(0)
    os.kill(pid, signal.SIGKILL)
    with_timeout = time.monotonic() + 10
    while stack.alive(pid) and time.monotonic() < with_timeout:
        time.sleep(0.02)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    stack.start_service(rig.info, name, rig.logs)


def revive(rig: Rig) -> list[str]:
    """Start again every service process that is gone without a fault's doing: on a machine shared with
    other stacks, a free port handed to a service can be taken by another process before it binds it (it
    then exits at once, and the run would wait for a worker that is not there)."""
    started = []
    for name, pids in rig.info.processes.items():
        for i, pid in reversed(list(enumerate(pids))):
            if not stack.alive(pid):
                pids.pop(i)
                rig.info.http_ports[name].pop(i)
                stack.start_service(rig.info, name, rig.logs)
                started.append(name)
    return started


@register("kill-workers", "SIGKILL of each service kind (extractor, loader, tracker, intake) at random moments, "
                          "twice each, each restarted")
def kill_workers(rig: Rig, progress: Progress) -> list[str]:
    kinds = ["extractor", "loader", "tracker", "intake"] * 2
    rig.rng.shuffle(kinds)
    done = []
    for share, name in zip(moments(rig.rng, len(kinds)), kinds, strict=True):
        if not progress.wait_share(share):
            break
        restart(rig, name)
        done.append(f"killed {name} at {progress.done} done")
        time.sleep(1)
        done += [f"{again} started again (its port was taken)" for again in revive(rig)]
    return done


@register("broker-unreachable-30s", "the broker unreachable for 30 s mid-run (every connection dropped, new ones "
                                    "refused, through the proxy)")
def broker_unreachable(rig: Rig, progress: Progress) -> list[str]:
    if not progress.wait_share(rig.rng.uniform(0.1, 0.4)):
        return []
    dropped = rig.broker_proxy.unreachable(30)
    at = progress.done
    time.sleep(30)
    return [f"broker unreachable 30 s from {at} done ({dropped} connections dropped)"]


def drops(rig: Rig, progress: Progress, proxy: FaultProxy, side: str, within: float) -> list[str]:
    """Six strikes at random times in the first ``within`` seconds (the source is read early, the target
    written throughout), each counted only if connections were open."""
    done = []
    delays = sorted(rig.rng.uniform(0.1, within) for _ in range(6))
    t0 = time.monotonic()
    for at in delays:
        if not progress.wait_seconds(max(0.0, t0 + at - time.monotonic())):
            break
        if rig.rng.random() < 0.25:
            proxy.stall(rig.rng.uniform(3, 8))
            done.append(f"{side} stalled at {progress.done} done")
        else:
            done.append(f"{side}: {proxy.cut()} connections dropped at {progress.done} done")
    return done


@register("source-drops", "the source's connections dropped (mid-FETCH) or stalled 3–8 s, six times, through "
                          "the proxy")
def source_drops(rig: Rig, progress: Progress) -> list[str]:
    return drops(rig, progress, rig.source_proxy, "source", within=3.0)


@register("target-drops", "the target's connections dropped (mid-APPEND) or stalled 3–8 s, six times, through "
                          "the proxy")
def target_drops(rig: Rig, progress: Progress) -> list[str]:
    return drops(rig, progress, rig.target_proxy, "target", within=8.0)


@register("submitted-twice", "the same migration submitted a second time while the first has just started")
def submitted_twice(rig: Rig, progress: Progress) -> list[str]:
    second = Progress(rig, post(rig, progress.target))
    progress.others.append(second)
    second.wait_final()
    skipped = second.last.get("items", {}).get("emails", {}).get("skipped", 0)
    return [f"second migration {second.state}, {second.done} done, {skipped} skipped"]


@register("two-into-one-target", "a second migration from another account (other folders) into the same "
                                 "target account, started at the same moment")
def two_into_one_target(rig: Rig, progress: Progress) -> list[str]:
    second = Progress(rig, post(rig, progress.target, source=rig.second_source), source=rig.second_source)
    progress.others.append(second)
    second.wait_final()
    return [f"second migration ({rig.second_messages:,} messages) {second.state}, {second.done} done"]


def flush_redis(rig: Rig) -> str:
    redis_lib.Redis.from_url(rig.redis.address).flushall()
    return "FLUSHALL"


def redis_restarted_empty(rig: Rig) -> str:
    """SIGKILL, then the same redis-server (no persistence) started again on its port: empty."""
    rig.redis.proc.kill()
    rig.redis.proc.wait(10)
    rig.redis.start_again()
    return "redis-server killed and started empty"


def redis_faults(rig: Rig, progress: Progress, strike: Callable[[Rig], str]) -> list[str]:
    """Twice at random moments of the run, then once after its end (the delta pass and undo follow)."""
    done = []
    for share in moments(rig.rng, 2):
        if not progress.wait_share(share, gap=3.0):
            break
        done.append(f"{strike(rig)} at {progress.done} done")
    progress.wait_final()
    done.append(f"{strike(rig)} after the end ({progress.state})")
    return done


@register("redis-flushed", "Redis flushed (FLUSHALL) twice at random moments and once after the end",
          Expect(delta=True))
def redis_flushed(rig: Rig, progress: Progress) -> list[str]:
    return redis_faults(rig, progress, flush_redis)


@register("redis-restarted-empty", "redis-server SIGKILLed and started again without its data, twice at random "
                                   "moments and once after the end", Expect(delta=True))
def redis_restarted(rig: Rig, progress: Progress) -> list[str]:
    return redis_faults(rig, progress, redis_restarted_empty)


def answers(rig: Rig, progress: Progress, proxy: FaultProxy, verb: str, times: int, chance: float) -> list[str]:
    """The proxy answers ``times`` of the ``verb`` commands in the server's place, NO or BYE at random."""
    proxy.injected.clear()
    proxy.inject(("no", "bye"), (verb,), times=times, chance=chance, rng=rig.rng)
    progress.wait_final()
    proxy.inject((), (), times=0, chance=0, rng=rig.rng)
    return list(proxy.injected)


@register("source-no-bye", "the source answering FETCHes with a tagged NO [UNAVAILABLE] or an untagged BYE and "
                           "a closed connection, 8 times (through the proxy, in the server's place)")
def source_no_bye(rig: Rig, progress: Progress) -> list[str]:
    return answers(rig, progress, rig.source_proxy, "FETCH", times=8, chance=0.3)


@register("target-no-bye", "the target answering APPENDs with a tagged NO [UNAVAILABLE] or an untagged BYE and "
                           "a closed connection, 8 times (through the proxy, in the server's place)")
def target_no_bye(rig: Rig, progress: Progress) -> list[str]:
    return answers(rig, progress, rig.target_proxy, "APPEND", times=8, chance=0.05)


@register("target-over-quota", "the target's quota 60 % of the mailbox's size: APPEND answered NO [OVERQUOTA] "
                               "once it is full", Expect(quota_share=0.6))
def target_over_quota(rig: Rig, progress: Progress) -> list[str]:
    progress.wait_final()
    return []


def post(rig: Rig, target: str, timeout: float = 120, source: str = "") -> str:
    body = {"source": rig.endpoint(source or rig.source, rig.source_proxy),
            "target": rig.endpoint(target, rig.target_proxy), "options": ["emails"]}
    deadline = time.monotonic() + timeout
    while True:
        try:
            resp = httpx.post(f"{rig.info.intake_url}/api/v1/migrations", json=body, timeout=120)
            if resp.status_code == 202:
                return str(resp.json()["id"])
            last = resp.text
        except httpx.HTTPError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the migration was not accepted: {last}")
        time.sleep(1)


def everything(rig: Rig, login: str) -> Counter[verify.Fingerprint]:
    """Every message of the account, all folders together."""
    with rig.client(login) as c:
        return sum(verify.snapshot(c).values(), Counter())


def undo(rig: Rig, progress: Progress, timeout: float = 900) -> dict[str, Any]:
    """Undo the run's migration; what it removed and what the target holds afterwards."""
    url = f"{rig.info.intake_url}/api/v1/migrations/{progress.mid}/undo"
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.post(url, json={"login": rig.source, "target_password": PASSWORD}, timeout=60)
        if resp.status_code == 202 or time.monotonic() > deadline:
            break
        time.sleep(1)
    if resp.status_code != 202:
        return {"state": f"refused: {resp.status_code} {resp.text[:200]}", "removed": -1}
    while time.monotonic() < deadline:
        progress.poll()
        if progress.state in ("undone", "undo_failed"):
            break
        time.sleep(0.5)
    return {"state": progress.state, "removed": int((progress.last.get("undo") or {}).get("removed_messages", -1))}


def delta_pass(rig: Rig, target: str) -> dict[str, Any]:
    again = Progress(rig, post(rig, target), target)
    again.wait_final()
    emails = again.last.get("items", {}).get("emails", {})
    return {"state": again.state, "done": int(emails.get("done", -1)), "skipped": int(emails.get("skipped", 0))}


def report_failures(rig: Rig, progress: Progress) -> list[str]:
    rows = httpx.get(f"{rig.info.intake_url}/api/v1/migrations/{progress.mid}/report",
                     params={"login": rig.source}, timeout=60).json()["items"]
    return [str(r.get("reason", "")) for r in rows if r.get("result") == "failed"]


def run_fault(rig: Rig, name: str, final_timeout: float) -> dict[str, Any]:
    what, fault, expect = FAULTS[name]
    revived = revive(rig)
    if revived:
        print(f"started again before {name}: {revived} (gone at start: port taken)", flush=True)
        time.sleep(10)  # until they are assigned partitions
    quota = int(rig.size * expect.quota_share / 1024) if expect.quota_share < 1 else 0
    target = rig.new_account("chaos-dst", quota_kib=quota)
    t0 = time.monotonic()
    progress = Progress(rig, post(rig, target), target)
    actions: list[str] = []
    striking = threading.Thread(target=lambda: actions.extend(fault(rig, progress)), daemon=True)
    striking.start()
    progress.wait_final(final_timeout)
    striking.join(900)
    seconds = time.monotonic() - t0
    progress.poll()
    others = {o.source or rig.source for o in progress.others}
    with rig.client(rig.source) as a, rig.client(target) as b:
        before = {}
        if rig.second_source in others:  # the other migration's folders and messages count as held besides
            with rig.client(rig.second_source) as c:
                before = verify.snapshot(c)
        result = verify.compare(a, b, same_names(*DEMO_TREE), before=before)
    lost = sum(f.missing for f in result.folders)
    duplicated = sum(f.extra for f in result.folders)
    emails = progress.last.get("items", {}).get("emails", {})
    done, skipped = int(emails.get("done", -1)), int(emails.get("skipped", 0))
    failed = int(emails.get("failed", 0))
    refusals = report_failures(rig, progress) if failed else []
    # Every message counted: copied, skipped as already there (a second run of the same migration), or, over
    # quota, refused and reported with the server's words (and then missing on the target, nothing else).
    if quota:
        ok = (progress.state == "completed_with_errors" and done + failed == rig.messages and failed > 0
              and lost == failed and duplicated == 0 and not result.missing_folders and not result.extra_folders
              and len(refusals) == failed and all("OVERQUOTA" in r for r in refusals))
    else:
        ok = (result.identical and progress.state == "completed" and done + skipped == rig.messages
              and lost == 0 and duplicated == 0)
    ok = ok and all(o.state == "completed" for o in progress.others)
    out: dict[str, Any] = {
        "fault": name, "what": what, "state": progress.state, "done": done, "skipped": skipped, "failed": failed,
        "expected": rig.messages, "lost": lost, "duplicated": duplicated, "problems": result.problems()[:10],
        "actions": actions, "seconds": round(seconds, 1),
        "others": [{"state": o.state, "done": o.done} for o in progress.others]}
    if expect.delta:
        out["delta"] = delta_pass(rig, target)
        ok = ok and out["delta"] == {"state": "completed", "done": 0, "skipped": rig.messages}
    # Undo removes exactly what this migration copied: afterwards the target holds what the other migrations
    # copied (another source's messages exactly; a copy of this source's, as many as the other copied).
    out["undo"] = undo(rig, progress)
    left = everything(rig, target)
    out["undo"]["left"] = sum(left.values())
    if rig.second_source in others:
        want_left = everything(rig, rig.second_source)
        undone_ok = left == want_left
    else:
        undone_ok = sum(left.values()) == sum(o.done for o in progress.others)
        undone_ok = undone_ok and not (+left - everything(rig, rig.source))  # nothing but this source's
    out["undo"]["ok"] = undone_ok = (undone_ok and out["undo"]["state"] == "undone"
                                     and out["undo"]["removed"] == done)
    out["ok"] = ok and undone_ok
    return out


def build(workdir: Path, messages: int, seed_value: int) -> Rig:
    dovecot = DovecotServer(workdir / "dovecot", user_quotas=True)
    dovecot.start()
    proxy_port = stack.free_port()
    broker = start_broker(workdir / "broker.log", advertised_port=proxy_port)
    broker_proxy = FaultProxy(broker.port, listen_port=proxy_port)
    redis = start_redis(workdir / "redis")
    source_proxy, target_proxy = FaultProxy(dovecot.imap_port, imap=True), FaultProxy(dovecot.imap_port, imap=True)
    env = stack_env(Process(broker.proc, f"127.0.0.1:{proxy_port}"), redis, f"c{secrets.token_hex(3)}.",
                    MAILFERRY_CONNECT_TIMEOUT="10")
    info = stack.up(workdir / "stack", env, timeout=180)
    rig = Rig(dovecot, broker, broker_proxy, redis, source_proxy, target_proxy, info, workdir / "stack" / "logs",
              "", messages, random.Random(seed_value))
    rig.source = rig.new_account("chaos-src")
    layout = seed.plan_mailbox(messages, with_corpus=False)
    rig.size = sum(len(m.data) for msgs in layout.values() for m in msgs)
    with rig.client(rig.source) as c:
        seed.seed(c, layout)
    rig.second_source, rig.second_messages = rig.new_account("chaos-src2"), messages // 5
    with rig.client(rig.second_source) as c:
        seed.seed(c, seed.plan_mailbox(rig.second_messages, seed=seed_value + 1, folders=SECOND_FOLDERS,
                                       with_corpus=False))
    return rig


def close(rig: Rig) -> None:
    stack.down(Path(rig.info.state_dir))
    for proxy in (rig.broker_proxy, rig.source_proxy, rig.target_proxy):
        proxy.close()
    rig.broker.stop()
    rig.redis.stop()
    rig.dovecot.destroy()


def dropped(actions: list[str]) -> int:
    return sum(int(m) for a in actions for m in re.findall(r"(\d+) connections dropped", a))


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| fault | messages | lost | duplicated | final state, emails done + skipped (+ failed) | undo: "
             "removed, left on the target | time | strikes (connections dropped) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        failed = f" + {r['failed']:,} failed" if r.get("failed") else ""
        delta = f"; delta pass {r['delta']['done']} copied" if "delta" in r else ""
        u = r.get("undo", {})
        lines.append(f"| {r['what']} | {r['expected']:,} | {r['lost']} | {r['duplicated']} | {r['state']}, "
                     f"{r['done']:,} + {r['skipped']:,}{failed}{delta} | {u.get('state')}: {u.get('removed')}, "
                     f"{u.get('left')} | {r['seconds']} s | {len(r['actions'])} ({dropped(r['actions'])}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=5000)
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, of: {', '.join(FAULTS)}")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--timeout", type=float, default=900, help="seconds per run to reach a final state")
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "chaos" / "results.json")
    a = p.parse_args(argv)
    names = [n for n in a.faults.split(",") if n]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        p.error(f"unknown faults: {unknown}")
    print(f"chaos: {a.messages} messages, faults {names}, seed {a.seed}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="mailferry-chaos-") as tmp:
        rig = build(Path(tmp), a.messages, a.seed)
        try:
            for name in names:
                result = run_fault(rig, name, a.timeout)
                results.append(result)
                print(json.dumps(result), flush=True)
        finally:
            close(rig)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"seed": a.seed, "messages": a.messages, "results": results}, indent=2))
    print(table(results))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
