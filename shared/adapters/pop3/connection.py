"""The one place POP3 connections are made: network guard, TLS, login, errors by kind.

Same rules as :mod:`shared.adapters.imap.connection`: the host name is resolved and checked
once by the network guard and the socket goes to exactly that address, while TLS
(implicit, or STLS per RFC 2595) still verifies the certificate against the host
name (SNI).  Errors come out as the kinds of :mod:`shared.errors`, in plain words
and never containing the password.
"""

from __future__ import annotations

import base64
import contextlib
import poplib
import socket
import ssl

from shared.adapters.net import ConnectOptions, resolve, tls_context
from shared.adapters.session_end import close_after_server
from shared.errors import (
    AuthenticationFailed,
    ProtocolError,
    ServerUnreachable,
    TlsError,
    Transient,
)
from shared.wire_text import has_control, refuse_controls

__all__ = ["SECURITY_MODES", "ConnectionClosed", "Pop3Client", "ServerRefused", "login_pop3", "open_pop3"]

SECURITY_MODES = ("tls", "starttls", "none")

# Status lines are short (RFC 1939: 512 octets); a longer one means we are not talking POP3.
_MAX_STATUS_LINE = 8192
# RFC 2449 response codes after which a later attempt may succeed.
_TEMPORARY_CODES = ("[SYS/TEMP]", "[IN-USE]", "[LOGIN-DELAY]")


class ServerRefused(poplib.error_proto):
    """The server answered ``-ERR``; ``args[0]`` is its line (bytes)."""


class ConnectionClosed(poplib.error_proto):
    """The server closed the connection in the middle of a reply."""


class Pop3Client(poplib.POP3):
    """POP3 to a pre-checked address; ``host`` stays the name the certificate must match.

    Built unconnected; :meth:`start` opens TCP (and implicit TLS) and reads the greeting,
    so a silent server after a successful connect can be told from an unreachable one.
    The inherited commands (``uidl``, ``list``, ``quit``...) work once started.
    """

    def __init__(self, host: str, address: str, port: int, *, timeout: float,
                 context: ssl.SSLContext, implicit_tls: bool) -> None:
        # poplib.POP3.__init__ would connect at once; these are the attributes it sets.
        self.host = host
        self.port = port
        self._address = address
        self._connect_timeout = timeout
        self._context = context
        self._implicit_tls = implicit_tls
        self._tls_established = False
        self._debugging = 0
        self.connected = False  # TCP is up: a timeout from now on is the server's silence
        self.welcome = b""
        self.capabilities: dict[str, list[str]] = {}

    # -- connection ------------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.create_connection((self._address, self.port), self._connect_timeout)
        self.sock = sock
        self.connected = True
        if self._implicit_tls:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
            self._tls_established = True
        self.file = self.sock.makefile("rb")
        self.welcome = self.command(None)

    @property
    def tls(self) -> bool:
        return self._tls_established

    def start_tls(self) -> None:
        """STLS (RFC 2595); raises TlsError-worthy ``poplib.error_proto`` if not offered."""
        caps = self.read_capabilities()
        if caps and "STLS" not in caps:
            raise poplib.error_proto("-ERR STLS not supported by server")
        self.command("STLS")
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("rb")
        self._tls_established = True

    def read_capabilities(self) -> dict[str, list[str]]:
        """CAPA (RFC 2449) as name → arguments; empty if the server has no CAPA."""
        try:
            caps = self.capa()
        except poplib.error_proto:
            caps = {}
        self.capabilities = {name.upper(): args for name, args in caps.items()}
        return self.capabilities

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    # -- raw protocol (also used by the source adapter for pipelined RETR) -----------------

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_status(self) -> bytes:
        """One status line without its line end; raises ``poplib.error_proto`` on ``-ERR``."""
        line = self.file.readline(_MAX_STATUS_LINE + 1)
        if not line:
            raise ConnectionClosed("connection closed by the server")
        if len(line) > _MAX_STATUS_LINE:
            raise poplib.error_proto("status line too long")
        line = line.rstrip(b"\r\n")
        if not line.startswith(b"+"):
            raise ServerRefused(line)
        return line

    def command(self, line: str | None) -> bytes:
        """Send one command (``None``: just read, for the greeting) and return its +OK line."""
        if line is not None:
            if has_control(line):  # a line break would end this command and start another
                raise ValueError("a POP3 command cannot contain line breaks or other control characters")
            self.send_raw(line.encode(self.encoding) + b"\r\n")
        return self.read_status()

    def read_multiline(self, piece: int = 65536) -> bytes:
        """The body of a multi-line reply up to the lone ``.``: dot-unstuffed, line ends kept."""
        parts: list[bytes] = []
        at_line_start = True
        readline = self.file.readline
        while True:
            line = readline(piece)
            if not line:
                raise ConnectionClosed("connection closed by the server")
            if at_line_start and line[:1] == b".":
                if line in (b".\r\n", b".\n"):
                    return b"".join(parts)
                line = line[1:]
            parts.append(line)
            at_line_start = line.endswith(b"\n")

    # -- login -----------------------------------------------------------------------------

    def authenticate(self, login: str, password: str) -> None:
        """USER/PASS, or SASL PLAIN when the server offers only that; raises ``poplib.error_proto``.

        POP3 has no quoting: a login or password with a control character is refused (UnsafeText)
        before anything is sent, whichever way it would go.
        """
        refuse_controls("login", login, "a POP3 server")
        refuse_controls("password", password, "a POP3 server")
        sasl = [m.upper() for m in self.capabilities.get("SASL", [])]
        if self.capabilities and "USER" not in self.capabilities and "PLAIN" in sasl:
            token = base64.b64encode(f"\0{login}\0{password}".encode()).decode("ascii")
            self.command("AUTH PLAIN " + token)
        else:
            self.command("USER " + login)
            self.command("PASS " + password)

    def abort(self) -> None:
        """Drop the connection without QUIT (nothing to commit: we never delete)."""
        self.close()

    def close(self) -> None:
        """Closed once the server has closed its side (after QUIT, which poplib's ``quit`` ends with, or after
        our half-close when the session is dropped): the session's lease goes back only after this."""
        with contextlib.suppress(Exception):
            if getattr(self, "file", None) is not None:
                self.file.close()
        close_after_server(getattr(self, "sock", None))

    def logout(self) -> None:
        try:
            self.quit()
        except Exception:
            self.abort()


