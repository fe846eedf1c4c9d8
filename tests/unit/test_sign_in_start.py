"""Starting a sign-in: a sign-in service that cannot be reached is no fault of the request (502, not a 422 on the
login), an unconfigured one names no field, an unknown type does not repeat the path."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake import sign_in
from shared.adapters.descriptor import SignIn
from shared.adapters.net import ConnectOptions
from shared.errors import ConnectionCheckFailed, HostNotFound, ServerUnreachable
from shared.net_guard import AllowList


class NotConfigured(ConnectionCheckFailed):
    code = "not_configured"


def client_whose_start_raises(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> TestClient:
    def start(_opts: ConnectOptions, _login: str, _uri: str) -> tuple[str, dict[str, Any]]:
        raise exc

    way = SignIn(start, lambda *_a: ("", ""), "Sign in")
    monkeypatch.setattr(sign_in, "_way", lambda type_: way if type_ == "graph" else None)
    app = FastAPI()
    app.include_router(sign_in.sign_in_router(ConnectOptions(AllowList()), lambda: None))  # type: ignore[arg-type,return-value]
    return TestClient(app)


@pytest.mark.parametrize("exc", [HostNotFound("the server name login.example could not be found"),
                                 ServerUnreachable("login.example:443 refused the connection"), OSError("boom")])
def test_an_unreachable_sign_in_service_is_a_502(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    got = client_whose_start_raises(monkeypatch, exc).get("/api/v1/sign-in/graph", params={"login": "a@b.example"})
    body = got.json()["error"]
    assert (got.status_code, body["code"], body["field"]) == (502, "sign_in_unavailable", None), body


def test_an_unconfigured_sign_in_names_no_field(monkeypatch: pytest.MonkeyPatch) -> None:
    got = client_whose_start_raises(monkeypatch, NotConfigured("not configured here")).get("/api/v1/sign-in/graph")
    body = got.json()["error"]
    assert (got.status_code, body["code"], body["field"]) == (422, "not_configured", None), body


def test_an_unknown_type_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    got = client_whose_start_raises(monkeypatch, OSError()).get("/api/v1/sign-in/%3Cscript%3E%00")
    assert got.status_code == 404 and "script" not in got.text and "\\u0000" not in got.text
