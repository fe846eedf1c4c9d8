"""A user's own sign-in on the web page (Microsoft 365: authorization code with PKCE), through the registry.

``GET /api/v1/sign-in/{type}?login=`` starts the system's flow (state, nonce, PKCE verifier) and sends the
browser to the sign-in service; ``GET /api/v1/sign-in/{type}/redirect`` receives the code, has the system
redeem it, and sends the browser on to a small page whose script hands a *sign-in id* (in the URL fragment,
which no server, log or Referer sees) to the form that opened the window, then closes it. The form sends
that id as the account's password with ``"auth": "oauth2"``; intake swaps it for the tokens before the
login check (:meth:`SignInStore.tokens`) and seals them under the migration's data key like any password,
so the workers renew them during the migration and they become unreadable at its final state.

Between the steps nothing is in clear: the flow (with its verifier) and the tokens are sealed under a data
key of their own, wrapped by the master key, in Redis with a short life, and deleted once used.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import redis
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL

from services.intake.api_errors import error
from services.intake.web_routes import SECURITY_HEADERS
from shared import json_log, redis_keys, wire_text
from shared.adapters import registry
from shared.adapters.descriptor import SignIn
from shared.adapters.net import ConnectOptions
from shared.credential_seal import MasterKeys, new_data_key, seal, unseal
from shared.errors import ConnectionCheckFailed, SecretUnavailable

FLOW_SECONDS = 600  # the user has ten minutes to sign in
TOKENS_SECONDS = 1800  # and half an hour to start the migration with the sign-in
PREFIX = "/api/v1/sign-in"
DONE_PATH = "/signed-in"
DONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mailferry</title>
<link rel="stylesheet" href="/assets/app.css"><script src="/assets/signed-in.js" defer></script></head>
<body><main><p id="signed-in" role="status"></p></main></body></html>"""


