"""Starting a sign-in: a sign-in service that cannot be reached is no fault of the request (502, not a 422 on the
login), an unconfigured one names no field, an unknown type does not repeat the path, and the way back from the
sign-in is the operator's public address or a loopback one, never a Host header's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake import sign_in
from shared.adapters.descriptor import SignIn
from shared.adapters.net import ConnectOptions
from shared.config import ConfigError, Settings
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


def client_that_records_the_way_back(monkeypatch: pytest.MonkeyPatch, public_url: str = "") -> tuple[TestClient,
                                                                                                     list[str]]:
    """The router with a sign-in whose start notes the redirect URI it was given (and refuses none, as a
    system with its own configured way back would not)."""
    seen: list[str] = []

    def start(_opts: ConnectOptions, _login: str, uri: str) -> tuple[str, dict[str, Any]]:
        seen.append(uri)
        return "https://login.example/authorize", {"state": "s-1"}

    class Store:
        def keep_flow(self, _type: str, _flow: dict[str, Any]) -> None:
            pass

    way = SignIn(start, lambda *_a: ("", ""), "Sign in")
    monkeypatch.setattr(sign_in, "_way", lambda type_: way if type_ == "graph" else None)
    app = FastAPI()
    app.include_router(sign_in.sign_in_router(ConnectOptions(AllowList()), lambda: Store(), public_url))  # type: ignore[arg-type,return-value]
    return TestClient(app, follow_redirects=False), seen


@pytest.mark.parametrize(("host", "way_back"), [
    ("127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/sign-in/graph/redirect"),  # the local stack, as tests use it
    ("localhost:8080", "http://localhost:8080/api/v1/sign-in/graph/redirect"),
    ("[::1]:8080", "http://[::1]:8080/api/v1/sign-in/graph/redirect"),
    ("127.0.0.2", "http://127.0.0.2/api/v1/sign-in/graph/redirect"),
    ("evil.example", ""),  # a forged Host steers nothing: no way back known (the system refuses, see below)
    ("mailferry.example.com", ""),  # nor the real public name, unless it is configured
    ("localhost.evil.example", ""),
    ("127.0.0.1.evil.example", ""),
    ("evil.example@127.0.0.1", ""),
    ("127.0.0.1:notaport", ""),
    ("[::ffff:127.0.0.1]:8080", ""),  # no spelling games: only the plain loopback names
])
def test_without_a_public_url_only_a_loopback_host_gives_the_way_back(monkeypatch: pytest.MonkeyPatch, host: str,
                                                                       way_back: str) -> None:
    client, seen = client_that_records_the_way_back(monkeypatch)
    got = client.get("/api/v1/sign-in/graph", headers={"Host": host})
    assert (got.status_code, seen) == (303, [way_back])


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8080", "mailferry.example.com"])
def test_a_configured_public_url_is_the_way_back_whatever_the_host(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    client, seen = client_that_records_the_way_back(monkeypatch, "https://mailferry.example.com")
    assert client.get("/api/v1/sign-in/graph", headers={"Host": host}).status_code == 303
    assert seen == ["https://mailferry.example.com/api/v1/sign-in/graph/redirect"]


def test_microsoft_sign_in_without_a_trusted_way_back_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Graph sign-in, configured without MAILFERRY_GRAPH_REDIRECT_URI, reached under a forged Host: a 422
    naming the settings, before any request to the sign-in service; with the redirect URI configured, that one."""
    from shared.adapters.graph import sign_in as graph_sign_in
    from shared.adapters.graph.settings import GraphSettings

    app = FastAPI()
    app.include_router(sign_in.sign_in_router(ConnectOptions(AllowList()), lambda: None))  # type: ignore[arg-type,return-value]
    settings = GraphSettings.from_env({"MAILFERRY_GRAPH_CLIENT_ID": "public-1"})
    monkeypatch.setattr(graph_sign_in, "process_settings", lambda: settings)
    got = TestClient(app).get("/api/v1/sign-in/graph", headers={"Host": "evil.example"})
    body = got.json()["error"]
    assert (got.status_code, body["code"]) == (422, "not_configured")
    assert "MAILFERRY_PUBLIC_URL" in body["message"] and "evil" not in got.text
    with pytest.raises(graph_sign_in.ConfigError, match="MAILFERRY_PUBLIC_URL"):
        graph_sign_in.start(ConnectOptions(AllowList()), "a@b.example", "", settings)


@pytest.mark.parametrize(("value", "kept"), [
    ("https://mailferry.example.com", "https://mailferry.example.com"),
    ("https://mailferry.example.com/", "https://mailferry.example.com"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("", ""),
])
def test_the_public_url_setting(value: str, kept: str) -> None:
    assert Settings.from_env({"MAILFERRY_PUBLIC_URL": value}).public_url == kept


@pytest.mark.parametrize("value", ["mailferry.example.com", "ftp://mailferry.example.com", "https://",
                                   "https://mailferry.example.com/app", "https://user@mailferry.example.com",
                                   "https://mailferry.example.com/?x=1", "https://mailferry.example.com:99999",
                                   "https://mailferry.example.com\r\nX: y"])
def test_a_public_url_that_is_not_a_bare_address_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="MAILFERRY_PUBLIC_URL"):
        Settings.from_env({"MAILFERRY_PUBLIC_URL": value})
