"""``make demo``: the local stack, two local accounts, one migration, checked message by message.

Leaves everything running (``make down`` stops it) so the user can look at the
API, the metrics and the logs, or start more migrations with ``mailferry migrate``.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import httpx
from imapclient import IMAPClient

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from mailferry.expected_folders import expected_for
from mailferry.follow import follow

SOURCE = "demo-source@example.test"
TARGET = "demo-target@example.test"


def say(step: str) -> None:
    print(f"\n== {step}", flush=True)


def login(server: DovecotServer, user: str, password: str) -> IMAPClient:
    client = IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=60)
    client.login(user, password)
    return client


def run(state_dir: Path, generated: int = 400) -> int:
    say("1/5 starting the local stack (Kafka-compatible broker, Redis, intake, extractor, loader, tracker)")
    info = stack.up(state_dir)
    print(f"intake at {info.intake_url}")

    say("2/5 starting a local Dovecot with a source and an empty target account")
    stack.stop_pids(info.processes.pop("dovecot", []))
    server = DovecotServer(state_dir / "dovecot")
    server.destroy()
    server.start()
    server.detach()
    info.processes["dovecot"] = [server.pid]
    info.save()
    passwords = {SOURCE: secrets.token_urlsafe(12), TARGET: secrets.token_urlsafe(12)}
    for user, pw in passwords.items():
        server.add_user(user, pw)
    layout = seed.plan_mailbox(generated)
    with login(server, SOURCE, passwords[SOURCE]) as src, login(server, TARGET, passwords[TARGET]) as tgt:
        counts = seed.seed(src, layout)
        # What the check will expect, from the rules written again for checking and the target as it is now.
        expected = expected_for(src, tgt)
        before = verify.snapshot(tgt)
    corpus = "the shared corpus and generated" if seed.corpus_dir() else "generated (no ../shared corpus here)"
    print(f"source holds {sum(counts.values())} messages ({corpus}) in {len(counts)} folders:")
    for folder, n in counts.items():
        print(f"  {folder:<22} {n:>5}")

    # The workers join their consumer groups in the background; once they hold partitions the time
    # measured below is the migration's own (a request sent earlier simply waits in Kafka).
    for name, ports in info.http_ports.items():
        for port in ports if name != "intake" else []:
            stack.wait_ready(f"http://127.0.0.1:{port}/readyz", 60)

    say("3/5 starting the migration through the REST API")
    body = {"source": {"type": "imap", "host": "127.0.0.1", "port": server.imap_port, "security": "none",
                       "login": SOURCE, "password": passwords[SOURCE]},
            "target": {"type": "imap", "host": "127.0.0.1", "port": server.imap_port, "security": "none",
                       "login": TARGET, "password": passwords[TARGET]},
            "options": ["emails"]}
    started = time.monotonic()
    resp = httpx.post(f"{info.intake_url}/api/v1/migrations", json=body, timeout=120)
    if resp.status_code != 202:
        print(f"refused: {resp.text}", file=sys.stderr)
        return 1
    mid = resp.json()["id"]
    print(f"migration ID {mid}")

    say("4/5 following progress")
    status = follow(info.intake_url, mid, SOURCE, timeout=900)
    elapsed = time.monotonic() - started

    say("5/5 comparing the target with the source, folder by folder (bytes, flags, dates with their zone); "
        "every target folder accounted for")
    with login(server, SOURCE, passwords[SOURCE]) as src, login(server, TARGET, passwords[TARGET]) as tgt:
        result = verify.compare(src, tgt, expected, before)
    for f in result.folders:
        mark = "ok " if f.missing == 0 and f.extra == 0 else "BAD"
        print(f"  {mark} {f.source:<22} → {f.target:<22} {f.source_count:>5} / {f.target_count:>5}")
    for problem in result.problems():
        print(f"  BAD {problem}")

    emails = status.get("items", {}).get("emails", {})
    mb = emails.get("bytes", 0) / 1e6
    print(f"\nmigration {mid}: {status.get('state')}, {emails.get('done', 0)} messages copied "
          f"({mb:.1f} MB) in {elapsed:.1f} s — {emails.get('done', 0) / max(elapsed, 0.001):.0f} msg/s; "
          f"target {'identical to' if result.identical else 'DIFFERENT from'} source")
    print(f"\nThe stack keeps running:\n  web      {info.intake_url}/ (start, follow, cancel, undo)\n"
          f"  intake   {info.intake_url}   (API docs {info.intake_url}/docs)\n"
          f"  status   .venv/bin/mailferry status {mid} --login {SOURCE}\n"
          f"  metrics  {info.intake_url}/metrics, workers at "
          + ", ".join(f"http://127.0.0.1:{p}/metrics" for name, ps in info.http_ports.items() if name != "intake"
                    for p in ps)
          + f"\n  IMAP     127.0.0.1:{server.imap_port} ({SOURCE} / {TARGET}; passwords in this run only)"
          f"\n  logs     {state_dir / 'logs'}\nStop everything with: make down")
    return 0 if status.get("state") == "completed" and result.identical else 1
