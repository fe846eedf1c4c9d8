"""`GET /{tenant}/oauth2/v2.0/authorize` (signs in a test user without a page and redirects with a code),
and the OpenID discovery documents a client such as msal reads first."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .aad import OIDC_SCOPES, AADAuthError, AuthCode, Tenant
from .ids import new_guid
from .token_endpoint import _graph_permission


class Redirect(Exception):
    """The authorize endpoint's answer: a 302 to this location."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def _redirect_error(redirect_uri: str, state: str | None, error: str, code: int, text: str) -> Redirect:
    params = {"error": error, "error_description": f"AADSTS{code}: {text}"}
    if state is not None:
        params["state"] = state
    return Redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}")


def authorize(tenant: Tenant, tenant_segment: str, query: dict[str, str]) -> Redirect:
    """Return the redirect (with a code or an OAuth error); raise AADAuthError when no redirect is allowed."""
    if not tenant.knows_tenant(tenant_segment) and tenant_segment.lower() not in ("common", "organizations"):
        raise AADAuthError("invalid_request", 90002, f"Tenant '{tenant_segment}' not found.")
    client_id = query.get("client_id", "")
    app = tenant.apps.get(client_id)
    if app is None:
        raise AADAuthError("unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found "
                                                          f"in the directory '{tenant.tenant_id}'.")
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        raise AADAuthError("invalid_request", 50011, f"The redirect URI '{redirect_uri}' specified in the request "
                                                     "does not match the redirect URIs configured for the "
                                                     f"application '{client_id}'.")
    state = query.get("state")
    if query.get("response_type") != "code":
        raise _redirect_error(redirect_uri, state, "unsupported_response_type", 700054,
                              f"response_type '{query.get('response_type')}' is not enabled for the application.")
    if query.get("response_mode", "query") != "query":
        raise _redirect_error(redirect_uri, state, "invalid_request", 900144,
                              "The emulator answers only with response_mode=query.")
    scopes = query.get("scope", "").split()
    if not [s for s in scopes if s not in OIDC_SCOPES]:
        raise _redirect_error(redirect_uri, state, "invalid_scope", 70011,
                              "The provided request must include a 'scope' input parameter.")
    challenge, method = query.get("code_challenge"), query.get("code_challenge_method", "plain")
    if challenge is None and app.require_pkce:
        raise _redirect_error(redirect_uri, state, "invalid_request", 9002325,
                              "Proof Key for Code Exchange is required for cross-origin authorization code "
                              "redemption.")
    if challenge is not None and method not in ("S256", "plain"):
        raise _redirect_error(redirect_uri, state, "invalid_request", 5002734,
                              f"Invalid code_challenge_method '{method}'.")
    try:
        wanted = {p for p in (_graph_permission(s) for s in scopes) if p}
    except AADAuthError as e:
        raise _redirect_error(redirect_uri, state, e.error, e.code, e.description) from e
    missing = sorted(wanted - app.delegated_permissions)
    if missing:
        raise _redirect_error(redirect_uri, state, "consent_required", 65001,
                              f"The user or administrator has not consented to use the application with ID "
                              f"'{client_id}'. Missing: {' '.join(missing)}.")
    user = (query.get("login_hint") or tenant.signed_in or "").lower()
    if user not in tenant.users:
        raise _redirect_error(redirect_uri, state, "login_required", 50058,
                              "A silent sign-in request was sent but no user is signed in.")
    code = tenant.new_code(AuthCode(client_id, redirect_uri, scopes, user, challenge,
                                    method if challenge else None, query.get("nonce"), tenant.clock.now()))
    params = {"code": code, "session_state": new_guid()}
    if state is not None:
        params["state"] = state
    return Redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{urlencode(params)}")


def openid_configuration(tenant: Tenant, base: str) -> dict[str, Any]:
    tid = tenant.tenant_id
    return {
        "issuer": f"{base}/{tid}/v2.0",
        "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
        "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "tenant_region_scope": "EU",
    }
