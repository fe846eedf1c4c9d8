"""HTTP to Graph and to the sign-in service through the network guard, with verified TLS.

Every host (Graph's, the authority's) is resolved and checked by :func:`shared.adapters.net.resolve`
once per session; the request then goes to exactly that address while TLS verifies the certificate
against the host name (httpcore's ``sni_hostname``), so DNS rebinding cannot redirect it and the
certificate check is not weakened. ``MAILFERRY_CA_FILE`` is trusted besides the system's store.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

from shared.adapters.net import ConnectOptions, resolve, tls_context
from shared.errors import MailferryError, TlsError, Transient


class PinnedTransport(httpx.BaseTransport):
    """An httpx transport that connects to the checked address of each host (one pool per host)."""

    def __init__(self, opts: ConnectOptions, verify: bool = True, max_connections: int = 8) -> None:
        self.opts = opts
        self.verify = verify
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._pinned: dict[tuple[str, int], str] = {}
        self._inner: dict[str, httpx.HTTPTransport] = {}

    def _address(self, host: str, port: int) -> str:
        with self._lock:
            known = self._pinned.get((host, port))
        if known is None:
            known = resolve(host, port, self.opts.allow)
            with self._lock:
                self._pinned[(host, port)] = known
        return known

    def _transport(self, host: str) -> httpx.HTTPTransport:
        with self._lock:
            found = self._inner.get(host)
            if found is None:
                found = self._inner[host] = httpx.HTTPTransport(
                    verify=tls_context(self.verify, self.opts.ca_file),
                    limits=httpx.Limits(max_connections=self.max_connections,
                                        max_keepalive_connections=self.max_connections))
            return found

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = self._address(host, port)
        request.url = request.url.copy_with(host=address)
        request.extensions = {**request.extensions, "sni_hostname": host}
        return self._transport(host).handle_request(request)

    def close(self) -> None:
        with self._lock:
            inner, self._inner = list(self._inner.values()), {}
        for t in inner:
            t.close()


def http_client(opts: ConnectOptions, verify: bool = True, max_connections: int = 8) -> httpx.Client:
    """A client whose every connection passes the network guard; no redirects followed, no proxies from the
    environment (a proxy would see the checked address's traffic decrypted by nobody, but be unchecked)."""
    return httpx.Client(transport=PinnedTransport(opts, verify, max_connections), follow_redirects=False,
                        trust_env=False, timeout=httpx.Timeout(opts.timeout, read=max(opts.timeout, 60.0)))


class MsalHttp:
    """msal's HTTP interface (``post``/``get`` returning a response with ``status_code``, ``text``,
    ``headers``) on a guarded client, so token requests pass the same checks as Graph requests."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any
             ) -> httpx.Response:
        if isinstance(data, str | bytes):
            return self.client.post(url, params=params, content=data, headers=headers,
                                    timeout=kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT))
        return self.client.post(url, params=params, data=data, headers=headers,
                                timeout=kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT))

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, params=params, headers=headers,
                               timeout=kwargs.get("timeout", httpx.USE_CLIENT_DEFAULT))

    def close(self) -> None:  # msal may call it
        pass


def transport_error(exc: httpx.TransportError, where: str) -> MailferryError:
    """A failed connection as our kind: an untrusted certificate is the account's problem (TlsError, the
    migration fails with it); anything else may pass (Transient, retried)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TlsError(f"TLS with {where} failed: the certificate is not trusted")
        cause = cause.__cause__ or cause.__context__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return TlsError(f"TLS with {where} failed: the certificate is not trusted")
    return Transient(f"{where} could not be reached ({type(exc).__name__})")
