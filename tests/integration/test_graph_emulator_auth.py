"""The Graph emulator's Entra ID side: client credentials (secret, certificate assertion), authorization code
with PKCE, refresh tokens, token expiry, roles and scopes; raw OAuth over httpx, and the maintained client
msal against the emulator's authority over TLS with a test CA."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization

from tests.graph_emulator import GraphEmulator, ManualClock, self_signed_client_certificate
from tests.graph_emulator.testing import GRAPH_DEFAULT_SCOPE, app_token, graph, graph_error, http

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.test", "bob@example.test"
SECRET = "s3cret-value"
REDIRECT = "http://localhost/callback"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_780_000_000.0)


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[GraphEmulator]:
    with GraphEmulator(clock=clock, token_lifetime=3600) as e:
        e.add_user(ALICE)
        e.add_user(BOB)
        yield e


def _token(emu: GraphEmulator, **form: str) -> httpx.Response:
    with http(emu) as c:
        return c.post(emu.token_url, data=form)


def _aad_error(r: httpx.Response, status: int, error: str, code: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


# -- client credentials ---------------------------------------------------------------------------
def test_client_secret_flow_and_its_errors(emu: GraphEmulator) -> None:
    app = emu.register_app(secret=SECRET)
    ok = _token(emu, grant_type="client_credentials", client_id=app.client_id, client_secret=SECRET,
                scope=GRAPH_DEFAULT_SCOPE)
    assert ok.status_code == 200
    body = ok.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"].count(".") == 2
    _aad_error(_token(emu, grant_type="client_credentials", client_id=app.client_id, client_secret="wrong",
                      scope=GRAPH_DEFAULT_SCOPE), 401, "invalid_client", 7000215)
    _aad_error(_token(emu, grant_type="client_credentials", client_id=str(uuid.uuid4()), client_secret=SECRET,
                      scope=GRAPH_DEFAULT_SCOPE), 400, "unauthorized_client", 700016)
    _aad_error(_token(emu, grant_type="client_credentials", client_id=app.client_id, client_secret=SECRET,
                      scope="https://graph.microsoft.com/Mail.Read"), 400, "invalid_scope", 1002012)
    _aad_error(_token(emu, client_id=app.client_id, client_secret=SECRET, scope=GRAPH_DEFAULT_SCOPE), 400,
               "invalid_request", 900144)
    _aad_error(_token(emu, grant_type="client_credentials", client_id=app.client_id, scope=GRAPH_DEFAULT_SCOPE),
               401, "invalid_client", 7000218)
    _aad_error(_token(emu, grant_type="password", client_id=app.client_id, client_secret=SECRET), 400,
               "unsupported_grant_type", 70003)
    with http(emu) as c:
        r = c.post(f"{emu.base_url}/not-our-tenant.example/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": app.client_id, "client_secret": SECRET,
            "scope": GRAPH_DEFAULT_SCOPE})
    _aad_error(r, 400, "invalid_request", 90002)


def _assertion(emu: GraphEmulator, client_id: str, key: Any, cert: Any, **overrides: Any) -> str:
    now = int(emu.clock.now())
    claims = {"aud": emu.token_url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now,
              "exp": now + 600}
    claims.update(overrides)
    x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode().rstrip("=")  # noqa: S303
    return jwt.encode(claims, key, algorithm="RS256", headers={"x5t": x5t})


def test_certificate_assertion(emu: GraphEmulator, clock: ManualClock) -> None:
    key, cert = self_signed_client_certificate()
    other_key, _ = self_signed_client_certificate()
    app = emu.register_app(certificate=cert)

    def ask(assertion: str) -> httpx.Response:
        return _token(emu, grant_type="client_credentials", client_id=app.client_id, scope=GRAPH_DEFAULT_SCOPE,
                      client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                      client_assertion=assertion)

    ok = ask(_assertion(emu, app.client_id, key, cert))
    assert ok.status_code == 200, ok.text
    with graph(emu, ok.json()["access_token"], ALICE) as g:
        assert g.get("/mailFolders/inbox").status_code == 200
    _aad_error(ask(_assertion(emu, app.client_id, other_key, cert)), 401, "invalid_client", 700027)
    _aad_error(ask(_assertion(emu, app.client_id, key, cert, aud="https://elsewhere.example/token")), 401,
               "invalid_client", 700212)
    _aad_error(ask(_assertion(emu, app.client_id, key, cert, iss="someone-else")), 401, "invalid_client", 700021)
    stale = _assertion(emu, app.client_id, key, cert)
    clock.advance(3600)
    _aad_error(ask(stale), 401, "invalid_client", 700024)
    unknown_key, unknown_cert = self_signed_client_certificate()
    _aad_error(ask(_assertion(emu, app.client_id, unknown_key, unknown_cert)), 401, "invalid_client", 700027)


# -- what Graph does with tokens ---------------------------------------------------------------------


def test_access_tokens_expire(emu: GraphEmulator, clock: ManualClock) -> None:
    app = emu.register_app(secret=SECRET)
    token = app_token(emu, app.client_id, SECRET)
    with graph(emu, token, ALICE) as g:
        assert g.get("/mailFolders/inbox").status_code == 200
        clock.advance(3599)
        assert g.get("/mailFolders/inbox").status_code == 200
        clock.advance(2)
        r = g.get("/mailFolders/inbox")
        assert graph_error(r, 401, "InvalidAuthenticationToken") == \
            "Lifetime validation failed, the token is expired."
        assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    with graph(emu, app_token(emu, app.client_id, SECRET), ALICE) as g:
        assert g.get("/mailFolders/inbox").status_code == 200
    with http(emu) as c:
        r = c.get(f"{emu.graph_url}/users/{ALICE}/messages")
        assert graph_error(r, 401, "InvalidAuthenticationToken") == "Access token is empty."
        forged = jwt.encode({"aud": "https://graph.microsoft.com", "exp": 9999999999}, "k" * 32, algorithm="HS256")
        r = c.get(f"{emu.graph_url}/users/{ALICE}/messages", headers={"Authorization": f"Bearer {forged}"})
        graph_error(r, 401, "InvalidAuthenticationToken")


def test_application_roles_decide_what_an_app_may_do(emu: GraphEmulator) -> None:
    app = emu.register_app(secret=SECRET, application_permissions={"Mail.Read", "Tasks.ReadWrite"})
    with graph(emu, app_token(emu, app.client_id, SECRET), ALICE) as g:
        assert g.get("/mailFolders/inbox/messages").status_code == 200
        msg = "Access is denied. Check credentials and try again."
        assert graph_error(g.post("/messages", json={"subject": "x"}), 403, "ErrorAccessDenied") == msg
        graph_error(g.get("/contacts"), 403, "ErrorAccessDenied")
        graph_error(g.get("/todo/lists"), 403, "ErrorAccessDenied")  # apps need Tasks.ReadWrite.All
        graph_error(g.get("/mailboxSettings"), 403, "ErrorAccessDenied")
    with http(emu, headers={"Authorization": f"Bearer {app_token(emu, app.client_id, SECRET)}"}) as c:
        assert graph_error(c.get(f"{emu.graph_url}/me/messages"), 400, "BadRequest") == \
            "/me request is only valid with delegated authentication flow."
        graph_error(c.get(f"{emu.graph_url}/users/nobody@example.test/messages"), 404, "ErrorInvalidUser")


# -- authorization code with PKCE ----------------------------------------------------------------------
def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize(emu: GraphEmulator, client_id: str, **extra: str) -> dict[str, list[str]]:
    params = {"client_id": client_id, "response_type": "code", "redirect_uri": REDIRECT, "state": "st-1",
              "scope": "openid offline_access https://graph.microsoft.com/Mail.ReadWrite", **extra}
    with http(emu) as c:
        r = c.get(f"{emu.authority}/oauth2/v2.0/authorize", params=params)
    assert r.status_code == 302, r.text
    location = r.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


def test_auth_code_with_pkce_refresh_and_revocation(emu: GraphEmulator, clock: ManualClock) -> None:
    app = emu.register_app(secret=SECRET, redirect_uris={REDIRECT})
    emu.sign_in(ALICE)
    verifier, challenge = _pkce()
    answer = _authorize(emu, app.client_id, code_challenge=challenge, code_challenge_method="S256", nonce="n-1")
    assert answer["state"] == ["st-1"]
    code = answer["code"][0]
    form = {"grant_type": "authorization_code", "client_id": app.client_id, "client_secret": SECRET, "code": code,
            "redirect_uri": REDIRECT}
    _aad_error(_token(emu, **form, code_verifier=verifier + "x"), 400, "invalid_grant", 50148)
    r = _token(emu, **form, code_verifier=verifier)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    assert "Mail.ReadWrite" in tokens["scope"].split()
    claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
    assert claims["preferred_username"] == ALICE and claims["nonce"] == "n-1" and claims["aud"] == app.client_id
    _aad_error(_token(emu, **form, code_verifier=verifier), 400, "invalid_grant", 54005)
    with graph(emu, tokens["access_token"]) as me:
        assert me.post("/messages", json={"subject": "mine"}).status_code == 201
    with graph(emu, tokens["access_token"], BOB) as other:
        graph_error(other.get("/messages"), 403, "ErrorAccessDenied")
    with graph(emu, tokens["access_token"], ALICE) as own:
        assert own.get("/messages").status_code == 200
        graph_error(own.get("/contacts"), 403, "ErrorAccessDenied")  # Contacts.ReadWrite was not asked for
    clock.advance(3601)
    with graph(emu, tokens["access_token"]) as me:
        graph_error(me.get("/messages"), 401, "InvalidAuthenticationToken")
    refreshed = _token(emu, grant_type="refresh_token", client_id=app.client_id, client_secret=SECRET,
                       refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    with graph(emu, refreshed.json()["access_token"]) as me:
        assert [m["subject"] for m in me.get("/messages").json()["value"]] == ["mine"]
    emu.tenant.revoke_refresh_tokens(ALICE)
    _aad_error(_token(emu, grant_type="refresh_token", client_id=app.client_id, client_secret=SECRET,
                      refresh_token=refreshed.json()["refresh_token"]), 400, "invalid_grant", 50173)


def test_authorize_refusals(emu: GraphEmulator, clock: ManualClock) -> None:
    app = emu.register_app(secret=SECRET, redirect_uris={REDIRECT}, delegated_permissions={"Mail.Read"})
    emu.sign_in(ALICE)
    _, challenge = _pkce()
    assert _authorize(emu, app.client_id)["error"] == ["invalid_request"]  # no PKCE
    denied = _authorize(emu, app.client_id, code_challenge=challenge, code_challenge_method="S256")
    assert denied["error"] == ["consent_required"] and denied["error_description"][0].startswith("AADSTS65001")
    with http(emu) as c:
        r = c.get(f"{emu.authority}/oauth2/v2.0/authorize", params={
            "client_id": app.client_id, "response_type": "code", "redirect_uri": "https://evil.example/cb",
            "scope": "Mail.Read", "code_challenge": challenge, "code_challenge_method": "S256"})
    _aad_error(r, 400, "invalid_request", 50011)
    ok = _authorize(emu, app.client_id, code_challenge=challenge, code_challenge_method="S256",
                    scope="Mail.Read offline_access")
    clock.advance(601)
    _aad_error(_token(emu, grant_type="authorization_code", client_id=app.client_id, client_secret=SECRET,
                      code=ok["code"][0], redirect_uri=REDIRECT, code_verifier="x"), 400, "invalid_grant", 70008)
    emu.sign_in(None)
    assert _authorize(emu, app.client_id, code_challenge=challenge, code_challenge_method="S256",
                      scope="Mail.Read")["error"] == ["login_required"]


def test_refresh_tokens_expire_after_inactivity(emu: GraphEmulator, clock: ManualClock) -> None:
    app = emu.register_app(secret=SECRET, redirect_uris={REDIRECT})
    verifier, challenge = _pkce()
    code = _authorize(emu, app.client_id, login_hint=BOB, code_challenge=challenge,
                      code_challenge_method="S256")["code"][0]
    tokens = _token(emu, grant_type="authorization_code", client_id=app.client_id, client_secret=SECRET, code=code,
                    redirect_uri=REDIRECT, code_verifier=verifier).json()
    clock.advance(emu.tenant.refresh_inactivity + 1)
    _aad_error(_token(emu, grant_type="refresh_token", client_id=app.client_id, client_secret=SECRET,
                      refresh_token=tokens["refresh_token"]), 400, "invalid_grant", 700082)


# -- msal, the maintained client -------------------------------------------------------------------------
@pytest.fixture
def tls_emu() -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True) as e:
        e.add_user(ALICE)
        yield e


def _msal_app(emu: GraphEmulator, client_id: str, credential: Any) -> msal.ConfidentialClientApplication:
    # requests lets REQUESTS_CA_BUNDLE override a session's verify= unless trust_env is off: a session of our own
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_file or True
    return msal.ConfidentialClientApplication(client_id, client_credential=credential, authority=emu.authority,
                                              instance_discovery=False, http_client=session)


def test_msal_client_credentials_with_secret_and_certificate(tls_emu: GraphEmulator) -> None:
    assert tls_emu.base_url.startswith("https://")
    secret_app = tls_emu.register_app(secret=SECRET)
    result = _msal_app(tls_emu, secret_app.client_id, SECRET).acquire_token_for_client(scopes=[GRAPH_DEFAULT_SCOPE])
    assert "access_token" in result, result
    with graph(tls_emu, result["access_token"], ALICE) as g:
        assert g.get("/mailFolders/inbox").json()["displayName"] == "Inbox"
    key, cert = self_signed_client_certificate()
    cert_app = tls_emu.register_app(certificate=cert)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    pem_cert = cert.public_bytes(serialization.Encoding.PEM).decode()
    for credential in ({"private_key": pem_key, "public_certificate": pem_cert},  # PS256 + x5t#S256
                       {"private_key": pem_key, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}):  # noqa: S303
        result = _msal_app(tls_emu, cert_app.client_id, credential).acquire_token_for_client(
            scopes=[GRAPH_DEFAULT_SCOPE])
        assert "access_token" in result, result
    wrong = _msal_app(tls_emu, secret_app.client_id, "wrong").acquire_token_for_client(scopes=[GRAPH_DEFAULT_SCOPE])
    assert wrong.get("error") == "invalid_client" and 7000215 in wrong.get("error_codes", [])


def test_msal_auth_code_flow_with_pkce(tls_emu: GraphEmulator) -> None:
    app_reg = tls_emu.register_app(secret=SECRET, redirect_uris={REDIRECT})
    tls_emu.sign_in(ALICE)
    app = _msal_app(tls_emu, app_reg.client_id, SECRET)
    flow = app.initiate_auth_code_flow(scopes=["https://graph.microsoft.com/Mail.ReadWrite"], redirect_uri=REDIRECT)
    assert "code_challenge=" in flow["auth_uri"]
    with http(tls_emu) as c:
        r = c.get(flow["auth_uri"])
    assert r.status_code == 302
    response = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    with graph(tls_emu, result["access_token"]) as me:
        assert me.post("/messages", json={"subject": "via msal"}).status_code == 201
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [ALICE]
    again = app.acquire_token_silent_with_error(["https://graph.microsoft.com/Mail.ReadWrite"], accounts[0],
                                                force_refresh=True)
    assert again is not None and "access_token" in again, again
    assert again["access_token"] != result["access_token"]
    with graph(tls_emu, again["access_token"]) as me:
        assert [m["subject"] for m in me.get("/messages").json()["value"]] == ["via msal"]
