"""``POST /api/v1/pst-migrations``: upload an Outlook data file and import it into a target account.

The request is ``multipart/form-data`` with the fields ``file`` (the .pst/.ost), ``target`` (a JSON
string of the same shape as ``/api/v1/migrations``' target), ``options`` (a JSON list) and optionally
``notify_email``. The body is streamed through a small multipart parser straight into the spool
(``$SPOOL/pst/<random>.part``): never more than one read chunk plus a 1 MiB write buffer is in memory,
whatever the file's size. Above the size limit the upload stops with 413 and the partial file is
deleted. The finished file is checked (PST signature, header length, libpff open, Outlook password)
and the target login is checked on the real server; only then is the file renamed to ``.pst`` and
the migration created, exactly like the migrations endpoint does, with a ``pst`` source naming the
spool file. Every refusal, and a client that goes away mid-upload, leaves nothing in the spool; an
accepted file stays until the migration's final state (the tracker deletes it).

The migration is followed with its ID and the *target* login (a PST file has no login of its own).
Its ledger scope (``pair_id``) is the file's SHA-256 and the target account: the same file uploaded
again into the same account copies only what is not there yet, another file never counts as "already
copied".
"""

from __future__ import annotations

import email.message
import email.utils
import hashlib
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from services.extractor.pst import (
    NotAPstError,
    PstError,
    PstPasswordProtectedError,
    PstTruncatedError,
    check_pst,
)
from services.intake.api_models import Accepted, Endpoint, ErrorResponse
from services.intake.login_check import check_endpoint
from services.intake.migration_start import MigrationDraft, accepted, create_migration, unsealed_spec
from services.intake.rate_limit import RateLimited
from shared import json_log, option_rules
from shared.errors import ConnectionCheckFailed
from shared.events import EndpointSpec

if TYPE_CHECKING:
    from services.intake.app import Intake

log = logging.getLogger(__name__)

DEFAULT_PST_MAX_BYTES = 50 * 1000**3  # 50 GB; MAILFERRY_PST_MAX_BYTES (Settings.pst_max_bytes) overrides it
FIELD_MAX_BYTES = 64 * 1024  # target, options, notify_email
HEADER_MAX_BYTES = 16 * 1024  # one part's header block
WRITE_BUFFER = 1 << 20
PST_DIR = "pst"
FIELDS = ("target", "options", "notify_email")
NOTIFY_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "target"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the .pst or .ost file"},
                        "target": {"type": "string", "description": "JSON: the target account, as in "
                                                                    "POST /api/v1/migrations"},
                        "options": {"type": "string", "description": 'JSON list, default ["emails"]'},
                        "notify_email": {"type": "string"},
                    },
                },
            },
        },
    },
}


