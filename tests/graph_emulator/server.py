"""The HTTP(S) server: a threaded http.server dispatching login, Graph and upload-session paths."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import authorize, dispatch, token_endpoint, upload_sessions
from .aad import AADAuthError
from .call import Answer
from .errors import GraphError, bad_request

if TYPE_CHECKING:
    from .emulator import GraphEmulator

log = logging.getLogger(__name__)
MAX_BODY = 200 * 1024 * 1024


class HttpServer:
    def __init__(self, emu: GraphEmulator, host: str, tls: ssl.SSLContext | None) -> None:
        emulator = emu

        class _Handler(_RequestHandler):
            emu = emulator

        self._httpd = ThreadingHTTPServer((host, 0), _Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="graph-emulator", daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _query(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        if k in out:
            raise bad_request(f"Query option '{k}' was specified more than once, but it must be specified at most "
                              "once.")
        out[k] = v
    return out


class _RequestHandler(BaseHTTPRequestHandler):
    emu: GraphEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if body or content_type:
            self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _answer(self, answer: Answer, request_id: str | None = None) -> None:
        body, ctype = dispatch.encode(answer)
        headers = dict(answer.headers)
        if request_id:
            headers.setdefault("request-id", request_id)
            headers.setdefault("client-request-id", request_id)
        self._send(answer.status, body, ctype, headers)

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(411, b"Length Required", "text/plain")
            self.close_connection = True
            return None
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b"Request Entity Too Large", "text/plain")
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._body()
        if body is None:
            return
        parts = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        try:
            query = _query(parts.query)
        except GraphError as e:
            self._answer(dispatch.error_answer(self.emu, e, headers))
            return
        path = parts.path
        segs = path.strip("/").split("/")
        if segs[0] == "v1.0":
            if self.emu.faults.should_drop():
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            client_id = headers.get("client-request-id")
            self._answer(dispatch.serve(self.emu, self.command, path, query, headers, body), client_id)
        elif segs[:2] == ["api", "v2.0"] and self.command in ("PUT", "DELETE"):
            try:
                self._answer(upload_sessions.put(self.emu, self.command, path, query, headers, body))
            except GraphError as e:
                self._answer(dispatch.error_answer(self.emu, e, headers))
        elif len(segs) >= 2:
            self._login(segs, query, headers, body)
        else:
            self._send(404, b"", "")

    def _login(self, segs: list[str], query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
        emu, tenant = self.emu, segs[0]
        rest = "/".join(segs[1:])
        try:
            if rest == "oauth2/v2.0/token" and self.command == "POST":
                ctype = headers.get("Content-Type", "").split(";")[0].strip().lower()
                if ctype != "application/x-www-form-urlencoded":
                    raise AADAuthError("invalid_request", 900144, "The request body must contain the following "
                                                                  "parameter: 'grant_type'.")
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
                url = f"{emu.base_url}/{tenant}/oauth2/v2.0/token"
                with emu.lock:
                    answer = token_endpoint.token(emu.tenant, tenant, url, form)
                self._send(200, json.dumps(answer).encode(), "application/json; charset=utf-8",
                           {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
            elif rest == "oauth2/v2.0/authorize" and self.command == "GET":
                with emu.lock:
                    redirect = authorize.authorize(emu.tenant, tenant, query)
                self._send(302, b"", "", {"Location": redirect.location})
            elif rest == "v2.0/.well-known/openid-configuration" and self.command == "GET":
                if not emu.tenant.knows_tenant(tenant) and tenant not in ("common", "organizations"):
                    raise AADAuthError("invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
                doc = authorize.openid_configuration(emu.tenant, emu.base_url)
                self._send(200, json.dumps(doc).encode(), "application/json; charset=utf-8")
            elif rest == "discovery/v2.0/keys" and self.command == "GET":
                self._send(200, json.dumps(emu.tenant.jwks()).encode(), "application/json; charset=utf-8")
            else:
                self._send(404, b"", "")
        except AADAuthError as e:
            self._send(e.status, json.dumps(e.body(emu.clock.now())).encode(), "application/json; charset=utf-8")
        except authorize.Redirect as r:
            self._send(302, b"", "", {"Location": r.location})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def do_HEAD(self) -> None:
        self._body()
        self._send(405, b"", "")
