"""A small ManageSieve client (RFC 5804): the scripts that hold an IMAP account's rules.

Only what mailferry needs: log in (PLAIN, over STARTTLS or implicit TLS when
asked), list, get, put, activate and delete scripts. The connection goes to the
address the network guard checked, like every other connection.
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from shared.adapters.net import ConnectOptions, resolve, tls_context
from shared.adapters.session_end import close_after_server
from shared.errors import AuthenticationFailed, ItemRejected, ProtocolError, ServerUnreachable, TlsError
from shared.wire_text import has_control, refuse_controls

_LITERAL = re.compile(rb"^\{(\d+)\+?\}$")
#: RFC 5804: a quoted string holds at most 1024 octets; longer ones go as a literal.
_MAX_QUOTED = 1024


@dataclass(frozen=True)
class Response:
    status: str  # OK, NO or BYE
    text: str
    lines: list[list[str]]


class ManageSieve:
    def __init__(self, sock: socket.socket, host: str) -> None:
        self.sock = sock
        self.host = host
        self.on_close: Callable[[], None] | None = None  # gives a lease back, once the session is closed
        self.file = sock.makefile("rb")
        self.capabilities = self._capabilities(self._read_response())

    # -- wire ---------------------------------------------------------------------------
    def _readline(self) -> bytes:
        line = self.file.readline(1 << 20)
        if not line:
            raise ServerUnreachable(f"{self.host} closed the ManageSieve connection")
        return line.rstrip(b"\r\n")

    def _tokens(self, line: bytes) -> list[str]:
        """Atoms, quoted strings and literals of one response line (literals read from the stream)."""
        out: list[str] = []
        i = 0
        while i < len(line):
            c = line[i:i + 1]
            if c == b" ":
                i += 1
            elif c == b'"':
                j, buf = i + 1, bytearray()
                while j < len(line) and line[j:j + 1] != b'"':
                    if line[j:j + 1] == b"\\":
                        j += 1
                    buf += line[j:j + 1]
                    j += 1
                out.append(buf.decode("utf-8", "replace"))
                i = j + 1
            elif c == b"{":
                end = line.index(b"}", i) + 1
                m = _LITERAL.match(line[i:end])
                if not m:
                    raise ProtocolError(f"{self.host}: bad literal in ManageSieve answer")
                out.append(self.file.read(int(m.group(1))).decode("utf-8", "replace"))
                line = self._readline()  # the rest of the response continues on the next line
                i = 0
            else:
                j = line.find(b" ", i)
                j = len(line) if j < 0 else j
                out.append(line[i:j].decode("utf-8", "replace"))
                i = j
        return out

    def _read_response(self) -> Response:
        lines: list[list[str]] = []
        while True:
            toks = self._tokens(self._readline())
            if toks and toks[0].upper() in ("OK", "NO", "BYE"):
                text = " ".join(t for t in toks[1:] if not t.startswith("("))
                return Response(toks[0].upper(), text, lines)
            lines.append(toks)

    @staticmethod
    def _string(value: str) -> bytes:
        """A ManageSieve string: quoted (``\\`` and ``"`` escaped), or a literal when too long to quote.

        A line break inside a quoted string would end the command and start one the value wrote, so
        callers refuse control characters first (a Sieve name may not hold them, RFC 5804 section 1.6).
        """
        data = value.encode()
        if has_control(value):
            raise ValueError("a ManageSieve string cannot contain line breaks or other control characters")
        if len(data) > _MAX_QUOTED:
            return b"{%d+}\r\n" % len(data) + data
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'

    def _name(self, name: str, *, empty_ok: bool = False) -> bytes:
        """A script name as sent; a name no server may hold (a control character) is refused as the item.

        Only SETACTIVE takes the empty name: it means "no script active" (RFC 5804 section 2.8).
        """
        if (not name and not empty_ok) or has_control(name):
            raise ItemRejected(f"the Sieve script name {name!r} is empty or contains a control character, "
                               "which ManageSieve does not allow")
        return self._string(name)

    def _command(self, *parts: bytes) -> Response:
        self.sock.sendall(b" ".join(parts) + b"\r\n")
        return self._read_response()

    @staticmethod
    def _capabilities(resp: Response) -> dict[str, str]:
        return {line[0].upper(): (line[1] if len(line) > 1 else "") for line in resp.lines if line}

    # -- commands -------------------------------------------------------------------------
    def starttls(self, context: ssl.SSLContext) -> None:
        resp = self._command(b"STARTTLS")
        if resp.status != "OK":
            raise TlsError(f"{self.host} refused STARTTLS for ManageSieve: {resp.text}")
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("rb")
        self.capabilities = self._capabilities(self._read_response())

    def login(self, user: str, password: str) -> None:
        """AUTHENTICATE PLAIN; control characters (NUL separates PLAIN's fields) are refused unsent."""
        refuse_controls("login", user, "a ManageSieve server")
        refuse_controls("password", password, "a ManageSieve server")
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        resp = self._command(b'AUTHENTICATE "PLAIN"', self._string(token.decode()))
        if resp.status != "OK":
            raise AuthenticationFailed(f"{self.host} refused the ManageSieve login for {user}")

    def list_scripts(self) -> dict[str, bool]:
        """Script name → whether it is the active one."""
        resp = self._command(b"LISTSCRIPTS")
        if resp.status != "OK":
            raise ProtocolError(f"LISTSCRIPTS failed at {self.host}: {resp.text}")
        return {line[0]: len(line) > 1 and line[1].upper() == "ACTIVE" for line in resp.lines if line}

    def get_script(self, name: str) -> str:
        resp = self._command(b"GETSCRIPT", self._name(name))
        if resp.status != "OK" or not resp.lines:
            raise ProtocolError(f"GETSCRIPT {name!r} failed at {self.host}: {resp.text}")
        return resp.lines[0][0]

    def put_script(self, name: str, script: str) -> None:
        data = script.encode()
        resp = self._command(b"PUTSCRIPT", self._name(name), b"{%d+}\r\n" % len(data) + data)
        if resp.status != "OK":
            raise ItemRejected(f"the target refused the Sieve script {name!r}: {resp.text}")

    def set_active(self, name: str) -> None:
        resp = self._command(b"SETACTIVE", self._name(name, empty_ok=True))
        if resp.status != "OK":
            raise ItemRejected(f"the target could not activate the Sieve script {name!r}: {resp.text}")

    def delete_script(self, name: str) -> None:
        resp = self._command(b"DELETESCRIPT", self._name(name))
        if resp.status != "OK" and "NONEXISTENT" not in resp.text.upper():
            raise ItemRejected(f"the target could not delete the Sieve script {name!r}: {resp.text}")

    def logout(self) -> None:
        try:
            self._command(b"LOGOUT")
        except (OSError, ServerUnreachable, ProtocolError):
            pass
        self.close()

    def close(self) -> None:
        """Closed once the server has closed its side (after LOGOUT, or after our half-close when the session
        is dropped); then ``on_close`` (a lease given back) runs."""
        try:
            with contextlib.suppress(Exception):
                self.file.close()
            close_after_server(self.sock)
        finally:
            if self.on_close is not None:
                hook, self.on_close = self.on_close, None
                hook()


DEFAULT_PORT = 4190


def sieve_port(port: int | None) -> int:
    return port or DEFAULT_PORT


def sieve_security(imap_security: str) -> str:
    """ManageSieve has no implicit-TLS port in practice: an account on TLS uses STARTTLS there."""
    return "none" if imap_security == "none" else "starttls"


def connect_sieve(host: str, port: int, security: str, tls_verify: bool, login: str, password: str,
                  opts: ConnectOptions) -> ManageSieve:
    """Connect to the checked address, secure the channel as the account is, and log in.

    Control characters in the host, login or password are refused before connecting (UnsafeText).
    """
    for name, value in (("host", host), ("login", login), ("password", password)):
        refuse_controls(name, value, "a ManageSieve server")
    address = resolve(host, port, opts.allow)
    context = tls_context(tls_verify, opts.ca_file)
    try:
        sock = socket.create_connection((address, port), timeout=opts.timeout)
    except OSError as exc:
        raise ServerUnreachable(f"cannot reach the ManageSieve server {host}:{port}: {exc.strerror or exc}") from None
    try:
        return _start(sock, host, security, context, login, password)
    except ssl.SSLError as exc:
        raise TlsError(f"TLS with the ManageSieve server {host}:{port} failed: {exc}") from None
    except OSError as exc:
        raise ServerUnreachable(f"cannot reach the ManageSieve server {host}:{port}: {exc.strerror or exc}") from None


def _start(sock: socket.socket, host: str, security: str, context: ssl.SSLContext, login: str,
           password: str) -> ManageSieve:
    """TLS as asked and the login on a connected socket; on any failure the connection is closed first (a
    session is given up only once it is closed)."""
    client: ManageSieve | None = None
    try:
        if security == "tls":
            sock = context.wrap_socket(sock, server_hostname=host)
        client = ManageSieve(sock, host)
        if security == "starttls":
            client.starttls(context)
        client.login(login, password)
        return client
    except BaseException:
        close_after_server(client.sock if client is not None else sock)
        raise
