"""``make bench``'s Microsoft 365 line: the Graph adapter's throughput next to the limit Graph itself sets.

    python -m tests.bench.graph [--messages 1000] [--sessions 4] [--out artifacts/bench-graph.json]

Graph allows an app about 10,000 requests per 10 minutes per mailbox (16.7 requests/s) and 4 at once. What a
mailbox can move is therefore bounded by the requests one message costs, whatever mailferry does: this line
measures both — the adapter's own speed against the Graph emulator over HTTPS with Graph's request budget
lifted (so the adapter, not the budget, is measured), and the requests per message Graph counted — and
prints the ceiling the real limit implies (16.7 ÷ requests per message). The target writes through
``GraphTarget`` (one JSON create per message, ``sessions`` sessions side by side as loader threads would);
the source reads through ``GraphSource`` (delta listing, state in ``$batch`` of 20, ``$value`` each).
The copies are checked: every message arrives once, with its subject.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailferry import seed
from shared.adapters.graph.mail_target import GraphTarget
from shared.adapters.graph.session import open_client
from shared.adapters.graph.source import GraphSource
from shared.adapters.ports import FetchLimits, Outgoing, Placed
from shared.events import ExtractTask, MailItem
from shared.folder_refs import folder_refs
from tests import graph_rig as rig
from tests.graph_emulator import GraphEmulator, Limits

ROOT = Path(__file__).resolve().parents[2]
USER = "bench@example.test"
LIMIT_PER_SECOND = 10_000 / 600  # Graph's request budget per app and mailbox


def _client(emu: GraphEmulator, client_id: str) -> Any:
    return open_client(rig.spec(emu, USER), lambda: "", rig.env(emu),
                       rig.settings(emu, client_id, requests=10**9, concurrency=4))


def run(messages: int, sessions: int) -> dict[str, Any]:
    rng = random.Random(17)
    data = [seed.generated(i, rng) for i in range(messages)]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with GraphEmulator(tls=True, limits=Limits(requests=10**9)) as emu:
        emu.add_user(USER)
        app = emu.register_app(secret=rig.SECRET)
        key = (app.client_id, USER)
        targets = [GraphTarget(_client(emu, app.client_id), "bench") for _ in range(sessions)]
        for t in targets:
            t.ensure_folders(["INBOX"])
        before = emu.throttle.requests[key]
        started = time.perf_counter()

        def write(lane: int) -> int:
            t = targets[lane]
            placed = 0
            for i in range(lane, messages, sessions):
                result = t.create("INBOX", Outgoing(data[i], ("\\Seen",), t0 + timedelta(minutes=i)))
                placed += isinstance(result, Placed)
            return placed

        with ThreadPoolExecutor(sessions) as pool:
            written = sum(pool.map(write, range(sessions)))
        write_s = time.perf_counter() - started
        write_requests = emu.throttle.requests[key] - before
        for t in targets:
            t.close()

        source = GraphSource(_client(emu, app.client_id))
        [inbox] = [r for r, _ok in folder_refs(source.list_folders(), "", True) if r.path == ["INBOX"]]
        before = emu.throttle.requests[key]
        started = time.perf_counter()
        listing = source.list_items([inbox], 0)[inbox.source_name]
        task = ExtractTask(migration_id="bench", task_id="t", source=rig.spec(emu, USER), folder=inbox,
                           uidvalidity=0, uids=[], refs=list(listing.refs))
        subjects = Counter(ev.meta.subject for ev in source.fetch(task, FetchLimits(10_000_000, 10_000_000))
                           if isinstance(ev, MailItem))
        read_s = time.perf_counter() - started
        read_requests = emu.throttle.requests[key] - before
        source.close()
        peak = emu.throttle.peak_in_flight[key]
    assert written == messages and sum(subjects.values()) == messages and len(subjects) == messages, \
        "every message must arrive once"
    out: dict[str, Any] = {"messages": messages, "sessions": sessions, "peak_in_flight": peak}
    for side, seconds, requests in (("target", write_s, write_requests), ("source", read_s, read_requests)):
        per_message = requests / messages
        out[side] = {"seconds": round(seconds, 2), "messages_per_s": round(messages / seconds, 1),
                     "requests_per_message": round(per_message, 3),
                     "graph_limit_messages_per_s": round(LIMIT_PER_SECOND / per_message, 1),
                     "graph_limit_messages_per_hour": int(3600 * LIMIT_PER_SECOND / per_message)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1000)
    p.add_argument("--sessions", type=int, default=4)
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench-graph.json")
    a = p.parse_args(argv)
    report = run(a.messages, a.sessions)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2))
    print(f"Microsoft 365 (Graph emulator, HTTPS, {report['messages']} messages of the bench mix, "
          f"{report['sessions']} sessions, peak {report['peak_in_flight']} in flight):")
    print("| side | msg/s (adapter, budget lifted) | Graph requests per message | Graph's limit implies "
          "(10,000 req / 10 min / mailbox) |")
    print("|---|---|---|---|")
    for side in ("target", "source"):
        r = report[side]
        print(f"| {side} | {r['messages_per_s']} | {r['requests_per_message']} | {r['graph_limit_messages_per_s']} "
              f"msg/s = {r['graph_limit_messages_per_hour']:,} msg/h |")
    return report


if __name__ == "__main__":
    main()