def error(status: int, code: str, message: str, *, side: str | None = None, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    """app.error, imported when called: app.py may import this module at its top (no import cycle)."""
    from services.intake import app

    return app.error(status, code, message, side=side, field=field, headers=headers)


# --------------------------------------------------------------------------------------------
# Multipart, streamed
# --------------------------------------------------------------------------------------------


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class PartStart:
    name: str
    filename: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


PartEvent = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        raise MultipartError("send the file as multipart/form-data")
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 200:
        raise MultipartError("the multipart/form-data body has no boundary")
    return boundary.encode("latin-1", "replace")


def _disposition(headers: bytes) -> PartStart:
    text = headers.decode("utf-8", "replace")  # browsers send file names as raw UTF-8
    msg = email.message.Message()
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("a part header line has no colon")
        if name.strip().lower() == "content-disposition":
            msg["Content-Disposition"] = value.strip()
    if msg["Content-Disposition"] is None or msg.get_content_disposition() != "form-data":
        raise MultipartError("a part has no Content-Disposition: form-data header")
    raw_name = msg.get_param("name", header="content-disposition")
    raw_file = msg.get_param("filename", header="content-disposition")
    if raw_name is None:
        raise MultipartError("a part has no name")
    filename = email.utils.collapse_rfc2231_value(raw_file) if raw_file is not None else None
    return PartStart(email.utils.collapse_rfc2231_value(raw_name), filename)


class MultipartParser:
    """Incremental multipart/form-data (RFC 7578) parser: feed it chunks, get part events back.

    Body data is handed out as soon as it cannot be the start of the next boundary, so memory
    use is bounded by the chunk size, whatever the size of a part.
    """

    def __init__(self, boundary: bytes) -> None:
        self._delim = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # so the first boundary looks like every other one
        self._state = "preamble"

    @property
    def finished(self) -> bool:
        return self._state == "done"

    def feed(self, chunk: bytes) -> list[PartEvent]:
        if self._state == "done":
            return []
        self._buf += chunk
        out: list[PartEvent] = []
        buf, delim = self._buf, self._delim
        while True:
            if self._state in ("preamble", "body"):
                at = buf.find(delim)
                if at < 0:
                    safe = len(buf) - (len(delim) - 1)
                    if safe > 0:
                        if self._state == "body":
                            out.append(PartData(bytes(buf[:safe])))
                        del buf[:safe]
                    return out
                if self._state == "body":
                    if at:
                        out.append(PartData(bytes(buf[:at])))
                    out.append(PartEnd())
                del buf[:at + len(delim)]
                self._state = "after_boundary"
            elif self._state == "after_boundary":
                if len(buf) < 2:
                    return out
                if buf[:2] == b"--":
                    self._state = "done"
                    buf.clear()
                    return out
                eol = buf.find(b"\r\n")
                if eol < 0:
                    if len(buf) > 256:
                        raise MultipartError("a boundary line is not followed by a line break")
                    return out
                if buf[:eol].strip(b" \t"):
                    raise MultipartError("a boundary line is followed by other text")
                del buf[:eol + 2]
                self._state = "headers"
            elif self._state == "headers":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if buf.startswith(b"\r\n"):
                        raise MultipartError("a part has no headers")
                    if len(buf) > HEADER_MAX_BYTES:
                        raise MultipartError("a part's headers are too long")
                    return out
                out.append(_disposition(bytes(buf[:end])))
                del buf[:end + 4]
                self._state = "body"


# --------------------------------------------------------------------------------------------
# The spool file
# --------------------------------------------------------------------------------------------


@dataclass
class SpoolUpload:
    """The upload's file in the spool, written in 1 MiB pieces (in a worker thread), hashed on the way."""

    directory: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    size: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    _fd: int | None = None
    _pending: bytearray = field(default_factory=bytearray)

    @property
    def part_path(self) -> Path:
        return self.directory / f"{self.token}.part"

    @property
    def final_path(self) -> Path:
        return self.directory / f"{self.token}.pst"

    @property
    def relative(self) -> str:
        """The path the migration carries: relative to the spool, so every service resolves it on its own mount."""
        return f"{PST_DIR}/{self.token}.pst"

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)

    async def add(self, data: bytes) -> None:
        self.size += len(data)
        self._pending += data
        if len(self._pending) >= WRITE_BUFFER:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            piece, self._pending = bytes(self._pending), bytearray()
            await run_in_threadpool(self._write, piece)

    def _write(self, piece: bytes) -> None:
        assert self._fd is not None
        self.sha256.update(piece)
        view = memoryview(piece)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def accept(self) -> None:
        """Checked and accepted: the file gets its final name (a crash before leaves only ``.part`` files)."""
        self.close()
        os.replace(self.part_path, self.final_path)

    def discard(self) -> None:
        self.close()
        self._pending = bytearray()
        for path in (self.part_path, self.final_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


# --------------------------------------------------------------------------------------------
# Checks on the fields
# --------------------------------------------------------------------------------------------


class Refused(Exception):
    """Answer the request with this response (the upload, if any, is discarded)."""

    def __init__(self, response: JSONResponse, outcome: str) -> None:
        super().__init__(outcome)
        self.response = response
        self.outcome = outcome


def _invalid(fld: str, message: str) -> Refused:
    return Refused(error(422, "invalid_request", message, field=fld), "invalid_request")


@dataclass(frozen=True)
class PstRequest:
    target: Endpoint
    options: list[str]
    notify_email: str | None


def parse_fields(values: dict[str, bytes], allow_insecure_tls: bool) -> PstRequest:
    """The text fields, checked like the migrations endpoint checks its JSON body; raises Refused."""
    if "target" not in values:
        raise _invalid("target", "target: the target account is missing")
    try:
        raw_target = json.loads(values["target"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _invalid("target", "target: must be a JSON object") from None
    try:
        target = Endpoint.model_validate(raw_target)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(["target", *(str(p) for p in first.get("loc", ()))])
        raise _invalid(loc, f"{loc}: {first.get('msg')}") from None
    json_log.register_secret(target.password)
    options: object = ["emails"]
    if values.get("options", b"").strip():
        try:
            options = json.loads(values["options"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            options = None
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise _invalid("options", 'options: must be a JSON list of strings, e.g. ["emails"]')
    notify = values.get("notify_email", b"").decode("utf-8", "replace").strip() or None
    if notify is not None and (len(notify) > 320 or not NOTIFY_RE.match(notify)):
        raise _invalid("notify_email", "notify_email: not an e-mail address")
    if not target.tls_verify and not allow_insecure_tls:
        raise Refused(error(422, "tls_verify_not_allowed", "turning off certificate checks is not allowed on this "
                            "service", side="target", field="target.tls_verify"), "tls_verify_not_allowed")
    problems = option_rules.pst_problems(target.type, options)
    if problems:
        fld, msg = problems[0]
        raise Refused(error(422, "options_not_possible", msg, field=fld), "options_not_possible")
    return PstRequest(target, list(options), notify)


def pst_error_code(exc: PstError) -> str:
    if isinstance(exc, NotAPstError):
        return "not_a_pst"
    if isinstance(exc, PstTruncatedError):
        return "pst_truncated"
    if isinstance(exc, PstPasswordProtectedError):
        return "pst_password_protected"
    return "pst_corrupt"


def check_file(path: Path) -> None:
    """check_pst, with every failure turned into a 422 the user can act on; raises Refused."""
    try:
        check_pst(path)
    except PstError as exc:
        code = pst_error_code(exc)
        raise Refused(error(422, code, str(exc), side="source", field="file"), code) from None
    except Exception as exc:  # libpff failing in a way the reader does not classify: still the file's fault
        log.warning("PST check failed unexpectedly", extra={"error": type(exc).__name__})
        raise Refused(error(422, "pst_corrupt", "The Outlook data file is damaged and cannot be read.",
                            side="source", field="file"), "pst_corrupt") from None


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def spool_failed(exc: OSError) -> Refused:
    log.error("PST upload could not be stored", extra={"error": f"{type(exc).__name__}: {exc.strerror}"})
    return Refused(error(507, "insufficient_storage", "the file could not be stored on this service (spool full "
                         "or not writable); please try again later"), "spool_error")


def too_large(limit: int) -> Refused:
    return Refused(error(413, "file_too_large", f"The file is larger than the {human_bytes(limit)} "
                         f"({limit} bytes) this service accepts for a PST import. Split it in Outlook "
                         "(e.g. archive older items into a second file) and import the parts one by one.",
                         side="source", field="file"), "file_too_large")


def safe_filename(name: str | None) -> str:
    base = (name or "upload.pst").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in base if c.isprintable())[:200] or "upload.pst"


def pst_pair_id(file_sha256: str, target: Endpoint) -> str:
    """The ledger scope: this file's content and the target account (whatever the port or TLS mode)."""
    raw = "|".join(["pst", file_sha256, target.type, target.host.lower(), target.login.lower()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# The endpoint
# --------------------------------------------------------------------------------------------


@dataclass
class _Received:
    upload: SpoolUpload
    filename: str = ""
    has_file: bool = False
    values: dict[str, bytes] = field(default_factory=dict)


async def receive(request: Request, upload: SpoolUpload, limit: int, allow_insecure_tls: bool) -> _Received:
    """Stream the body into the spool and the small fields into memory; raises Refused."""
    try:
        parser = MultipartParser(boundary_of(request.headers.get("content-type", "")))
    except MultipartError as exc:
        raise _invalid("file", str(exc)) from None
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + len(FIELDS) * FIELD_MAX_BYTES + 64 * 1024:
        raise too_large(limit)  # refused before a byte is written
    got = _Received(upload)
    current: str | None = None
    async for chunk in request.stream():
        try:
            events = parser.feed(chunk)
        except MultipartError as exc:
            raise _invalid("file", f"the upload is not valid multipart/form-data: {exc}") from None
        for ev in events:
            if isinstance(ev, PartStart):
                current = ev.name
                if ev.name == "file":
                    if got.has_file:
                        raise _invalid("file", "send one file per import")
                    if "target" in got.values:  # fields sent first: refuse a bad request before the upload
                        parse_fields(got.values, allow_insecure_tls)
                    got.has_file, got.filename = True, safe_filename(ev.filename)
                    try:
                        await run_in_threadpool(upload.open)
                    except OSError as exc:
                        raise spool_failed(exc) from None
                elif ev.name in FIELDS:
                    if ev.name in got.values:
                        raise _invalid(ev.name, f"{ev.name}: sent twice")
                    got.values[ev.name] = b""
                else:
                    raise _invalid(ev.name, f"{ev.name}: unknown field (expected file, {', '.join(FIELDS)})")
            elif isinstance(ev, PartData):
                if current == "file":
                    if upload.size + len(ev.data) > limit:
                        raise too_large(limit)
                    try:
                        await upload.add(ev.data)
                    except OSError as exc:
                        raise spool_failed(exc) from None
                elif current is not None:
                    got.values[current] += ev.data
                    if len(got.values[current]) > FIELD_MAX_BYTES:
                        raise _invalid(current, f"{current}: too long")
            else:
                current = None
    if not parser.finished:
        raise _invalid("file", "the upload ended before the end of the multipart body; please send it again")
    if got.has_file:
        try:
            await upload.flush()
            await run_in_threadpool(upload.close)
        except OSError as exc:
            raise spool_failed(exc) from None
    if not got.has_file or upload.size == 0:
        raise _invalid("file", "file: choose a PST file")
    return got


def create_pst_migration(intake: Intake, req: PstRequest, upload: SpoolUpload, filename: str,
                         client_ip: str) -> JSONResponse:
    """After the upload: check the file, the target login, then create the migration (in a worker thread)."""
    target = req.target
    check_file(upload.part_path)
    try:
        intake.limiter.check(("login", target.login), ("ip", client_ip))
    except RateLimited as exc:
        raise Refused(error(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)}),
                      "rate_limited") from None
    try:
        check_endpoint(target, intake.opts)
    except ConnectionCheckFailed as exc:
        intake.metrics.error(exc.code)
        raise Refused(error(422, exc.code, str(exc), side="target"), exc.code) from None
    try:
        upload.accept()
    except OSError as exc:
        raise spool_failed(exc) from None
    source = EndpointSpec(type="pst", host="", port=1, security="none", login=target.login, password_sealed="",
                          path=upload.relative)
    draft = MigrationDraft(source=source, target=unsealed_spec(target), passwords=("", target.password),
                           options=req.options, notify_email=req.notify_email,
                           pair_id=pst_pair_id(upload.sha256.hexdigest(), target),
                           login=target.login,  # followed with the target login
                           status_fields={"source": f"pst:{filename}", "source_bytes": str(upload.size),
                                          "spool_file": upload.relative})  # deleted by the tracker at the end
    mid = create_migration(intake.status, intake.producer, intake.keys, draft)
    log.info("PST migration accepted", extra={"migration_id": mid, "options": req.options, "bytes": upload.size})
    return accepted(mid)


def pst_router(intake: Intake, max_bytes: int | None = None) -> APIRouter:
    """The PST upload endpoint; ``max_bytes`` overrides the setting (tests)."""
    router = APIRouter()
    limit = max_bytes or int(getattr(intake.settings, "pst_max_bytes", 0) or DEFAULT_PST_MAX_BYTES)

    def outcome(name: str) -> None:
        intake.requests.labels("pst_create", name).inc()

    @router.post("/api/v1/pst-migrations", status_code=202, response_model=Accepted, openapi_extra=OPENAPI_BODY,
                 responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                            429: {"model": ErrorResponse}})
    async def create_pst(request: Request) -> JSONResponse:
        """Upload a PST/OST file (multipart) and import it into the target account; follow it with the target login."""
        ip = request.client.host if request.client else "unknown"
        upload = SpoolUpload(intake.settings.spool / PST_DIR)
        accepted = False
        try:
            got = await receive(request, upload, limit, intake.settings.allow_insecure_tls)
            req = parse_fields(got.values, intake.settings.allow_insecure_tls)
            response = await run_in_threadpool(create_pst_migration, intake, req, upload, got.filename, ip)
            accepted = True
            outcome("accepted")
            return response
        except Refused as refused:
            outcome(refused.outcome)
            return refused.response
        except ClientDisconnect:
            outcome("client_gone")
            log.info("PST upload abandoned by the client", extra={"bytes": upload.size})
            return error(400, "upload_incomplete", "the upload was interrupted")
        finally:
            if not accepted:
                await run_in_threadpool(upload.discard)

    return router