def _text(resp: BaseException) -> str:
    arg = resp.args[0] if resp.args else b""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split())[:200]


def open_pop3(host: str, port: int, security: str, tls_verify: bool, opts: ConnectOptions) -> Pop3Client:
    """Connect (no login yet), STLS if asked, read CAPA. Raises ServerUnreachable, TlsError or ProtocolError."""
    if security not in SECURITY_MODES:
        raise ValueError(f"unknown security {security!r}; expected one of {', '.join(SECURITY_MODES)}")
    address = resolve(host, port, opts.allow)
    context = tls_context(tls_verify, opts.ca_file)
    where = f"{host}:{port}"
    client = Pop3Client(host, address, port, timeout=opts.timeout, context=context, implicit_tls=security == "tls")
    try:
        client.start()
        if security == "starttls":
            client.start_tls()
        client.read_capabilities()
    except ssl.SSLCertVerificationError as exc:
        client.abort()
        raise TlsError(f"the TLS certificate of {where} is not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        client.abort()
        raise TlsError(f"TLS with {where} failed: {exc.reason or exc}") from None
    except ConnectionRefusedError:
        client.abort()
        raise ServerUnreachable(f"{where} refused the connection") from None
    except TimeoutError:
        client.abort()
        if client.connected:
            hint = " (is it a TLS port?)" if security != "tls" else ""
            raise ProtocolError(f"{where} accepted the connection but sent no POP3 greeting{hint}") from None
        raise ServerUnreachable(f"{where} did not answer in time") from None
    except OSError as exc:
        client.abort()
        raise ServerUnreachable(f"cannot reach {where}: {exc.strerror or exc}") from None
    except poplib.error_proto as exc:
        client.abort()
        msg = _text(exc)
        if security == "starttls" and client.welcome and not client.tls:
            raise TlsError(f"{where} does not offer STLS (STARTTLS for POP3)") from None
        raise ProtocolError(f"{where} does not speak POP3 as expected: {msg}") from None
    return client


def login_pop3(host: str, port: int, security: str, tls_verify: bool, login: str, password: str,
               opts: ConnectOptions) -> Pop3Client:
    """Connect and log in; wrong credentials become AuthenticationFailed (never echoing the password).

    Control characters in the host, login or password are refused before connecting (UnsafeText).
    """
    for name, value in (("host", host), ("login", login), ("password", password)):
        refuse_controls(name, value, "a POP3 server")
    client = open_pop3(host, port, security, tls_verify, opts)
    try:
        client.authenticate(login, password)
        client.read_capabilities()  # RFC 2449: they may change after login
    except poplib.error_proto as exc:
        client.abort()
        msg = _text(exc).replace(password, "***") if password else _text(exc)
        upper = msg.upper()
        if any(code in upper for code in _TEMPORARY_CODES):
            raise Transient(f"{host} cannot open the mailbox of {login} right now: {msg}") from None
        raise AuthenticationFailed(f"{host} refused the login or password for {login}") from None
    except OSError as exc:
        client.abort()
        raise ServerUnreachable(f"connection to {host} lost during login: {type(exc).__name__}") from None
    return client
