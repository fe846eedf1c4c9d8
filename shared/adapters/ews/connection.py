"""The one place Exchange (EWS) connections are made: network guard, TLS, auth, throttling.

exchangelib talks through requests/urllib3. :class:`PinnedAdapter` makes every
one of its HTTP connections go to the address the network guard checked for
that host (a host never checked is refused), while TLS still verifies the
certificate against the host name — the same rule as for IMAP. An account given
``tls_verify: false`` (admitted by intake only where the operator allows it) gets
connections of its own that skip the certificate check (:class:`UnverifiedProtocol`).

Throttling: exchangelib's ``FaultTolerance`` policy honours ``ErrorServerBusy``
and its ``BackOffMilliseconds`` hint and retries transient errors with capped
back-off; the login check uses fail-fast so a wrong password answers at once.
During a migration (:class:`PatientPolicy`) a 401 is taken for throttling a few
times in a row only: a password changed meanwhile ends the work at once instead of
being retried for ``max_wait`` seconds on every request.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

from exchangelib import (
    BASIC,
    DELEGATE,
    OAUTH2,
    Account,
    Configuration,
    Credentials,
    FaultTolerance,
    OAuth2AuthorizationCodeCredentials,
    Version,
)
from exchangelib.errors import (
    ErrorServerBusy,
    RateLimitError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.protocol import BaseProtocol, FailFast, Protocol
from exchangelib.version import EXCHANGE_2016
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool

from shared.adapters.net import ConnectOptions, resolve
from shared.errors import (
    AuthenticationFailed,
    ConnectionCheckFailed,
    ProtocolError,
    ServerUnreachable,
    TlsError,
)
from shared.wire_text import UnsafeText

_lock = threading.Lock()
_options: ConnectOptions | None = None
_pinned: dict[tuple[str, int], str] = {}


_max_connections = 4


class PatientPolicy(FaultTolerance):  # type: ignore[misc]
    """exchangelib's patient policy, except that more than ``max_401`` 401 answers in a row are
    invalid credentials (Exchange answers 401 to throttle now and then, never for minutes)."""

    def __init__(self, max_wait: float, max_401: int = 1) -> None:
        super().__init__(max_wait=max_wait)
        self.max_401 = max_401
        self._401s = 0

    def raise_response_errors(self, response: Any) -> Any:
        if response.status_code == 401:
            self._401s += 1
            if self._401s > self.max_401:
                raise UnauthorizedError(f"Invalid credentials for {response.url}")
        elif response.status_code == 200:
            self._401s = 0
        return super().raise_response_errors(response)


def configure(opts: ConnectOptions, max_connections: int = 4) -> None:
    """Set once per process: the allow list and CA bundle the adapter checks with, and how many
    connections one process may hold to one Exchange server (MAILFERRY_EWS_MAX_CONNECTIONS)."""
    global _options, _max_connections
    with _lock:
        _options = opts
        _max_connections = max(1, max_connections)


def pin(host: str, port: int) -> str:
    """Resolve and check ``host`` once; later connections to it go to this address."""
    with _lock:
        opts = _options
        known = _pinned.get((host, port))
    if known:
        return known
    if opts is None:
        raise RuntimeError("ews_connection.configure() was not called")
    address = resolve(host, port, opts.allow)
    with _lock:
        _pinned[(host, port)] = address
    return address


class PinnedAdapter(HTTPAdapter):
    """Connect to the checked address; keep the name for the Host header, SNI and certificate check."""

    verify_tls = True

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                        cert: Any = None) -> HTTPConnectionPool:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = pin(host, port)
        opts = _options
        if not self.verify_tls:
            verify = False
        elif parts.scheme == "https" and opts is not None and opts.ca_file and verify is True:
            verify = opts.ca_file
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        host_params = {**host_params, "host": address}
        if parts.scheme == "https":
            pool_kwargs = {**pool_kwargs, "server_hostname": host, "assert_hostname": host if verify else False}
        request.headers["Host"] = parts.netloc
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify if self.verify_tls else False, cert)


class UnverifiedAdapter(PinnedAdapter):
    """The same, without certificate checks: only for an account given ``tls_verify: false``, which
    intake admits only where the operator allowed it (MAILFERRY_ALLOW_INSECURE_TLS)."""

    verify_tls = False


class UnverifiedProtocol(Protocol):  # type: ignore[misc]
    """exchangelib's Protocol with :class:`UnverifiedAdapter`. exchangelib shares one Protocol (and its
    connections) per endpoint and credentials; this one has a key of its own, so a verified and an
    unverified connection to one server never share a session."""

    HTTP_ADAPTER_CLS = UnverifiedAdapter

    @staticmethod
    def _cache_key(config: Configuration) -> tuple[Any, ...]:
        return config.service_endpoint, config.credentials, "tls-unverified"


BaseProtocol.HTTP_ADAPTER_CLS = PinnedAdapter


def service_url(host: str, port: int, security: str) -> str:
    scheme = "http" if security == "none" else "https"
    default = 80 if scheme == "http" else 443
    return f"{scheme}://{host}{'' if port == default else f':{port}'}/EWS/Exchange.asmx"


def basic_credentials(login: str, secret: str) -> Credentials:
    """HTTP Basic as requests sends it carries Latin-1 only: a login or password beyond it (``密码``, ``ł``) failed
    inside the request, and the user read "does not answer like an Exchange (EWS) server: UnicodeEncodeError".
    Refused before anything is sent, naming the field (found in a hostile review)."""
    for field, value in (("login", login), ("password", secret)):
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise UnsafeText(f"the {field} has characters that basic authentication cannot send to an Exchange "
                             f"server (Latin-1 only: é or ü, not 密 or ł); sign in with a token instead (auth "
                             f"oauth2)", field) from None
    if ":" in login:  # RFC 7617: the server would read the login up to it, and the rest as the password
        raise UnsafeText("the login has a colon (:), which basic authentication cannot send to an Exchange server",
                         "login")
    return Credentials(login, secret)


def connect_ews(host: str, port: int, security: str, login: str, secret: str, *, auth: str = "basic",
                fail_fast: bool = False, max_wait: float = 600.0, tls_verify: bool = True) -> Account:
    """An exchangelib Account for ``login``; ``secret`` is the password, or the OAuth2 access token.

    ``tls_verify=False`` turns the certificate check off for this account's connections only (intake
    refuses it unless the operator allowed insecure TLS)."""
    if auth == "oauth2":
        credentials: Any = OAuth2AuthorizationCodeCredentials(
            access_token={"access_token": secret, "token_type": "Bearer", "expires_in": 3600})
        auth_type = OAUTH2
    else:
        credentials = basic_credentials(login, secret)
        auth_type = BASIC
    policy = FailFast() if fail_fast else PatientPolicy(max_wait=max_wait)
    config = Configuration(service_endpoint=service_url(host, port, security), credentials=credentials,
                           auth_type=auth_type, version=Version(build=EXCHANGE_2016), retry_policy=policy,
                           max_connections=_max_connections)
    account = Account(login, config=config, autodiscover=False, access_type=DELEGATE)
    if not tls_verify and security != "none":
        account.protocol = UnverifiedProtocol(config=config)
    return account


def check_login(host: str, port: int, security: str, login: str, secret: str, auth: str = "basic",
                attempts: int = 4, sleep: Any = time.sleep, tls_verify: bool = True) -> None:
    """Log in and read the inbox's id: errors by kind, never echoing the secret.

    Fail-fast (a wrong password must answer at once; exchangelib's patient policy
    would take a 401 for "busy"), but a busy server gets a few tries with its own
    back-off hint.
    """
    where = f"{host}:{port}"
    for attempt in range(attempts):
        try:
            pin(host, port)
            account = connect_ews(host, port, security, login, secret, auth=auth, fail_fast=True,
                                  tls_verify=tls_verify)
            _ = account.inbox.id
            return
        except UnauthorizedError:
            raise AuthenticationFailed(f"{host} refused the login or password for {login}") from None
        except (ErrorServerBusy, RateLimitError) as exc:
            if attempt == attempts - 1:
                raise ServerUnreachable(f"{where} is busy (throttling); try again in a minute") from None
            hint = getattr(exc, "back_off", None) or 1.0
            sleep(min(float(hint), 10.0))
        except TransportError as exc:
            text = str(exc)
            if "SSL" in text or "certificate" in text.lower():
                raise TlsError(f"TLS with {where} failed: the certificate is not trusted") from None
            raise ServerUnreachable(f"cannot reach the Exchange server {where}") from None
        except ConnectionCheckFailed:
            raise
        except Exception as exc:  # exchangelib raises many kinds; the user needs one plain sentence
            kind = type(exc).__name__
            raise ProtocolError(f"{where} does not answer like an Exchange (EWS) server: {kind}") from None