class SignInStore:
    """Sealed, short-lived records in Redis: a started flow by its state, a finished sign-in by its id."""

    def __init__(self, r: redis.Redis, keys: MasterKeys) -> None:
        self.r, self.keys = r, keys

    @staticmethod
    def _names(kind: str, name: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{kind}\x00{name}".encode()).hexdigest()
        return redis_keys.sign_in(kind, digest), f"sign-in-{kind}/{digest[:16]}"

    def _put(self, kind: str, name: str, value: dict[str, Any], ttl: int) -> None:
        key, context = self._names(kind, name)
        data_key = new_data_key()
        record = {"k": self.keys.wrap(data_key, context), "v": seal(data_key, json.dumps(value), context)}
        self.r.set(key, json.dumps(record), ex=ttl)

    def _get(self, kind: str, name: str, take: bool) -> dict[str, Any] | None:
        key, context = self._names(kind, name)
        raw = self.r.getdel(key) if take else self.r.get(key)
        if not raw:
            return None
        try:
            record = json.loads(raw)
            value: dict[str, Any] = json.loads(unseal(self.keys.unwrap(record["k"], context), record["v"], context))
        except (ValueError, KeyError, TypeError, SecretUnavailable):
            return None
        return value

    def keep_flow(self, type_: str, flow: dict[str, Any]) -> None:
        self._put("flow", str(flow["state"]), {"type": type_, "flow": flow}, FLOW_SECONDS)

    def take_flow(self, type_: str, state: str) -> dict[str, Any] | None:
        found = self._get("flow", state, take=True) if state else None
        if found is None or found.get("type") != type_:
            return None
        flow: dict[str, Any] = found["flow"]
        return flow

    def keep_tokens(self, type_: str, secret: str, login: str) -> str:
        """A new sign-in id for these tokens."""
        handle = secrets.token_urlsafe(32)
        self._put("tokens", handle, {"type": type_, "secret": secret, "login": login}, TOKENS_SECONDS)
        return handle

    def tokens(self, type_: str, handle: str) -> tuple[str, str] | None:
        """(the tokens to seal as the account's secret, the login that signed in), or None (unknown, expired)."""
        found = self._get("tokens", handle, take=False) if handle else None
        if found is None or found.get("type") != type_:
            return None
        json_log.register_secret(str(found["secret"]))
        return str(found["secret"]), str(found["login"])

    def forget(self, handle: str) -> None:
        self.r.delete(self._names("tokens", handle)[0])


def _way(type_: str) -> SignIn | None:
    found = registry.SYSTEMS.get(type_)
    return found.sign_in if found is not None else None


def way_back(public_url: str, url: URL, type_: str) -> str:
    """Where the sign-in service sends the browser back to: under the operator's public address
    (``MAILFERRY_PUBLIC_URL``); without one, under the request's own address only when that is a loopback name
    (the local stack listens on loopback, and a browser reaches it as 127.0.0.1 or localhost); otherwise "" —
    the Host header is the client's to write, and must not steer where the user's sign-in code is sent."""
    path = f"{PREFIX}/{type_}/redirect"
    if public_url:
        return public_url + path
    host = (url.hostname or "").lower()
    try:
        port = url.port
        loopback = host == "localhost" or _plain_loopback(ipaddress.ip_address(host))
    except ValueError:
        return ""
    if not loopback or "@" in url.netloc or url.scheme not in ("http", "https"):
        return ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return f"{url.scheme}://{netloc}{path}"


def _plain_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """127.0.0.0/8 or ::1, not spelled inside another form (an IPv4-mapped IPv6 address)."""
    return ip.is_loopback and not (isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None)


def sign_in_router(opts: ConnectOptions, store_of: Callable[[], SignInStore], public_url: str = "") -> APIRouter:
    """``public_url``: intake's address as users reach it (the way back from the sign-in, :func:`way_back`)."""
    router = APIRouter()

    @router.get(PREFIX + "/{type_}", response_class=Response, status_code=303,
                responses={303: {"description": "to the sign-in service"}, 404: {}, 422: {}, 502: {}})
    async def sign_in(type_: str, request: Request,
                      login: str = Query(default="", max_length=320, description="the account, as a hint")) -> Response:
        """Start the user's own sign-in for an account of ``type_`` (``graph``: Microsoft 365, PKCE)."""
        way = _way(type_)
        if way is None:
            return error(404, "not_found", "this type of account has no sign-in on this page")
        if wire_text.has_control(login):
            return error(422, "invalid_request", "login: must not contain control characters", field="login")
        redirect_uri = way_back(public_url, request.url, type_)
        try:
            url, flow = await run_in_threadpool(way.start, opts, login.strip(), redirect_uri)
        except ConnectionCheckFailed as exc:
            if exc.code == "not_configured":  # the operator's setting, not the login (a hint only)
                return error(422, exc.code, str(exc))
            # The sign-in service not found or not answering is no fault of the request.
            return error(502, "sign_in_unavailable", f"the sign-in service cannot be reached: {exc}")
        except Exception as exc:  # the sign-in service cannot be reached: a clear answer, never a 500
            return error(502, "sign_in_unavailable", f"the sign-in service cannot be reached ({type(exc).__name__})")
        store_of().keep_flow(type_, flow)
        return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})

    @router.get(PREFIX + "/{type_}/redirect", include_in_schema=False)
    async def redirect(type_: str, request: Request) -> Response:
        way = _way(type_)
        if way is None:
            return error(404, "not_found", "no such sign-in")
        query = {k: v for k, v in request.query_params.items() if len(v) <= 8192 and not wire_text.has_control(v)}
        store = store_of()
        flow = store.take_flow(type_, query.get("state", ""))
        if flow is None:
            return _done("error=" + quote("this sign-in has expired or was already used; start it again"))
        try:
            secret, login = await run_in_threadpool(way.finish, opts, flow, query)
        except ConnectionCheckFailed as exc:
            return _done("error=" + quote(str(exc)))
        except Exception as exc:
            return _done("error=" + quote(f"the sign-in could not be completed ({type(exc).__name__}); try again"))
        handle = store.keep_tokens(type_, secret, login)
        return _done(f"sign_in={quote(handle)}&login={quote(login)}")

    @router.get(DONE_PATH, include_in_schema=False)
    async def done() -> Response:
        return HTMLResponse(DONE_PAGE, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    return router


def _done(fragment: str) -> Response:
    """On to the page the sign-in ends on, the result in the fragment (only the page's script reads it)."""
    return RedirectResponse(f"{DONE_PATH}#{fragment}", status_code=303, headers={"Cache-Control": "no-store"})


SIGN_IN_EXPIRED = "the sign-in has expired, is unknown, or was made for another account; sign in again"


def refused_sign_in(side: str) -> JSONResponse:
    return error(422, "sign_in_expired", SIGN_IN_EXPIRED, side=side, field=f"{side}.password")
