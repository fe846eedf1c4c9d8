"""The one place IMAP connections are made: network guard, TLS, login, errors by kind.

The host is resolved and checked once and the socket goes to exactly that address
(:mod:`shared.adapters.net`), while TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from typing import cast

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from shared import wire_text
from shared.adapters.imap.errors import busy
from shared.adapters.net import ConnectOptions, resolve, tls_context
from shared.adapters.session_end import close_after_server
from shared.errors import (
    AuthenticationFailed,
    ProtocolError,
    ServerBusy,
    ServerUnreachable,
    TlsError,
)


class _PinnedPlain(imaplib.IMAP4):
    """Plain IMAP to a pre-checked address; ``host`` stays the name for STARTTLS."""

    #: The longest answer line read, imaplib's own 1 MB: a server cannot make a session hold more.
    #: A session that must read longer ones (the extractor's listing) raises it on its instance.
    max_line = 1_000_000

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        self._address = address
        self._connect_timeout = timeout
        self._greeted = False
        super().__init__(host, port, timeout=timeout)

    def _get_capabilities(self) -> None:
        """At connect, the capabilities the greeting announced (``* OK [CAPABILITY …]``, as Dovecot and most
        servers send them): imaplib would ask again, a round trip before every login. Asked when the greeting
        named none, and always after STARTTLS (what came before TLS is not believed)."""
        announced = self.untagged_responses.pop("CAPABILITY", None)
        if not self._greeted:
            self._greeted = True
            words = announced[-1] if announced else None
            if isinstance(words, bytes) and words.strip():
                self.capabilities = tuple(words.decode("ascii", "replace").upper().split())
                return
        super()._get_capabilities()  # type: ignore[misc]  # imaplib's own, not in its stubs

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), timeout or self._connect_timeout)
        # A command is often written in pieces (line, literal, line): without this, Nagle's algorithm
        # holds the last piece until the server's delayed ACK, ~40 ms per command.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def readline(self) -> bytes:
        line = cast(bytes, self.file.readline(self.max_line + 1))
        if len(line) > self.max_line:
            raise self.error(f"got more than {self.max_line} bytes")
        return line

    def shutdown(self) -> None:
        """Closed once the server has closed its side (after LOGOUT, which imaplib's ``logout`` ends with, or
        after our half-close when the session is dropped): the session's lease goes back only after this."""
        with contextlib.suppress(Exception):
            self.file.close()
        close_after_server(getattr(self, "sock", None))


