"""An end user's own sign-in with Microsoft: msal's authorization code flow with PKCE (delegated).

:func:`start` makes the flow (state, nonce, PKCE verifier, the sign-in URL); :func:`finish` redeems the
code the redirect brought, with that flow, into the user's tokens, as the bundle the Graph sessions take as
their secret (:func:`.tokens.token_bundle`). Intake keeps the flow and the bundle sealed between the steps
(``services/intake/sign_in.py``); both calls go through the network guard like every Graph request.
"""

from __future__ import annotations

import time
from typing import Any

from shared import json_log, wire_text
from shared.adapters.graph.settings import DELEGATED_SCOPES, ConfigError, GraphSettings, process_settings
from shared.adapters.graph.tokens import sign_in_msal, token_bundle
from shared.adapters.graph.transport import http_client
from shared.adapters.net import ConnectOptions
from shared.errors import AuthenticationFailed


def start(opts: ConnectOptions, login: str, redirect_uri: str,
          settings: GraphSettings | None = None) -> tuple[str, dict[str, Any]]:
    """(the sign-in service's URL for this user, the flow to keep until the redirect)."""
    settings = settings or process_settings()
    if settings.sign_in is None:
        raise ConfigError("sign-in with Microsoft is not configured on this service (MAILFERRY_GRAPH_CLIENT_ID)")
    uri = settings.sign_in.redirect_uri or redirect_uri
    if not uri:  # intake would not take its own address from the request (a Host header anyone can send)
        raise ConfigError("the address sign-ins come back to is not configured on this service "
                          "(MAILFERRY_PUBLIC_URL, or MAILFERRY_GRAPH_REDIRECT_URI)")
    with http_client(opts) as http:
        app = sign_in_msal(settings, settings.sign_in, http)
        flow: dict[str, Any] = app.initiate_auth_code_flow(list(DELEGATED_SCOPES), redirect_uri=uri,
                                                           login_hint=login or None, response_mode="query")
    return str(flow["auth_uri"]), flow


def finish(opts: ConnectOptions, flow: dict[str, Any], query: dict[str, str],
           settings: GraphSettings | None = None) -> tuple[str, str]:
    """Redeem the redirect's code: (the token bundle, the signed-in login). AuthenticationFailed says why not."""
    settings = settings or process_settings()
    if settings.sign_in is None:
        raise ConfigError("sign-in with Microsoft is not configured on this service")
    if query.get("error"):
        raise AuthenticationFailed(f"Microsoft did not sign you in: {query['error'][:80]}")
    with http_client(opts) as http:
        app = sign_in_msal(settings, settings.sign_in, http)
        result = app.acquire_token_by_auth_code_flow(flow, query, scopes=list(DELEGATED_SCOPES))
    if "access_token" not in result:
        codes = result.get("error_codes") or []
        raise AuthenticationFailed(f"Microsoft refused the sign-in: {result.get('error', 'error')}"
                                   + (f" (AADSTS{codes[0]})" if codes else ""))
    for value in (result["access_token"], result.get("refresh_token") or ""):
        json_log.register_secret(str(value))
    claims = result.get("id_token_claims") or {}
    login = str(claims.get("preferred_username") or claims.get("upn") or "").strip()
    if not login or wire_text.has_control(login):
        raise AuthenticationFailed("Microsoft did not say which account signed in")
    return token_bundle(result, time.time()), login
