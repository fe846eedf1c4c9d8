"""`POST /{tenant}/oauth2/v2.0/token`: client credentials (secret or certificate assertion), authorization
code with PKCE, and refresh token grants, answering like login.microsoftonline.com (AADSTS errors)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt

from .aad import GRAPH_RESOURCE, OIDC_SCOPES, AADAuthError, AppRegistration, Tenant, thumbprints

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise AADAuthError("invalid_request", 900144, f"The request body must contain the following parameter: "
                                                      f"'{name}'.")
    return value


def token(tenant: Tenant, tenant_segment: str, endpoint_url: str, form: dict[str, str]) -> dict[str, Any]:
    """Answer a token request (form fields already decoded) or raise AADAuthError."""
    if not tenant.knows_tenant(tenant_segment) and tenant_segment.lower() not in ("common", "organizations"):
        raise AADAuthError("invalid_request", 90002, f"Tenant '{tenant_segment}' not found. Check to make sure you "
                                                     "have the correct tenant ID and are signing into the correct "
                                                     "cloud.")
    grant = _required(form, "grant_type")
    client_id = _required(form, "client_id")
    app = tenant.apps.get(client_id)
    if app is None:
        raise AADAuthError("unauthorized_client", 700016, f"Application with identifier '{client_id}' was not "
                                                          f"found in the directory '{tenant.tenant_id}'.")
    if grant == "client_credentials":
        if not tenant.knows_tenant(tenant_segment):
            raise AADAuthError("invalid_request", 900023, "Specified tenant identifier 'common' is neither a valid "
                                                          "DNS name, nor a valid external domain.")
        _authenticate_client(tenant, app, form, endpoint_url)
        return _client_credentials(tenant, app, form)
    if grant == "authorization_code":
        return _authorization_code(tenant, app, form, endpoint_url)
    if grant == "refresh_token":
        return _refresh(tenant, app, form, endpoint_url)
    raise AADAuthError("unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


def _authenticate_client(tenant: Tenant, app: AppRegistration, form: dict[str, str], endpoint_url: str) -> None:
    secret, assertion = form.get("client_secret"), form.get("client_assertion")
    if secret is None and assertion is None:
        if app.public_client:
            return
        raise AADAuthError("invalid_client", 7000218, "The request body must contain the following parameter: "
                                                      "'client_assertion' or 'client_secret'.", 401)
    if secret is not None:
        if app.secret is None or not hmac.compare_digest(secret, app.secret):
            raise AADAuthError("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being "
                                                          "sent in the request is the client secret value, not the "
                                                          f"client secret ID, for a secret added to app "
                                                          f"'{app.client_id}'.", 401)
        return
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise AADAuthError("invalid_request", 50027, "Invalid JWT token. The client_assertion_type must be "
                                                     f"'{ASSERTION_TYPE}'.")
    _check_assertion(tenant, app, str(assertion), endpoint_url)


def _check_assertion(tenant: Tenant, app: AppRegistration, assertion: str, endpoint_url: str) -> None:
    """A certificate credential: a JWT signed with a key whose certificate is registered on the app."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as e:
        raise AADAuthError("invalid_client", 50027, "Invalid JWT token. Token format not valid.", 401) from e
    cert = None
    sent_x5t = str(header.get("x5t", "")).rstrip("=")  # with or without base64 padding, as clients differ
    sent_x5t256 = str(header.get("x5t#S256", "")).rstrip("=")
    for c in app.certificates:
        x5t, x5t256 = thumbprints(c)
        if sent_x5t256 == x5t256 or sent_x5t == x5t:
            cert = c
    if cert is None:
        raise AADAuthError("invalid_client", 700027, "The certificate with identifier used to sign the client "
                                                     f"assertion is not registered on application. [Reason - The key "
                                                     f"was not found.] app '{app.client_id}'", 401)
    if header.get("alg") not in ("RS256", "PS256"):
        raise AADAuthError("invalid_client", 5002738, f"Invalid JWT token. '{header.get('alg')}' is not a "
                                                      "supported signature algorithm.", 401)
    try:
        claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                            audience=endpoint_url, options={"verify_exp": False, "verify_nbf": False,
                                                            "verify_iat": False, "require": ["aud", "exp", "iss",
                                                                                             "sub", "jti"]})
    except jwt.InvalidAudienceError as e:
        raise AADAuthError("invalid_client", 700212, "Client assertion audience claim does not match the token "
                                                     f"endpoint '{endpoint_url}'.", 401) from e
    except jwt.MissingRequiredClaimError as e:
        raise AADAuthError("invalid_client", 50027, f"Invalid JWT token. {e}", 401) from e
    except jwt.PyJWTError as e:
        raise AADAuthError("invalid_client", 700027, "Client assertion failed signature validation.", 401) from e
    if claims["iss"] != app.client_id or claims["sub"] != app.client_id:
        raise AADAuthError("invalid_client", 700021, "Client assertion application identifier doesn't match "
                                                     "'client_id' parameter.", 401)
    now = tenant.clock.now()
    if claims["exp"] <= now - 300 or claims.get("nbf", now) > now + 300:
        raise AADAuthError("invalid_client", 700024, "Client assertion is not within its valid time range.", 401)


