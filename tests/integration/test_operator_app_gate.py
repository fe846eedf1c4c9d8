"""An account the operator's app signs in to (Microsoft 365 without a password) is an operator's to name.

Found in a hostile review: ``POST /api/v1/migrations`` with ``{"source": {"type": "graph", "login": "ceo@…"}}``
and a target of the caller's own needed no password and no key, so anyone reaching intake could copy any mailbox
of a tenant the operator has an app for (and a PST upload could write into one). The whole app
(:func:`services.intake.app.create_app`) on the real Redis and broker: such a request is ``403 forbidden`` naming
the field unless it carries an operator key with the operator role; a user's own sign-in (``auth: oauth2``) is
not affected, and ``MAILFERRY_OPERATOR_APP_PUBLIC`` is the operator's way to allow it for anyone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from services.intake.app import create_app
from services.intake.intake import Intake
from shared import kafka_edge, operator_keys
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList
from tests.servers import Process

pytestmark = pytest.mark.integration

OPERATOR, OPERATOR_ENTRY = operator_keys.new_key("ops", "operator")
READER, READER_ENTRY = operator_keys.new_key("dash", "read-only")
CEO = {"type": "graph", "login": "ceo@contoso.example"}  # no password: the operator's app
MINE = {"type": "imap", "host": "10.1.2.3", "port": 143, "security": "none", "login": "me@example.test",
        "password": "pw"}  # the network guard refuses it before any connection


@pytest.fixture(scope="module")
def make(broker: Process, redis_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    made: list[tuple[Intake, Any]] = []
    prefix = f"g{secrets.token_hex(4)}."
    kafka_edge.ensure_topics(broker.address, prefix, 1)

    def build(public: bool = False) -> tuple[TestClient, Path]:
        state = tmp_path_factory.mktemp("gate")
        settings = Settings(kafka_bootstrap=broker.address, redis_url=redis_server.address, state_dir=state,
                            allow_hosts=AllowList.parse("127.0.0.1"), secret_key=generate_master_key("t1"),
                            topic_prefix=prefix, topic_partitions=1, login_checks_per_minute=1000,
                            operator_keys=operator_keys.parse(f"{OPERATOR_ENTRY},{READER_ENTRY}"),
                            operator_app_public=public)
        registry = CollectorRegistry()
        raw = kafka_edge.make_producer(broker.address, **{"linger.ms": 0})
        intake = Intake(settings, redis_lib.Redis.from_url(redis_server.address),
                        kafka_edge.EventProducer(raw, prefix), MasterKeys.parse(settings.secret_key), registry,
                        ServiceMetrics(registry, "intake"))
        made.append((intake, raw))
        return TestClient(create_app(intake)), settings.spool / "pst"

    yield build
    for intake, raw in made:
        intake.pool.shutdown(wait=False)
        raw.flush(5)
        raw.close()


def refusal(resp: Any) -> tuple[int, str, str | None]:
    err = resp.json()["error"]
    return resp.status_code, err["code"], err["field"]


def test_nobody_names_an_account_of_the_operators_app_without_an_operator_key(make: Any) -> None:
    client, _ = make()
    for source, target, fld in ((CEO, MINE, "source.auth"), (MINE, CEO, "target.auth"),
                                ({**CEO, "auth": "app"}, MINE, "source.auth")):
        body = {"source": source, "target": target, "options": ["emails"]}
        for headers in ({}, {"Authorization": f"Bearer {READER}"}, {"Authorization": "Bearer mfo_wrong"},
                        {"Authorization": f"Basic {OPERATOR}"}):
            resp = client.post("/api/v1/migrations", json=body, headers=headers)
            assert refusal(resp) == (403, "forbidden", fld), (headers, resp.text)
            assert "operator key" in resp.json()["error"]["message"]


def test_an_operator_key_or_the_operators_choice_lets_it_through(make: Any) -> None:
    """Past the gate, the request goes on as before: here to the next refusal (the target's address)."""
    body = {"source": CEO, "target": MINE, "options": ["emails"]}
    client, _ = make()
    resp = client.post("/api/v1/migrations", json=body, headers={"Authorization": f"Bearer {OPERATOR}"})
    assert resp.status_code != 403 and resp.status_code < 500, resp.text
    public, _ = make(public=True)
    resp = public.post("/api/v1/migrations", json=body)
    assert resp.status_code != 403 and resp.status_code < 500, resp.text


def test_a_users_own_sign_in_needs_no_key(make: Any) -> None:
    client, _ = make()
    resp = client.post("/api/v1/migrations", json={"source": {**CEO, "auth": "oauth2", "password": "no-such-sign-in"},
                                                   "target": MINE, "options": ["emails"]})
    assert refusal(resp)[:2] != (403, "forbidden"), resp.text
    assert resp.status_code < 500, resp.text


def test_a_pst_import_into_an_account_of_the_operators_app_needs_the_key_too(make: Any) -> None:
    client, spool = make()
    resp = client.post("/api/v1/pst-migrations", files={"target": (None, json.dumps(CEO)),
                                                        "file": ("x.pst", b"!BDN" + b"\0" * 600)})
    assert refusal(resp) == (403, "forbidden", "target.auth"), resp.text
    assert not spool.exists() or list(spool.iterdir()) == []  # the upload is not kept
