"""``make load`` as an operator runs it: a key made with ``mailferry operator-key``, projects created from a CSV
with each row's passwords, a pre-flight, a start, and the rows followed through the operator API.

The pure parts (reading the CLI's answer, writing the CSV, summing up a pre-flight) are tested in
``tests/unit/test_bench_load_project.py``.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

COLUMNS = ("source_host", "source_port", "source_security", "source_login", "source_password",
           "target_host", "target_port", "target_security", "target_login", "target_password")


@dataclass(frozen=True)
class Account:
    login: str
    password: str


def parse_operator_key(text: str) -> tuple[str, str]:
    """The key and its ``MAILFERRY_OPERATOR_KEYS`` entry from what ``mailferry operator-key`` printed."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        head, sep, value = line.rpartition(": ")
        if sep and head.startswith(("key ", "entry ")):
            found[head.split(" ", 1)[0]] = value.strip()
    if set(found) != {"key", "entry"}:
        raise ValueError("mailferry operator-key printed no key and entry")
    return found["key"], found["entry"]


def operator_key(name: str) -> tuple[str, str]:
    """A new operator key, made the way the README tells operators to (the CLI beside this Python)."""
    cli = Path(sys.executable).parent / "mailferry"
    done = subprocess.run([str(cli), "operator-key", name], capture_output=True, text=True, check=True, timeout=60)
    return parse_operator_key(done.stdout)


def rows_csv(pairs: Iterable[tuple[Account, Account]], host: str, port: int, security: str = "none") -> str:
    """The project's CSV: one line a mailbox, both accounts with their own passwords."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for src, dst in pairs:
        writer.writerow([host, port, security, src.login, src.password, host, port, security, dst.login, dst.password])
    return out.getvalue()


def preflight_summary(table: Sequence[Mapping[str, Any]], seeded: Mapping[str, int], seconds: float
                      ) -> dict[str, Any]:
    """What a pre-flight found against what was seeded (``seeded``: messages by source login)."""
    ok = [r for r in table if r.get("source_login_check") == "ok" and r.get("target_login_check") == "ok"]
    counted = [r for r in table if r.get("messages") == seeded.get(str(r.get("source_login")))]
    return {"rows": len(table), "seconds": round(seconds, 1), "logins_ok": len(ok),
            "messages_as_seeded": len(counted), "messages": sum(int(r.get("messages") or 0) for r in table),
            "estimated_seconds_sum": sum(int(r.get("estimated_seconds") or 0) for r in table)}


class OperatorApi:
    """The operator API's calls ``make load`` makes, each with the key in ``Authorization``."""

    def __init__(self, intake_url: str, key: str) -> None:
        self.base = f"{intake_url}/api/v1/operator"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120)

    def close(self) -> None:
        self.http.close()

    def create(self, name: str, csv_text: str, expected_rows: int) -> str:
        files = {"project": (None, json.dumps({"name": name, "options": ["emails"]}), "application/json"),
                 "rows": ("rows.csv", csv_text.encode(), "text/csv")}
        resp = self.http.post(f"{self.base}/projects", files=files)
        resp.raise_for_status()
        got = resp.json()
        if got["rows_added"] != expected_rows or got["errors_total"]:
            raise RuntimeError(f"project {name}: {got['rows_added']} rows taken, errors {got['errors'][:3]}")
        return str(got["id"])

    def preflight(self, pid: str, timeout: float = 900) -> tuple[list[dict[str, Any]], float]:
        """Run the project's pre-flight to its end: its table and how long it took."""
        t0 = time.monotonic()
        self.http.post(f"{self.base}/projects/{pid}/preflight").raise_for_status()
        while time.monotonic() - t0 < timeout:
            time.sleep(0.5)
            got = self.http.get(f"{self.base}/projects/{pid}/preflight").json()
            if got["preflight"] != "running":
                if got["preflight"] != "done":
                    raise RuntimeError(f"pre-flight of {pid}: {got['preflight']}")
                return list(got["rows"]), time.monotonic() - t0
        raise RuntimeError(f"pre-flight of {pid} still running after {timeout} s")

    def start(self, pid: str) -> None:
        self.http.post(f"{self.base}/projects/{pid}/start", json={}).raise_for_status()

    def rows(self, pid: str) -> list[dict[str, Any]]:
        """Every row's view (its state and migration), a page of 1,000 at a time."""
        out: list[dict[str, Any]] = []
        while True:
            resp = self.http.get(f"{self.base}/projects/{pid}/rows", params={"offset": len(out), "limit": 1000})
            resp.raise_for_status()
            got = resp.json()
            out += got["rows"]
            if not got["rows"] or len(out) >= got["total"]:
                return out

    def summary(self, pid: str) -> dict[str, Any]:
        resp = self.http.get(f"{self.base}/projects/{pid}")
        resp.raise_for_status()
        return dict(resp.json())
