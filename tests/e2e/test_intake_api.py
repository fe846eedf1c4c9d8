"""Intake's REST contract: clear errors before anything is queued, status only with the right login."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailferry import stack
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import migrate
from tests.servers import Process


@pytest.fixture(scope="module")
def tls_stack(broker: Process, redis_server: Process, dovecot: DovecotServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """Services that trust the test Dovecot's certificate authority (and no other)."""
    state = tmp_path_factory.mktemp("stack-tls")
    env = stack_env(broker, redis_server, f"i{secrets.token_hex(4)}.", MAILFERRY_CA_FILE=str(dovecot.cert_path))
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def post(info: StackInfo, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{info.intake_url}/api/v1/migrations", json=body, timeout=60)


def error_of(resp: httpx.Response) -> dict[str, object]:
    assert resp.status_code == 422, resp.text
    return dict(resp.json()["error"])


def test_each_connection_problem_has_its_own_clear_error(tls_stack: StackInfo, accounts: Accounts,
                                                        dovecot: DovecotServer) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    good_src, good_dst = accounts.endpoint(src), accounts.endpoint(dst)
    cases = {
        "host_not_found": ({**good_src, "host": "no-such-host.invalid"}, good_dst, "source"),
        "server_unreachable": ({**good_src, "port": stack.free_port()}, good_dst, "source"),
        "authentication_failed": (good_src, {**good_dst, "password": "wrong-password"}, "target"),
        "address_not_allowed": ({**good_src, "host": "10.1.2.3"}, good_dst, "source"),
    }
    for code, (source, target, side) in cases.items():
        err = error_of(post(tls_stack, {"source": source, "target": target}))
        assert (err["code"], err["side"]) == (code, side), err
        assert err["message"] and "wrong-password" not in str(err["message"])
    # A decimal spelling of an allow-listed address is the same address.
    assert post(tls_stack, {"source": {**good_src, "host": "2130706433"}, "target": good_dst}).status_code == 202


def test_tls_is_verified_and_an_untrusted_certificate_is_refused(tls_stack: StackInfo, accounts: Accounts,
                                                                 dovecot: DovecotServer, tmp_path: Path) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        c.append("INBOX", b"Subject: over tls\r\n\r\nbody\r\n")
    tls_src = accounts.endpoint(src, host="localhost", port=dovecot.imaps_port, security="tls")
    starttls_dst = accounts.endpoint(dst, host="localhost", port=dovecot.imap_port, security="starttls")
    _mid, st = migrate(tls_stack, tls_src, starttls_dst)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 1
    with DovecotServer(tmp_path / "stranger") as stranger:  # its own self-signed certificate
        stranger.add_user("s@example.test", "s-password-1")
        untrusted = {"type": "imap", "host": "localhost", "port": stranger.imaps_port, "security": "tls",
                     "login": "s@example.test", "password": "s-password-1"}
        err = error_of(post(tls_stack, {"source": tls_src, "target": untrusted}))
        stranger.destroy()
    assert (err["code"], err["side"]) == ("tls_error", "target")
    assert "not trusted" in str(err["message"])
    err = error_of(post(tls_stack, {"source": {**tls_src, "tls_verify": False}, "target": starttls_dst}))
    assert err["code"] == "tls_verify_not_allowed"


def test_malformed_requests_name_the_field(tls_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    good = {"source": accounts.endpoint(src), "target": accounts.endpoint(dst)}
    bad_port = {**good, "source": {**accounts.endpoint(src), "port": "imap"}}
    assert error_of(post(tls_stack, bad_port))["field"] == "source.port"
    missing = {"source": accounts.endpoint(src)}
    assert error_of(post(tls_stack, missing))["field"] == "target"
    bad_sec = {**good, "target": {**accounts.endpoint(dst), "security": "ssl3"}}
    assert error_of(post(tls_stack, bad_sec))["field"] == "target.security"
    contacts = {**good, "options": ["emails", "contacts"]}
    err = error_of(post(tls_stack, contacts))
    assert err["field"] == "options" and "only e-mails" in str(err["message"])


def test_status_needs_the_id_and_the_source_login(tls_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    mid, st = migrate(tls_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st["state"] == "completed"
    assert len(mid) >= 32  # 192 random bits, URL-safe
    url = f"{tls_stack.intake_url}/api/v1/migrations"
    ok = httpx.get(f"{url}/{mid}", params={"login": src.upper()})  # logins are case-insensitive
    assert ok.status_code == 200 and ok.json()["id"] == mid
    wrong_login = httpx.get(f"{url}/{mid}", params={"login": dst})
    unknown_id = httpx.get(f"{url}/{secrets.token_urlsafe(24)}", params={"login": src})
    assert wrong_login.status_code == unknown_id.status_code == 404
    assert wrong_login.json() == unknown_id.json()


def test_openapi_and_probes(tls_stack: StackInfo) -> None:
    doc = httpx.get(f"{tls_stack.intake_url}/openapi.json").json()
    assert "/api/v1/migrations" in doc["paths"] and "/api/v1/migrations/{mid}" in doc["paths"]
    assert httpx.get(f"{tls_stack.intake_url}/readyz").status_code == 200
    metrics = httpx.get(f"{tls_stack.intake_url}/metrics").text
    assert "mailferry_intake_requests_total" in metrics
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):  # through the ingress: not the public's
        proxied = httpx.get(f"{tls_stack.intake_url}/metrics", headers={header: "for=203.0.113.9"})
        assert (proxied.status_code, proxied.json()["error"]["code"]) == (404, "not_found")
        assert "mailferry_" not in proxied.text
    for name, ports in tls_stack.http_ports.items():
        if name == "intake":
            continue
        text = httpx.get(f"http://127.0.0.1:{ports[0]}/metrics").text
        assert "mailferry_dependency_up" in text, name