class _PinnedTls(_PinnedPlain):
    """Implicit TLS (port 993 style) to a pre-checked address, verified against the name."""

    def __init__(self, host: str, address: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(host, address, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = super()._create_socket(timeout)
        return self._context.wrap_socket(sock, server_hostname=self.host)


class PinnedIMAPClient(IMAPClient):  # type: ignore[misc]
    """IMAPClient whose socket goes to the address the network guard checked."""

    def __init__(self, host: str, address: str, port: int, implicit_tls: bool,
                 context: ssl.SSLContext, timeout: float) -> None:
        self._address = address
        self._pinned_context = context
        super().__init__(host, port=port, ssl=implicit_tls, ssl_context=context, timeout=timeout)
        # imapclient turns imaplib's debug level to 5, which makes imaplib format every response,
        # message bodies included, into a log string that is then thrown away: over half of the
        # CPU a FETCH costs. Protocol traces would also carry mail content into logs.
        self._imap.debug = 0

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = float(getattr(self._timeout, "connect", None) or 15.0)
        if self.ssl:
            return _PinnedTls(self.host, self._address, self.port, timeout, self._pinned_context)
        return _PinnedPlain(self.host, self._address, self.port, timeout)


def open_imap(host: str, port: int, security: str, tls_verify: bool, opts: ConnectOptions) -> IMAPClient:
    """Connect (no login yet). Raises ServerUnreachable, TlsError or ProtocolError."""
    address = resolve(host, port, opts.allow)
    context = tls_context(tls_verify, opts.ca_file)
    where = f"{host}:{port}"
    try:
        client = PinnedIMAPClient(host, address, port, security == "tls", context, opts.timeout)
        if security == "starttls":
            _starttls(client, context)
    except ssl.SSLCertVerificationError as exc:
        raise TlsError(f"the TLS certificate of {where} is not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise TlsError(f"TLS with {where} failed: {exc.reason or exc}") from None
    except ConnectionRefusedError:
        raise ServerUnreachable(f"{where} refused the connection") from None
    except TimeoutError:
        raise ServerUnreachable(f"{where} did not answer in time") from None
    except OSError as exc:
        raise ServerUnreachable(f"cannot reach {where}: {exc.strerror or exc}") from None
    except imaplib.IMAP4.abort as exc:  # the connection dropped before the greeting was whole: try again
        raise ServerUnreachable(f"{where} closed the connection: {str(exc)[:200]}") from None
    except (imaplib.IMAP4.error, IMAPClientError) as exc:
        msg = str(exc)
        if security == "starttls" and "STARTTLS" in msg.upper():
            raise TlsError(f"{where} does not offer STARTTLS") from None
        raise ProtocolError(f"{where} does not speak IMAP as expected: {msg[:200]}") from None
    return client


def _starttls(client: IMAPClient, context: ssl.SSLContext) -> None:
    """STARTTLS; a refusal closes the connection (a session is given up only once it is closed)."""
    try:
        client.starttls(context)
    except BaseException:
        _quiet_close(client)
        raise


def login_imap(host: str, port: int, security: str, tls_verify: bool, login: str, password: str,
               opts: ConnectOptions) -> IMAPClient:
    """Connect and log in; wrong credentials become AuthenticationFailed (never echoing them).

    A login or password with a control character is refused before connecting (UnsafeText):
    imaplib writes the login unquoted and the password in a quoted string that a line break ends.
    """
    for name, value in (("host", host), ("login", login), ("password", password)):
        wire_text.refuse_controls(name, value, "an IMAP server")
    client = open_imap(host, port, security, tls_verify, opts)
    try:
        send_login(client, host, login, password)
    except (imaplib.IMAP4.error, IMAPClientError) as exc:
        _quiet_close(client)
        if isinstance(exc, imaplib.IMAP4.abort) or isinstance(exc.__context__, imaplib.IMAP4.abort):
            # The connection dropped (or the server said BYE) during the login; imapclient reports even that
            # as a LoginError. Nothing about the credentials or the protocol was learnt: tried again.
            raise ServerUnreachable(f"{host} closed the connection during the login") from None
        if busy(str(exc)):  # RFC 5530: the server limits us now, the credentials are not at fault
            raise ServerBusy(f"{host} refused the login for now: {_answer(exc)}") from None
        if isinstance(exc, LoginError):
            raise AuthenticationFailed(f"{host} refused the login or password for {login}") from None
        raise ProtocolError(f"login at {host} failed: {type(exc).__name__}") from None
    except OSError as exc:
        _quiet_close(client)
        raise ServerUnreachable(f"the connection to {host} failed during the login: {type(exc).__name__}") from None
    except wire_text.UnsafeText:
        _quiet_close(client)
        raise
    return client


def send_login(client: IMAPClient, host: str, login: str, password: str) -> None:
    """LOGIN with both arguments as quoted strings, or AUTHENTICATE PLAIN for text LOGIN cannot carry.

    Printable ASCII goes in LOGIN (imaplib quotes the password itself, as its documentation says;
    the login is quoted here). Anything else (a non-ASCII password, say) travels base64-encoded in
    AUTHENTICATE PLAIN (RFC 4616, UTF-8), which needs the server to offer it; if it does not, the
    login is refused as UnsafeText instead of being sent in a form the server would misread.
    """
    if wire_text.imap_quotable(login) and wire_text.imap_quotable(password):
        client.login(wire_text.imap_quoted(login), password)
        return
    if b"AUTH=PLAIN" not in client.capabilities():
        raise wire_text.UnsafeText(f"{host} offers no AUTH=PLAIN, and only that can carry a login or password "
                                   "with characters beyond printable ASCII", "password")
    client.plain_login(login, password)


def _answer(exc: BaseException) -> str:
    """The server's words after its response code, without anything the client sent."""
    text = str(exc)
    start = max(text.upper().find("[LIMIT]"), text.upper().find("[UNAVAILABLE]"))
    return text[start:start + 120] if start >= 0 else "busy"


def _quiet_close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: S110 - closing a broken connection, nothing to report
        pass
