"""The EwsEmulator: a real HTTP server speaking EWS SOAP to exchangelib."""

from __future__ import annotations

import base64
import logging
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import attachments, autodiscover, directory, folders, items, oof, rules
from .soap import EwsError, envelope_with, fault_envelope, local, parse_request, schema_error
from .store import Mailbox
from .throttle import Throttle

log = logging.getLogger(__name__)

EWS_PATH = "/EWS/Exchange.asmx"

Handler = Callable[["Context", Any], Any]

# Every operation the emulator implements. Anything else is refused (never a pretend success).
OPERATIONS: dict[str, Handler] = {
    **folders.OPERATIONS,
    **items.OPERATIONS,
    **attachments.OPERATIONS,
    **oof.OPERATIONS,
    **rules.OPERATIONS,
    **directory.OPERATIONS,
}


@dataclass
class Context:
    """What an operation handler gets: the emulator, the authenticated principal and its mailbox."""

    emulator: EwsEmulator
    login: str | None
    mailbox: Mailbox  # the mailbox the request acts on (own, or impersonated)
    api_version: str | None

    def resolve_mailbox(self, smtp: str | None) -> Mailbox:
        """A mailbox named in the request (DistinguishedFolderId/Mailbox etc.), checking access."""
        if not smtp or smtp.lower() == self.mailbox.smtp:
            return self.mailbox
        target = self.emulator.mailboxes.get(smtp.lower())
        if target is None:
            raise EwsError("ErrorNonExistentMailbox", f"No mailbox with such guid or SMTP address: {smtp}")
        if self.login is None or smtp.lower() not in self.emulator.delegates.get(self.login, set()):
            raise EwsError(
                "ErrorAccessDenied", f"Access is denied. Check credentials and try again ({smtp})."
            )
        return target

    def mailbox_by_number(self, number: int) -> Mailbox:
        for mbx in self.emulator.mailboxes.values():
            if mbx.number == number:
                return self.resolve_mailbox(mbx.smtp)
        raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")


