"""Access tokens for Graph, from msal: the operator's app (client credentials) or a user's sign-in (delegated).

The app's token is asked for again shortly before it expires (msal keeps it meanwhile). A user's tokens
came from the web page's sign-in (authorization code with PKCE, :mod:`.sign_in`) and travel sealed like a
password, as a small JSON bundle (:func:`token_bundle`); the access token is renewed with the refresh token
when it is about to expire or Graph says it has, so a migration longer than a token's life goes on.
Nothing here logs or raises a token: errors carry msal's error name and the AADSTS number only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx
import msal

from shared import json_log
from shared.adapters.graph.settings import DELEGATED_SCOPES, GRAPH_SCOPE, GraphSettings, SignInApp, TenantApp
from shared.adapters.graph.transport import MsalHttp, transport_error
from shared.errors import AuthenticationFailed, ServerUnreachable

T = TypeVar("T")


class TokenSource(Protocol):
    client_id: str
    delegated: bool

    def token(self, force: bool = False) -> str:
        """A valid access token; ``force`` asks for a new one (Graph said the old one expired)."""


def _refused(result: dict[str, Any], who: str) -> AuthenticationFailed:
    codes = result.get("error_codes") or []
    code = f" (AADSTS{codes[0]})" if codes else ""
    return AuthenticationFailed(f"Microsoft sign-in refused {who}: {result.get('error', 'error')}{code}")


def _guarded(fn: Callable[[], T], where: str) -> T:
    """msal's call with its failures as our kinds (it reads the authority's metadata on first use)."""
    try:
        return fn()
    except httpx.TransportError as exc:
        raise transport_error(exc, f"the sign-in service {where}") from None
    except ValueError as exc:  # msal: the authority's metadata could not be read
        raise ServerUnreachable(f"the sign-in service {where} did not answer like Microsoft's: "
                                f"{type(exc).__name__}") from None


def _call(fn: Callable[[], dict[str, Any] | None], where: str) -> dict[str, Any]:
    return _guarded(fn, where) or {}


def _margin(lifetime: float) -> float:
    """How long before expiry a token is renewed: a fifth of its life, at most two minutes."""
    return min(120.0, max(0.0, lifetime) * 0.2)


class AppTokens:
    """Client credentials of the operator's app in the mailbox's tenant (a secret or a certificate)."""

    delegated = False

    def __init__(self, settings: GraphSettings, app: TenantApp, http: httpx.Client,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.app, self.http, self.clock = settings, app, http, clock
        self.client_id = app.client_id
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0
        self._msal = self._new_msal()

    def _new_msal(self) -> msal.ConfidentialClientApplication:
        authority = f"{self.settings.authority}/{self.app.tenant_id}"
        return _guarded(lambda: msal.ConfidentialClientApplication(
            self.app.client_id, client_credential=self.app.credential, authority=authority,
            http_client=MsalHttp(self.http), instance_discovery=False), self.settings.authority)

    def token(self, force: bool = False) -> str:
        with self._lock:
            if not force and self._token and self.clock() < self._renew_at:
                return self._token
            if force:
                self._msal = self._new_msal()  # a fresh cache: msal would hand back the refused token
            result = _call(lambda: self._msal.acquire_token_for_client(scopes=[GRAPH_SCOPE]), self.settings.authority)
            if "access_token" not in result:
                raise _refused(result, f"the app {self.app.client_id}")
            lifetime = float(result.get("expires_in") or 3600)
            self._token = str(result["access_token"])
            json_log.register_secret(self._token)
            self._renew_at = self.clock() + lifetime - _margin(lifetime)
            return self._token


def token_bundle(result: dict[str, Any], now: float) -> str:
    """What a sign-in leaves to seal: the tokens and when the access token expires (JSON)."""
    return json.dumps({"access_token": result["access_token"], "refresh_token": result.get("refresh_token", ""),
                       "expires_at": now + float(result.get("expires_in") or 3600),
                       "lifetime": float(result.get("expires_in") or 3600), "scope": str(result.get("scope") or "")})


_OIDC = frozenset({"openid", "profile", "email", "offline_access"})


def _granted(scope: str) -> list[str]:
    """The Graph scopes a sign-in granted (asked for again on refresh: asking for more is refused)."""
    return [s for s in scope.split() if s not in _OIDC] or list(DELEGATED_SCOPES)


def sign_in_msal(settings: GraphSettings, app: SignInApp, http: httpx.Client) -> msal.ClientApplication:
    """The msal application end users sign in to: confidential with the operator's secret, else public."""
    authority = f"{settings.authority}/{app.tenant}"
    if app.client_secret:
        return msal.ConfidentialClientApplication(app.client_id, client_credential=app.client_secret,
                                                  authority=authority, http_client=MsalHttp(http),
                                                  instance_discovery=False)
    return msal.PublicClientApplication(app.client_id, authority=authority, http_client=MsalHttp(http),
                                        instance_discovery=False)


class DelegatedTokens:
    """A signed-in user's tokens (the sealed bundle), renewed with the refresh token as they expire."""

    delegated = True

    def __init__(self, settings: GraphSettings, bundle: str, http: httpx.Client,
                 clock: Callable[[], float] = time.time) -> None:
        if settings.sign_in is None:
            raise AuthenticationFailed("sign-in with Microsoft is not configured here (MAILFERRY_GRAPH_CLIENT_ID)")
        try:
            data = json.loads(bundle)
            self._token, self._refresh = str(data["access_token"]), str(data.get("refresh_token") or "")
            self._expires_at, lifetime = float(data["expires_at"]), float(data.get("lifetime") or 3600)
            self._scopes = _granted(str(data.get("scope") or ""))
        except (ValueError, KeyError, TypeError):
            raise AuthenticationFailed("the Microsoft sign-in of this account is not usable; sign in again") from None
        for value in (self._token, self._refresh):
            json_log.register_secret(value)
        self.settings, self.http, self.clock = settings, http, clock
        self.app = settings.sign_in
        self.client_id = self.app.client_id
        self._margin = _margin(lifetime)
        self._lock = threading.Lock()
        self._msal: msal.ClientApplication | None = None
        self.renewed = 0  # how often the access token was renewed (tests read it)

    def token(self, force: bool = False) -> str:
        with self._lock:
            if not force and self.clock() < self._expires_at - self._margin:
                return self._token
            if not self._refresh:
                raise AuthenticationFailed("the Microsoft sign-in has expired and gave no refresh token; sign in "
                                           "again")
            if self._msal is None:
                self._msal = _guarded(lambda: sign_in_msal(self.settings, self.app, self.http),
                                      self.settings.authority)
            app = self._msal
            result = _call(lambda: app.acquire_token_by_refresh_token(self._refresh, scopes=self._scopes),
                           self.settings.authority)
            if "access_token" not in result:
                raise _refused(result, "the signed-in account (sign in again)")
            lifetime = float(result.get("expires_in") or 3600)
            self._token = str(result["access_token"])
            self._refresh = str(result.get("refresh_token") or self._refresh)
            for value in (self._token, self._refresh):
                json_log.register_secret(value)
            self._expires_at, self._margin = self.clock() + lifetime, _margin(lifetime)
            self.renewed += 1
            return self._token
