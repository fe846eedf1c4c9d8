"""The operator's Graph settings: the tenants file (a Kubernetes Secret), the URLs, the limits; and the budget
kept in one process when Redis is not there. Expected values written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.graph.budget import LocalBudget, budget_key
from shared.adapters.graph.settings import (
    DEFAULT_AUTHORITY,
    DEFAULT_GRAPH_URL,
    ConfigError,
    GraphSettings,
    load_tenants,
)


def test_defaults_are_microsofts_cloud_and_its_limits() -> None:
    s = GraphSettings.from_env({})
    assert (s.graph_url, s.authority) == (DEFAULT_GRAPH_URL, DEFAULT_AUTHORITY) == (
        "https://graph.microsoft.com/v1.0", "https://login.microsoftonline.com")
    assert (s.concurrency, s.requests, s.window, s.sign_in, dict(s.tenants)) == (4, 10_000, 600.0, None, {})
    assert s.graph_host == ("graph.microsoft.com", 443)


def test_the_tenants_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "fabrikam-secret"
    secret_file.write_text("from-a-file\n")
    pem = tmp_path / "contoso.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({
        "Contoso.example": {"tenant_id": "t-1", "client_id": "c-1", "certificate_file": str(pem),
                            "certificate_thumbprint": "AB12", "aliases": ["contoso.onmicrosoft.com"]},
        "fabrikam.example": {"tenant_id": "t-2", "client_id": "c-2", "client_secret_file": str(secret_file)}}))
    s = GraphSettings.from_env({"MAILFERRY_GRAPH_TENANTS": str(path), "MAILFERRY_GRAPH_URL": "https://g.test/v1.0/",
                                "MAILFERRY_GRAPH_CONCURRENCY": "2", "MAILFERRY_GRAPH_CLIENT_ID": "public-1"})
    contoso = s.tenant_for("ann@CONTOSO.example")
    assert (contoso.tenant_id, contoso.client_id, contoso.credential) == (
        "t-1", "c-1", {"private_key": pem.read_text(), "thumbprint": "AB12"})
    assert s.tenant_for("bob@contoso.onmicrosoft.com") is contoso
    assert s.tenant_for("cy@fabrikam.example").credential == "from-a-file"
    assert "from-a-file" not in repr(s) and "PRIVATE" not in repr(s)  # no secret in a repr (logs, tracebacks)
    assert (s.graph_url, s.concurrency, s.sign_in is not None and s.sign_in.tenant) == (
        "https://g.test/v1.0", 2, "organizations")
    with pytest.raises(ConfigError, match=r"no Microsoft 365 app is configured for other\.example's tenant"):
        s.tenant_for("x@other.example")


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"),
    ("[]", "must hold an object keyed by mail domain"),
    ('{"a.example": {"client_id": "c"}}', "a.example needs tenant_id and client_id"),
    ('{"a.example": {"tenant_id": "t", "client_id": "c"}}', "needs client_secret"),
    ('{"a.example": {"tenant_id": "t", "client_id": "c", "certificate_file": "/nonexistent"}}', "cannot read"),
])
def test_a_wrong_tenants_file_says_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tenants.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_tenants(str(path))


@pytest.mark.parametrize(("env", "message"), [
    ({"MAILFERRY_GRAPH_URL": "graph.example/v1.0"}, "MAILFERRY_GRAPH_URL must be an https URL"),
    ({"MAILFERRY_GRAPH_CONCURRENCY": "0"}, "MAILFERRY_GRAPH_CONCURRENCY must be at least 1"),
    ({"MAILFERRY_GRAPH_REQUESTS": "many"}, "must be a whole number"),
])
def test_wrong_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GraphSettings.from_env(env)


def test_the_local_budget_counts_slots_and_a_sliding_window() -> None:
    now = [1000.0]
    b = LocalBudget(concurrency=2, requests=3, window=10.0, clock=lambda: now[0])
    assert b.take_slots(2) and not b.take_slots(1)
    b.give_slots(1)
    assert b.take_slots(1)
    assert [b.take_requests(1), b.take_requests(2)] == [0.0, 0.0]
    now[0] = 1004.0
    assert b.take_requests(1) == 6.0  # the oldest leaves the window at 1010
    now[0] = 1010.0
    assert b.take_requests(1) == 0.0


def test_the_budget_key_names_no_mailbox() -> None:
    key = budget_key("client-1", "Ann@Contoso.example")
    assert key == budget_key("client-1", "ann@contoso.example")  # one budget whatever the login's case
    assert "ann" not in key and "contoso" not in key and key.startswith("mailferry:graph:budget:")


def test_without_redis_the_budget_is_counted_in_the_process() -> None:
    import redis

    from shared.adapters.graph.budget import Budget

    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    waits: list[float] = []
    budget = Budget("mailferry:graph:budget:test-down", concurrency=1, requests=2, window=600.0, redis_client=down,
                    sleep=waits.append)
    with budget.slots(1):
        assert not budget.local.take_slots(1)  # the one slot is held here, in the process
    assert budget.local.take_slots(1)
    budget.local.give_slots(1)
    budget.take_requests(1)  # the second of two allowed
    assert waits == []
