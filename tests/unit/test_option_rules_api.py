"""``GET /api/v1/option-rules``: the web form's copy of the option rules comes from shared/adapters/registry.py."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake.option_rules_api import option_rules_router
from shared.adapters import registry as option_rules
from shared.migration_state import OPERATIONS


def client() -> TestClient:
    app = FastAPI()
    app.include_router(option_rules_router())
    return TestClient(app)


def test_the_endpoint_serves_the_shared_rules() -> None:
    resp = client().get("/api/v1/option-rules")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body == {"operations": list(OPERATIONS), "options": option_rules.table()}


def test_what_the_form_offers_per_pair() -> None:
    options = client().get("/api/v1/option-rules").json()["options"]
    assert options["imap"]["imap"] == ["emails", "rules"]
    assert options["pop3"]["ews"] == ["emails"]
    assert options["ews"]["ews"] == list(OPERATIONS)
    assert options["pst"]["imap"] == ["emails"]
    assert options["pst"]["ews"] == ["emails", "contacts", "contact_groups", "calendars", "tasks"]


def test_the_endpoint_is_in_the_openapi_document() -> None:
    assert "/api/v1/option-rules" in client().get("/openapi.json").json()["paths"]
