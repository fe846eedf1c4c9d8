"""The operator's Graph settings: where Graph and the sign-in service are, the tenants' apps, the limits.

Read from the environment once per process (every replica gets the same ConfigMap and Secret). The
base URLs can point at another cloud, or at the test emulator; the request never names them, so a
user cannot make mailferry talk to a server of their choosing.

The tenants file (``MAILFERRY_GRAPH_TENANTS``) is JSON, usually mounted from a Kubernetes Secret::

    {"contoso.com": {"tenant_id": "…", "client_id": "…", "client_secret": "…"},
     "fabrikam.example": {"tenant_id": "…", "client_id": "…",
                          "certificate_file": "/secrets/fabrikam.pem", "certificate_thumbprint": "AB12…"}}

A key is a mail domain; every domain of one tenant is listed (``"aliases": ["contoso.onmicrosoft.com"]``
in an entry adds more). ``client_secret_file`` reads the secret from a file instead.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shared.errors import ConnectionCheckFailed

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
#: What an end user's sign-in asks for (delegated): read their mail, contacts, calendars, tasks, settings.
DELEGATED_SCOPES = ("https://graph.microsoft.com/Mail.ReadWrite", "https://graph.microsoft.com/Contacts.ReadWrite",
                    "https://graph.microsoft.com/Calendars.ReadWrite", "https://graph.microsoft.com/Tasks.ReadWrite",
                    "https://graph.microsoft.com/MailboxSettings.ReadWrite", "https://graph.microsoft.com/User.Read")


class ConfigError(ConnectionCheckFailed):
    """The operator's Graph configuration is missing or wrong (never names a secret)."""

    code = "not_configured"


@dataclass(frozen=True)
class TenantApp:
    """The operator's app registration in one tenant (client credentials, admin consent)."""

    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    certificate_pem: str = field(default="", repr=False)  # private key (and certificate) in PEM
    certificate_thumbprint: str = ""  # SHA-1 hex, as the portal shows it

    @property
    def credential(self) -> str | dict[str, str]:
        """msal's ``client_credential``: the secret, or the certificate."""
        if self.certificate_pem:
            return {"private_key": self.certificate_pem, "thumbprint": self.certificate_thumbprint}
        return self.client_secret


@dataclass(frozen=True)
class SignInApp:
    """The operator's app for end users' own sign-in (authorization code with PKCE, delegated)."""

    client_id: str
    client_secret: str = field(default="", repr=False)  # set: a confidential web app; empty: a public client
    tenant: str = "organizations"  # which accounts may sign in: organizations, a tenant id, common
    redirect_uri: str = ""  # intake's /api/v1/sign-in/graph/redirect as the browser reaches it (registered on the app)