class EwsEmulator:
    """In-memory Exchange 2016 EWS endpoint for tests.

    >>> with EwsEmulator() as emu:
    ...     emu.add_mailbox("alice@example.test", "pw")
    ...     emu.url  # http://127.0.0.1:<port>/EWS/Exchange.asmx
    """

    def __init__(self, locale: str = "en", host: str = "127.0.0.1",
                 tls: tuple[str | Path, str | Path] | None = None) -> None:
        """``tls``: (certificate, key) PEM files; the endpoint is then served over HTTPS."""
        self.locale = locale
        self.host = host
        self.tls = tls
        self.mailboxes: dict[str, Mailbox] = {}
        self.tokens: dict[
            str, str | None
        ] = {}  # bearer token -> mailbox smtp (None = app token, impersonates)
        self.delegates: dict[str, set[str]] = {}  # login -> mailboxes it may open
        self.impersonators: set[str] = set()
        self.distribution_lists: dict[str, list[str]] = {}  # public DL address -> member addresses
        self.lock = threading.RLock()
        self.requests_served = 0
        self.busy_answers = 0
        self.unauthorized_answers = 0
        self.operations_served: Counter[str] = Counter()
        self._throttle = Throttle()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> EwsEmulator:
        emulator = self

        class _Handler(_RequestHandler):
            emu = emulator

        self._httpd = ThreadingHTTPServer((self.host, 0), _Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="ews-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EwsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("emulator not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + EWS_PATH

    # -- test API --------------------------------------------------------------
    def add_mailbox(self, smtp: str, password: str | None = None, locale: str | None = None) -> Mailbox:
        with self.lock:
            key = smtp.lower()
            if key in self.mailboxes:
                raise ValueError(f"mailbox {smtp} exists")
            mbx = Mailbox(len(self.mailboxes) + 1, key, password, locale or self.locale)
            self.mailboxes[key] = mbx
            return mbx

    def mailbox(self, login: str) -> Mailbox:
        return self.mailboxes[login.lower()]

    def add_token(self, token: str, mailbox: str | None = None) -> None:
        """Accept `Authorization: Bearer <token>`: for one mailbox, or (mailbox=None) an app token
        that must name the mailbox with an ExchangeImpersonation header."""
        self.tokens[token] = mailbox.lower() if mailbox else None

    def grant(self, login: str, mailbox: str) -> None:
        """Delegate access: `login` may open `mailbox`."""
        self.delegates.setdefault(login.lower(), set()).add(mailbox.lower())

    def add_distribution_list(self, address: str, members: list[str]) -> None:
        """A public (directory) distribution list, for ExpandDL / ResolveNames."""
        self.distribution_lists[address.lower()] = list(members)

    def throttle(self, every_n: int = 0, backoff_ms: int = 500, operations: set[str] | None = None) -> None:
        """Answer every Nth request with ErrorServerBusy (every_n=0 turns throttling off)."""
        self._throttle = Throttle(every_n, backoff_ms, operations)

    # -- request handling --------------------------------------------------------
    def authenticate(self, header: str | None) -> tuple[str | None, Mailbox | None, bool]:
        """(login, mailbox, is_app_token); raises PermissionError when credentials are wrong."""
        if not header:
            raise PermissionError("no credentials")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except ValueError as e:
                raise PermissionError("bad basic header") from e
            mbx = self.mailboxes.get(login.lower())
            if mbx is None or mbx.password is None or mbx.password != password:
                raise PermissionError("wrong login or password")
            return mbx.smtp, mbx, False
        if scheme.lower() == "bearer":
            token = value.strip()
            if token not in self.tokens:
                raise PermissionError("unknown token")
            owner = self.tokens[token]
            return owner, (self.mailboxes[owner] if owner else None), owner is None
        raise PermissionError(f"unsupported auth scheme {scheme}")

    def handle_soap(self, auth: tuple[str | None, Mailbox | None, bool], body: bytes) -> tuple[int, bytes]:
        login, own, is_app = auth
        api_version = None
        try:
            req = parse_request(body)
            api_version = req.api_version
            op_name = local(req.operation)
            with self.lock:
                self.requests_served += 1
                self.operations_served[op_name] += 1
            self._throttle.check(op_name)
            handler = OPERATIONS.get(op_name)
            if handler is None:
                raise schema_error(
                    f"The element 'Body' has invalid child element '{op_name}': "
                    "operation not implemented by the EWS emulator."
                )
            mailbox = own
            if req.impersonated:
                if not is_app and login not in self.impersonators:
                    raise EwsError(
                        "ErrorImpersonateUserDenied",
                        "The account does not have permission to impersonate the requested user.",
                        fault=True,
                    )
                mailbox = self.mailboxes.get(req.impersonated.lower())
                if mailbox is None:
                    raise EwsError(
                        "ErrorNonExistentMailbox",
                        f"The SMTP address has no mailbox associated with it: {req.impersonated}",
                        fault=True,
                    )
            if mailbox is None:
                raise EwsError(
                    "ErrorMissingEmailAddress",
                    "An app token must name a mailbox with ExchangeImpersonation.",
                    fault=True,
                )
            ctx = Context(self, login or mailbox.smtp, mailbox, api_version)
            with self.lock:
                payload = handler(ctx, req.operation)
            return 200, envelope_with(payload, api_version)
        except EwsError as e:
            if e.code == "ErrorServerBusy":
                with self.lock:
                    self.busy_answers += 1
            if not e.fault:
                # A message-level error escaping a handler means the whole request is bad.
                e.fault = True
            log.debug("EWS fault %s", e)
            return 500, fault_envelope(e, api_version)
        except Exception as e:  # a bug in the emulator: say so loudly instead of hanging the client
            log.exception("EWS emulator failure")
            err = EwsError(
                "ErrorInternalServerError", f"EWS emulator bug: {type(e).__name__}: {e}", fault=True
            )
            return 500, fault_envelope(err, api_version)


class _RequestHandler(BaseHTTPRequestHandler):
    emu: EwsEmulator
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/xml; charset=utf-8",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _unauthorized(self) -> None:
        with self.emu.lock:
            self.emu.unauthorized_answers += 1
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Basic realm="{self.emu.host}"')
        self.send_header(
            "WWW-Authenticate",
            'Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"',
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0].lower()
        try:
            auth = self.emu.authenticate(self.headers.get("Authorization"))
        except PermissionError:
            self._unauthorized()
            return
        if path == EWS_PATH.lower():
            status, payload = self.emu.handle_soap(auth, body)
            self._send(status, payload)
        elif path == autodiscover.POX_PATH:
            status, payload = autodiscover.handle_pox(self.emu, auth, body)
            self._send(status, payload)
        else:
            self._send(404, b"Not Found", "text/plain")

    def do_GET(self) -> None:
        self._read_body()
        # Exchange answers GET on the EWS endpoint with the service description; the emulator has none.
        self._send(405 if self.path.split("?", 1)[0].lower() == EWS_PATH.lower() else 404, b"", "text/plain")