def _graph_permission(scope: str) -> str | None:
    """'Mail.ReadWrite' for 'https://graph.microsoft.com/Mail.ReadWrite' or 'Mail.ReadWrite'; None for OIDC ones."""
    if scope in OIDC_SCOPES:
        return None
    if scope.lower().startswith(GRAPH_RESOURCE + "/"):
        return scope[len(GRAPH_RESOURCE) + 1:]
    if "/" in scope or ":" in scope:
        raise AADAuthError("invalid_resource", 500011, f"The resource principal named {scope.rsplit('/', 1)[0]} "
                                                       "was not found in the tenant.")
    return scope


def _client_credentials(tenant: Tenant, app: AppRegistration, form: dict[str, str]) -> dict[str, Any]:
    scope = _required(form, "scope").strip()
    if scope.rstrip("/") != GRAPH_RESOURCE + "/.default" and scope != GRAPH_RESOURCE + "//.default":
        if scope.endswith("/.default"):
            raise AADAuthError("invalid_resource", 500011, f"The resource principal named "
                                                           f"{scope[:-len('/.default')]} was not found in the tenant.")
        raise AADAuthError("invalid_scope", 1002012, f"The provided value for scope {scope} is not valid. Client "
                                                     "credential flows must have a scope value with /.default "
                                                     "suffixed to the resource identifier (application ID URI).")
    access = tenant.issue_access_token(app.client_id, None, sorted(app.application_permissions))
    return {"token_type": "Bearer", "expires_in": tenant.token_lifetime, "ext_expires_in": tenant.token_lifetime,
            "access_token": access}


def _user_tokens(tenant: Tenant, app: AppRegistration, user: str, scopes: list[str], form: dict[str, str],
                 nonce: str | None) -> dict[str, Any]:
    granted = [p for p in (_graph_permission(s) for s in scopes) if p]
    out: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join([*granted, *[s for s in scopes if s in OIDC_SCOPES]]),
        "expires_in": tenant.token_lifetime,
        "ext_expires_in": tenant.token_lifetime,
        "access_token": tenant.issue_access_token(app.client_id, user, granted),
    }
    if "offline_access" in scopes:
        out["refresh_token"] = tenant.new_refresh_token(app.client_id, user, scopes)
    if "openid" in scopes:
        out["id_token"] = tenant.id_token(app.client_id, user, nonce)
    if form.get("client_info") == "1":
        out["client_info"] = tenant.client_info(user)
    return out


def _authorization_code(tenant: Tenant, app: AppRegistration, form: dict[str, str], url: str) -> dict[str, Any]:
    value = _required(form, "code")
    redirect_uri = _required(form, "redirect_uri")
    _authenticate_client(tenant, app, form, url)
    code = tenant.codes.get(value)
    if code is None or code.client_id != app.client_id:
        raise AADAuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if code.redeemed:
        raise AADAuthError("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry "
                                                   "with a new valid code or use an existing refresh token.")
    if tenant.clock.now() - code.issued > tenant.code_lifetime:
        raise AADAuthError("invalid_grant", 70008, "The provided authorization code or refresh token has expired "
                                                   "due to inactivity. Send a new interactive authorization request "
                                                   "for this user and resource.")
    if redirect_uri != code.redirect_uri:
        raise AADAuthError("invalid_grant", 50011, f"The redirect URI '{redirect_uri}' specified in the request "
                                                   "does not match the redirect URIs configured for the application "
                                                   f"'{app.client_id}'.")
    if code.challenge is not None:
        verifier = form.get("code_verifier", "")
        if code.challenge_method == "S256":
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        else:
            computed = verifier
        if not verifier or not hmac.compare_digest(computed, code.challenge):
            raise AADAuthError("invalid_grant", 50148, "The code_verifier does not match the code_challenge "
                                                       "supplied in the authorization request for PKCE.")
    code.redeemed = True
    return _user_tokens(tenant, app, code.user, code.scopes, form, code.nonce)


def _refresh(tenant: Tenant, app: AppRegistration, form: dict[str, str], url: str) -> dict[str, Any]:
    value = _required(form, "refresh_token")
    _authenticate_client(tenant, app, form, url)
    grant = tenant.refresh.get(value)
    if grant is None or grant.client_id != app.client_id:
        raise AADAuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if grant.revoked:
        raise AADAuthError("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh "
                                                   "auth token is needed. The user might have changed or reset their "
                                                   "password.")
    now = tenant.clock.now()
    if now - grant.last_used > tenant.refresh_inactivity:
        raise AADAuthError("invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was "
                                                    "issued and was inactive for the configured lifetime.")
    grant.last_used = now
    scopes = grant.scopes
    if form.get("scope"):
        asked = form["scope"].split()
        allowed = {_graph_permission(s) for s in grant.scopes} | set(grant.scopes)
        extra = [s for s in asked if s not in allowed and _graph_permission(s) not in allowed]
        if extra:
            raise AADAuthError("invalid_grant", 65001, f"The user or administrator has not consented to use the "
                                                       f"application with ID '{app.client_id}'. Send an interactive "
                                                       f"authorization request for this user and resource "
                                                       f"({' '.join(extra)}).")
        scopes = asked
    return _user_tokens(tenant, app, grant.user, scopes, form, None)