@dataclass(frozen=True)
class GraphSettings:
    graph_url: str = DEFAULT_GRAPH_URL
    authority: str = DEFAULT_AUTHORITY
    tenants: Mapping[str, TenantApp] = field(default_factory=dict, repr=False)
    sign_in: SignInApp | None = None
    concurrency: int = 4  # requests in flight per app and mailbox, across replicas
    requests: int = 10_000  # requests per window per app and mailbox
    window: float = 600.0
    redis_url: str = ""  # where the shared budget and delta checkpoints live ("": this process only)
    max_retry_after: float = 300.0  # longest Retry-After honoured as given (longer: retried later)

    @property
    def graph_host(self) -> tuple[str, int]:
        return _host_port(self.graph_url)

    def tenant_for(self, login: str) -> TenantApp:
        """The operator's app for the tenant of ``login``'s domain; ConfigError when there is none."""
        domain = login.rpartition("@")[2].strip().lower()
        found = self.tenants.get(domain)
        if found is None:
            raise ConfigError(f"no Microsoft 365 app is configured for {domain or 'this login'}'s tenant "
                              "(MAILFERRY_GRAPH_TENANTS); sign in with Microsoft instead, or ask the operator")
        return found

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GraphSettings:
        e = os.environ if env is None else env
        graph_url = (e.get("MAILFERRY_GRAPH_URL", "").strip() or DEFAULT_GRAPH_URL).rstrip("/")
        authority = (e.get("MAILFERRY_GRAPH_AUTHORITY", "").strip() or DEFAULT_AUTHORITY).rstrip("/")
        for name, url in (("MAILFERRY_GRAPH_URL", graph_url), ("MAILFERRY_GRAPH_AUTHORITY", authority)):
            if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).hostname:
                raise ConfigError(f"{name} must be an https URL")
        path = e.get("MAILFERRY_GRAPH_TENANTS", "").strip()
        sign_in = None
        if e.get("MAILFERRY_GRAPH_CLIENT_ID", "").strip():
            sign_in = SignInApp(client_id=e["MAILFERRY_GRAPH_CLIENT_ID"].strip(),
                                client_secret=e.get("MAILFERRY_GRAPH_CLIENT_SECRET", "").strip(),
                                tenant=e.get("MAILFERRY_GRAPH_SIGNIN_TENANT", "").strip() or "organizations",
                                redirect_uri=e.get("MAILFERRY_GRAPH_REDIRECT_URI", "").strip())
        # No file at the path: no operator app (Kubernetes mounts the optional tenants Secret as an empty
        # folder when the operator has not created it); every tenant then answers "not configured".
        tenants = load_tenants(path) if path and Path(path).exists() else {}
        return cls(graph_url=graph_url, authority=authority, tenants=tenants,
                   sign_in=sign_in, concurrency=_positive_int(e, "MAILFERRY_GRAPH_CONCURRENCY", 4),
                   requests=_positive_int(e, "MAILFERRY_GRAPH_REQUESTS", 10_000),
                   window=float(_positive_int(e, "MAILFERRY_GRAPH_WINDOW_SECONDS", 600)),
                   redis_url=e.get("MAILFERRY_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1")
    return value


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"MAILFERRY_GRAPH_TENANTS: cannot read the {what} file {path}: {exc.strerror}") from None


def load_tenants(path: str) -> dict[str, TenantApp]:
    """Mail domain (lower case) → the operator's app in that domain's tenant."""
    try:
        raw = json.loads(_read(path, "tenants"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"MAILFERRY_GRAPH_TENANTS: {path} is not JSON (line {exc.lineno})") from None
    if not isinstance(raw, dict):
        raise ConfigError("MAILFERRY_GRAPH_TENANTS: the file must hold an object keyed by mail domain")
    out: dict[str, TenantApp] = {}
    for domain, entry in raw.items():
        if not isinstance(entry, dict) or not entry.get("tenant_id") or not entry.get("client_id"):
            raise ConfigError(f"MAILFERRY_GRAPH_TENANTS: {domain} needs tenant_id and client_id")
        secret = str(entry.get("client_secret") or "")
        if entry.get("client_secret_file"):
            secret = _read(str(entry["client_secret_file"]), "secret").strip()
        pem = _read(str(entry["certificate_file"]), "certificate") if entry.get("certificate_file") else ""
        if not secret and not pem:
            raise ConfigError(f"MAILFERRY_GRAPH_TENANTS: {domain} needs client_secret(_file) or certificate_file")
        if pem and not entry.get("certificate_thumbprint"):
            raise ConfigError(f"MAILFERRY_GRAPH_TENANTS: {domain} needs the certificate_thumbprint of its certificate")
        app = TenantApp(tenant_id=str(entry["tenant_id"]), client_id=str(entry["client_id"]), client_secret=secret,
                        certificate_pem=pem, certificate_thumbprint=str(entry.get("certificate_thumbprint") or ""))
        for name in [domain, *(entry.get("aliases") or [])]:
            out[str(name).strip().lower()] = app
    return out


@functools.lru_cache(maxsize=1)
def process_settings() -> GraphSettings:
    """The settings of this process (read once; the tests build their own)."""
    return GraphSettings.from_env()
