"""The emulator's Entra ID (Azure AD) tenant: app registrations, signing key, access and refresh tokens."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from .clock import Clock
from .ids import new_guid, opaque_token

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


@dataclass
class AppRegistration:
    """An app registered in the tenant, with the permissions an administrator consented to."""

    client_id: str
    secret: str | None = None
    certificates: list[x509.Certificate] = field(default_factory=list)
    application_permissions: set[str] = field(default_factory=set)  # "roles" of app-only tokens
    delegated_permissions: set[str] = field(default_factory=set)  # consented "scp" of user tokens
    redirect_uris: set[str] = field(default_factory=set)
    public_client: bool = False
    require_pkce: bool = True


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: list[str]
    user: str
    challenge: str | None
    challenge_method: str | None
    nonce: str | None
    issued: float
    redeemed: bool = False


@dataclass
class RefreshGrant:
    client_id: str
    user: str
    scopes: list[str]
    last_used: float
    revoked: bool = False


@dataclass(frozen=True)
class Principal:
    """Who a Graph request acts as: an app alone, or an app on behalf of a signed-in user."""

    client_id: str
    user: str | None  # user principal name for delegated tokens
    permissions: frozenset[str]  # roles (app) or scp (delegated)

    @property
    def is_app(self) -> bool:
        return self.user is None


class AADAuthError(Exception):
    """An error of the token or authorize endpoint, answered in AADSTS form."""

    def __init__(self, error: str, code: int, description: str, status: int = 400) -> None:
        super().__init__(f"AADSTS{code}: {description}")
        self.error, self.code, self.description, self.status = error, code, description, status

    def body(self, now: float) -> dict[str, Any]:
        trace, corr = new_guid(), new_guid()
        stamp = datetime.fromtimestamp(now, UTC)
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description} Trace ID: {trace} Correlation ID: "
                                 f"{corr} Timestamp: {stamp.strftime('%Y-%m-%d %H:%M:%S')}Z",
            "error_codes": [self.code],
            "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }


class Tenant:
    """One Entra ID tenant: it registers apps and users, and issues and checks tokens on an injected clock."""

    def __init__(self, clock: Clock, domain: str = "example.test", token_lifetime: int = 3599,
                 refresh_inactivity: int = 90 * 86400, code_lifetime: int = 600) -> None:
        self.clock = clock
        self.tenant_id = new_guid()
        self.domains = {domain.lower()}
        self.token_lifetime = token_lifetime
        self.refresh_inactivity = refresh_inactivity
        self.code_lifetime = code_lifetime
        self.apps: dict[str, AppRegistration] = {}
        self.users: dict[str, str] = {}  # upn -> object id
        self.codes: dict[str, AuthCode] = {}
        self.refresh: dict[str, RefreshGrant] = {}
        self.signed_in: str | None = None  # the user /authorize signs in when no login_hint names one
        self.issuer_base = ""  # https://host:port, set when the server starts
        self._key = _signing_key()
        self.kid = opaque_token(12)
        self.tokens_issued = 0

    # -- registry ---------------------------------------------------------------------------
    def knows_tenant(self, segment: str) -> bool:
        return segment.lower() == self.tenant_id or segment.lower() in self.domains

    # -- access tokens ----------------------------------------------------------------------
    def issue_access_token(self, client_id: str, user: str | None, permissions: list[str]) -> str:
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "aud": GRAPH_RESOURCE, "iss": f"https://sts.windows.net/{self.tenant_id}/", "iat": now, "nbf": now,
            "exp": now + self.token_lifetime, "tid": self.tenant_id, "appid": client_id, "uti": opaque_token(16),
            "ver": "1.0", "idtyp": "app" if user is None else "user",
        }
        if user is None:
            claims["oid"] = new_guid()
            if permissions:
                claims["roles"] = sorted(permissions)
        else:
            claims.update(oid=self.users[user], upn=user, scp=" ".join(sorted(permissions)))
        self.tokens_issued += 1
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def check_access_token(self, token: str) -> Principal:
        """The principal of a bearer token; ValueError (with Graph's message) when it must be refused."""
        if not token:
            raise ValueError("Access token is empty.")
        if token.count(".") != 2:
            raise ValueError("IDX14100: JWT is not well formed, there are no dots (.).")
        try:
            claims = jwt.decode(token, self._key.public_key(), algorithms=["RS256"], audience=GRAPH_RESOURCE,
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
        except jwt.InvalidAudienceError as e:
            raise ValueError("Access token validation failure. Invalid audience.") from e
        except jwt.PyJWTError as e:
            raise ValueError("Access token validation failure.") from e
        if claims.get("tid") != self.tenant_id:
            raise ValueError("Access token validation failure. Invalid issuer.")
        if claims["exp"] <= self.clock.now():
            raise ValueError("Lifetime validation failed, the token is expired.")
        if claims["idtyp"] == "app":
            return Principal(claims["appid"], None, frozenset(claims.get("roles", [])))
        return Principal(claims["appid"], claims["upn"], frozenset(claims.get("scp", "").split()))

    def id_token(self, client_id: str, user: str, nonce: str | None) -> str:
        now = int(self.clock.now())
        claims = {
            "aud": client_id, "iss": f"{self.issuer_base}/{self.tenant_id}/v2.0", "iat": now, "nbf": now,
            "exp": now + 3600, "sub": opaque_token(24), "oid": self.users[user], "tid": self.tenant_id,
            "preferred_username": user, "name": user.split("@")[0], "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def client_info(self, user: str) -> str:
        raw = json.dumps({"uid": self.users[user], "utid": self.tenant_id}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def jwks(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64(numbers.n), "e": b64(numbers.e)}]}

    # -- grants -----------------------------------------------------------------------------
    def new_code(self, code: AuthCode) -> str:
        value = "0.A" + opaque_token(96)
        self.codes[value] = code
        return value

    def new_refresh_token(self, client_id: str, user: str, scopes: list[str]) -> str:
        value = "0.A" + opaque_token(160)
        self.refresh[value] = RefreshGrant(client_id, user, list(scopes), self.clock.now())
        return value

    def revoke_refresh_tokens(self, user: str) -> int:
        """What "revoke sessions" does to a user: every refresh token of the user stops working."""
        n = 0
        for grant in self.refresh.values():
            if grant.user == user.lower() and not grant.revoked:
                grant.revoked, n = True, n + 1
        return n


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    """One RSA key per process (generating one per emulator costs a tenth of a second); tokens still name
    their tenant, and an emulator refuses tokens of another."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(x5t, x5t#S256) of a certificate as they appear in a JWT header."""

    def enc(digest: bytes) -> str:
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    return enc(cert.fingerprint(hashes.SHA1())), enc(cert.fingerprint(hashes.SHA256()))  # noqa: S303


def new_secret() -> str:
    return secrets.token_urlsafe(30)
