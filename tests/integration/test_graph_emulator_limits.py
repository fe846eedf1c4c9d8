"""The Graph emulator's limits and faults: JSON batching (20 requests, dependsOn, inner statuses and inner
429s), the per app and mailbox concurrency limit, the request budget per window, injected 503/504 and dropped
connections. Requests are held in flight by a gate, never timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.graph_emulator import GraphEmulator, Limits, ManualClock
from tests.graph_emulator.testing import app_token, graph, http

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.test", "bob@example.test"
SECRET = "app-secret-value"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_780_000_000.0)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[GraphEmulator]:
    with GraphEmulator(clock=clock, limits=Limits(retry_after=7)) as e:
        e.add_user(ALICE)
        e.add_user(BOB)
        yield e


@pytest.fixture
def token(emu: GraphEmulator) -> str:
    app = emu.register_app(secret=SECRET)
    return app_token(emu, app.client_id, SECRET)


def _batch(emu: GraphEmulator, token: str, requests: list[dict[str, Any]]) -> httpx.Response:
    with http(emu) as c:
        return c.post(f"{emu.graph_url}/$batch", json={"requests": requests},
                      headers={"Authorization": f"Bearer {token}"})


def _hold(emu: GraphEmulator, token: str, user: str, n: int) -> tuple[list[threading.Thread], Any]:
    """n requests to `user`'s mailbox that stay in flight until the gate opens."""
    gate = emu.faults.hold(n)
    threads = []
    for _ in range(n):
        def run() -> None:
            with graph(emu, token, user) as g:
                g.get("/mailFolders/inbox")
        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
    assert gate.wait_held(n)
    return threads, gate


def test_batch_statuses_dependencies_and_limits(emu: GraphEmulator, token: str) -> None:
    r = _batch(emu, token, [
        {"id": "1", "method": "POST", "url": f"/users/{ALICE}/mailFolders",
         "headers": {"Content-Type": "application/json"}, "body": {"displayName": "Batch"}},
        {"id": "2", "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": f"/users/{ALICE}/messages/AAMkAGI2AAA="},
        {"id": "4", "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox", "dependsOn": ["3"]},
        {"id": "5", "method": "POST", "url": f"/users/{ALICE}/mailFolders",
         "headers": {"Content-Type": "application/json"}, "body": {"displayName": "Batch"}, "dependsOn": ["1"]},
    ])
    assert r.status_code == 200
    answers = {a["id"]: a for a in r.json()["responses"]}
    assert {k: a["status"] for k, a in answers.items()} == {"1": 201, "2": 200, "3": 404, "4": 424, "5": 409}
    assert answers["1"]["body"]["displayName"] == "Batch"
    assert answers["3"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert answers["5"]["body"]["error"]["code"] == "ErrorFolderExists"
    too_many = [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/mailFolders"} for i in range(21)]
    assert _batch(emu, token, too_many).status_code == 400
    assert _batch(emu, token, too_many[:20]).status_code == 200
    no_type = [{"id": "1", "method": "POST", "url": f"/users/{ALICE}/mailFolders", "body": {"displayName": "x"}}]
    assert _batch(emu, token, no_type).status_code == 400
    cycle = [{"id": "a", "method": "GET", "url": "/users/x", "dependsOn": ["b"]},
             {"id": "b", "method": "GET", "url": "/users/x", "dependsOn": ["a"]}]
    assert _batch(emu, token, cycle).status_code == 400
    dup = [{"id": "a", "method": "GET", "url": "/users/x"}, {"id": "a", "method": "GET", "url": "/users/x"}]
    assert _batch(emu, token, dup).status_code == 400


def test_batch_inner_requests_meet_the_mailbox_concurrency_limit(emu: GraphEmulator, token: str) -> None:
    threads, gate = _hold(emu, token, ALICE, 3)
    try:
        r = _batch(emu, token, [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox"}
                                for i in range(4)] + [{"id": "bob", "method": "GET",
                                                       "url": f"/users/{BOB}/mailFolders/inbox"}])
    finally:
        gate.release()
        for t in threads:
            t.join()
    answers = r.json()["responses"]
    statuses = sorted(a["status"] for a in answers if a["id"] != "bob")
    assert statuses == [200, 429, 429, 429]
    for a in answers:
        if a["status"] == 429:
            assert a["headers"]["Retry-After"] == "7"
            assert a["body"]["error"]["code"] == "ApplicationThrottled"
    assert next(a for a in answers if a["id"] == "bob")["status"] == 200
    again = _batch(emu, token, [{"id": str(i), "method": "GET", "url": f"/users/{ALICE}/mailFolders/inbox"}
                                for i in range(8)])
    assert [a["status"] for a in again.json()["responses"]] == [200] * 8  # four at a time, as Graph sends them


def test_fifth_concurrent_request_to_a_mailbox_gets_429(emu: GraphEmulator, token: str) -> None:
    threads, gate = _hold(emu, token, ALICE, 4)
    try:
        with graph(emu, token, ALICE) as g:
            r = g.get("/mailFolders/inbox")
        with graph(emu, token, BOB) as other:
            assert other.get("/mailFolders/inbox").status_code == 200
    finally:
        gate.release()
        for t in threads:
            t.join()
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["error"]["code"] == "ApplicationThrottled"
    assert r.json()["error"]["message"] == "Application is over its MailboxConcurrency limit."
    key = (next(iter(emu.tenant.apps)), ALICE)
    assert emu.throttle.peak_in_flight[key] == 4
    assert emu.throttle.throttled["MailboxConcurrency"] == 1
    with graph(emu, token, ALICE) as g:
        assert g.get("/mailFolders/inbox").status_code == 200


def test_request_budget_per_window(clock: ManualClock) -> None:
    with GraphEmulator(clock=clock, limits=Limits(requests=5, window=600)) as emu:
        emu.add_user(ALICE)
        app = emu.register_app(secret=SECRET)
        with graph(emu, app_token(emu, app.client_id, SECRET), ALICE) as g:
            assert [g.get("/mailFolders").status_code for _ in range(5)] == [200] * 5
            r = g.get("/mailFolders")
            assert r.status_code == 429 and r.json()["error"]["code"] == "ApplicationThrottled"
            clock.advance(601)
            assert g.get("/mailFolders").status_code == 200
        assert emu.throttle.requests[(app.client_id, ALICE)] == 7
        assert emu.throttle.throttled["MailboxRequests"] == 1


def test_injected_faults(emu: GraphEmulator, token: str) -> None:
    with graph(emu, token, ALICE) as g:
        emu.faults.fail_next(2, status=503, code="ServiceUnavailable", retry_after=3)
        first, second, third = (g.get("/mailFolders/inbox") for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
        assert first.headers["Retry-After"] == "3"
        assert set(first.json()["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
        emu.faults.fail_next(1, status=504, code="GatewayTimeout", message="Gateway Timeout", path_contains="/messages")
        assert g.get("/mailFolders/inbox").status_code == 200
        assert g.get("/messages").status_code == 504
        emu.faults.drop_next(1)
        with pytest.raises(httpx.TransportError):
            g.get("/mailFolders/inbox")
        assert g.get("/mailFolders/inbox").status_code == 200
    assert emu.faults.injected == 4
