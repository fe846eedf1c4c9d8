"""Driving migrations through the real REST API, as a user or script would."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mailferry.follow import FINAL
from mailferry.stack import StackInfo

# The folders seed.plan_mailbox fills by default and the parents Dovecot lists for them (\\Noselect): between
# two accounts of the same Dovecot every one of them keeps its name, and no other folder may appear.
PST_CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "pst"  # beside the project, as in CI
DEMO_TREE = ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects", "Projects/2024", "Projects/2024/Q1",
             "Données", "Données/Été 2024", "日本語", "日本語/メール", "Empty folder")


def same_names(*names: str) -> dict[str, str | None]:
    """An expected folder map in which every named folder keeps its name."""
    return {n: n for n in names}


def start(info: StackInfo, source: dict[str, object], target: dict[str, object],
          options: list[str] | None = None, **extra: object) -> str:
    body: dict[str, object] = {"source": source, "target": target, "options": options or ["emails"], **extra}
    resp = httpx.post(f"{info.intake_url}/api/v1/migrations", json=body, timeout=120)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def status(info: StackInfo, mid: str, login: str) -> dict[str, Any]:
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}", params={"login": login}, timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def wait_status(info: StackInfo, mid: str, login: str, check: Callable[[dict[str, Any]], bool],
                timeout: float = 120) -> dict[str, Any]:
    """The status, once ``check`` holds for it."""
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = status(info, mid, login)
        if check(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"condition not reached in {timeout}s; last status {st}")


def wait_final(info: StackInfo, mid: str, login: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = status(info, mid, login)
        if st["state"] in FINAL:
            return st
        time.sleep(0.3)
    raise AssertionError(f"migration {mid} did not finish in {timeout}s; last status {st}")


def migrate(info: StackInfo, source: dict[str, object], target: dict[str, object],
            timeout: float = 300) -> tuple[str, dict[str, Any]]:
    mid = start(info, source, target)
    return mid, wait_final(info, mid, str(source["login"]), timeout)
