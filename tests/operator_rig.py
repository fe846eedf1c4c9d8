"""A stack whose intake has operator keys (one operator, one read-only), and the calls tests make with them."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mailferry import stack
from mailferry.dovecot import DovecotServer
from shared.operator_keys import new_key
from tests.conftest import stack_env
from tests.e2e.test_lifecycle import Relay, smtp

__all__ = ["project_stack", "smtp"]  # fixtures: a test module imports both
from tests.servers import Process

OPERATOR_KEY, OPERATOR_ENTRY = new_key("ops", "operator")
VIEWER_KEY, VIEWER_ENTRY = new_key("viewer", "read-only")
AUTH_FAILURES_PER_MINUTE = 6
HEADER = ("source_host,source_port,source_security,source_login,source_password,"
          "target_host,target_port,target_security,target_login,target_password\n")


@pytest.fixture(scope="module")
def project_stack(broker: Process, redis_server: Process, smtp: Relay,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.StackInfo]:
    state = tmp_path_factory.mktemp("projects-stack")
    env = stack_env(broker, redis_server, f"t{secrets.token_hex(4)}.",
                    MAILFERRY_OPERATOR_KEYS=f"{OPERATOR_ENTRY},{VIEWER_ENTRY}",
                    MAILFERRY_OPERATOR_AUTH_FAILURES_PER_MINUTE=str(AUTH_FAILURES_PER_MINUTE),
                    MAILFERRY_SMTP_HOST="127.0.0.1", MAILFERRY_SMTP_PORT=str(smtp.port),
                    MAILFERRY_SMTP_FROM="mailferry@ops.test")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def api(info: stack.StackInfo, method: str, path: str, key: str = OPERATOR_KEY, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{info.intake_url}/api/v1/operator{path}",
                         headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=120, **kw)


def create(info: stack.StackInfo, rows: bytes, **settings: Any) -> httpx.Response:
    files = {"project": (None, json.dumps({"name": "test project", **settings}), "application/json"),
             "rows": ("rows.csv", rows, "text/csv")}
    return api(info, "POST", "/projects", files=files)


def row(dovecot: DovecotServer, src: str, src_pw: str, dst: str, dst_pw: str) -> str:
    port = dovecot.imap_port
    return f"127.0.0.1,{port},none,{src},{src_pw},127.0.0.1,{port},none,{dst},{dst_pw}\n"


def wait(check: Callable[[], dict[str, Any] | None], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got is not None:
            return got
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout}s")


def project_in(info: stack.StackInfo, pid: str, *states: str) -> dict[str, Any]:
    """The project once it has ended in one of ``states``."""
    def check() -> dict[str, Any] | None:
        body: dict[str, Any] = api(info, "GET", f"/projects/{pid}").json()
        return body if body["state"] in states and body.get("ended_at") else None
    return wait(check)
