"""``POST /api/v1/pst-migrations``: upload an Outlook data file and import it into a target account.

The request is ``multipart/form-data`` with the fields ``file`` (the .pst/.ost), ``target`` (a JSON
string of the same shape as ``/api/v1/migrations``' target), ``options`` (a JSON list) and optionally
``notify_email``. The body is streamed through a small multipart parser (multipart_stream.py) straight
into the spool (``$SPOOL/pst/<random>.part``, pst_spool.py): never more than one read chunk plus a 1 MiB
write buffer is in memory, whatever the file's size. Above the size limit the upload stops with 413 and
the partial file is deleted. The finished file is checked (PST signature, header length, libpff open,
Outlook password; pst_checks.py) and the target login is checked on the real server; only then is the
file renamed to ``.pst`` and the migration created, exactly like the migrations endpoint does, with a
``pst`` source naming the spool file. Every refusal, and a client that goes away mid-upload, leaves
nothing in the spool; an accepted file stays until the migration's final state (the tracker deletes it).

The migration is followed with its ID and the *target* login (a PST file has no login of its own).
Its ledger scope (``pair_id``) is the file's SHA-256 and the target account: the same file uploaded
again into the same account copies only what is not there yet, another file never counts as "already
copied".
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from services.intake.api_errors import error
from services.intake.api_models import OPTIONS_SCHEMA, Accepted, Endpoint, ErrorResponse
from services.intake.intake import Intake, SignInRefused, side_field
from services.intake.login_check import SideFailed, check_endpoint
from services.intake.migration_start import MigrationDraft, accepted, create_migration, unsealed_spec
from services.intake.multipart_stream import MultipartError, MultipartParser, PartData, PartStart, boundary_of
from services.intake.operator_app_gate import OperatorAppGate, app_signed
from services.intake.pst_checks import (
    PstRequest,
    Refused,
    check_file,
    invalid,
    parse_fields,
    safe_filename,
    spool_failed,
    too_large,
)
from services.intake.pst_spool import SpoolUpload
from services.intake.rate_limit import RateLimited, address_bucket
from services.intake.sign_in import SIGN_IN_EXPIRED
from shared.account_identity import account_identity, scope_text
from shared.errors import ConnectionCheckFailed
from shared.events import EndpointSpec
from shared.net_guard import AllowList
from shared.spool import PST_DIR
from shared.wire_text import ADDRESS_PATTERN

log = logging.getLogger(__name__)

DEFAULT_PST_MAX_BYTES = 50 * 1000**3  # 50 GB; MAILFERRY_PST_MAX_BYTES (Settings.pst_max_bytes) overrides it
FIELD_MAX_BYTES = 64 * 1024  # target, options, notify_email
FIELDS = ("target", "options", "notify_email")

PST_PATH = "/api/v1/pst-migrations"
# The form's fields as OpenAPI says a multipart body carries JSON: ``target`` an Endpoint and ``options`` a
# list, each sent as a JSON part (``encoding``), so the schema refuses what the endpoint refuses (an empty
# or malformed target, no options, an unknown one).
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
                        "target": {"$ref": "#/components/schemas/Endpoint",
                                   "description": "the target account, as in POST /api/v1/migrations (JSON)"},
                        "options": {**OPTIONS_SCHEMA, "type": "array",
                                    "description": 'what to import (JSON list), default ["emails"]'},
                        "notify_email": {"type": "string", "maxLength": 320, "pattern": ADDRESS_PATTERN},
                    },
                },
                "encoding": {"target": {"contentType": "application/json"},
                             "options": {"contentType": "application/json"}},
            },
        },
    },
}


def pst_pair_id(file_sha256: str, target: Endpoint, allow: AllowList) -> str:
    """The ledger scope: this file's content and the target account, named as in ``app.pair_id``."""
    raw = scope_text("pst", file_sha256, *account_identity(target.type, target.host, target.port, target.login, allow))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


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
        raise invalid("file", str(exc)) from None
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + len(FIELDS) * FIELD_MAX_BYTES + 64 * 1024:
        raise too_large(limit)  # refused before a byte is written
    got = _Received(upload)
    current: str | None = None
    async for chunk in request.stream():
        try:
            events = parser.feed(chunk)
        except MultipartError as exc:
            raise invalid("file", f"the upload is not valid multipart/form-data: {exc}") from None
        for ev in events:
            if isinstance(ev, PartStart):
                current = ev.name
                if ev.name == "file":
                    if got.has_file:
                        raise invalid("file", "send one file per import")
                    if "target" in got.values:  # fields sent first: refuse a bad request before the upload
                        parse_fields(got.values, allow_insecure_tls)
                    got.has_file, got.filename = True, safe_filename(ev.filename)
                    try:
                        await run_in_threadpool(upload.open)
                    except OSError as exc:
                        raise spool_failed(exc) from None
                elif ev.name in FIELDS:
                    if ev.name in got.values:
                        raise invalid(ev.name, f"{ev.name}: sent twice")
                    got.values[ev.name] = b""
                else:
                    raise invalid(ev.name, f"{ev.name}: unknown field (expected file, {', '.join(FIELDS)})")
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
                        raise invalid(current, f"{current}: too long")
            else:
                current = None
    if not parser.finished:
        raise invalid("file", "the upload ended before the end of the multipart body; please send it again")
    if got.has_file:
        try:
            await upload.flush()
            await run_in_threadpool(upload.close)
        except OSError as exc:
            raise spool_failed(exc) from None
    if got.has_file and upload.size == 0:
        raise invalid("file", "file: the file is empty (0 bytes); choose the PST file again")
    if not got.has_file:
        raise invalid("file", "file: choose a PST file")
    return got


def create_pst_migration(intake: Intake, req: PstRequest, upload: SpoolUpload, filename: str,
                         client_ip: str) -> JSONResponse:
    """After the upload: check the file, the target login, then create the migration (in a worker thread)."""
    check_file(upload.part_path)
    handle = req.target.password if req.target.auth == "oauth2" else None
    try:
        # As for a new migration: where the operator says the service is, a sign-in's tokens for its id, and
        # the server found from the login when none was given.
        target = intake.resolve_account("target", req.target)
        intake.limiter.check(("login", target.login), ("ip", client_ip))
        with intake.limiter.failures("target", target.login) as target_check:
            target = intake.locate("target", target)
            check_endpoint(unsealed_spec(target), target.password, intake.env)
            target_check.passed()
    except SignInRefused:
        raise Refused(422, "sign_in_expired", SIGN_IN_EXPIRED, side="target", field="target.password") from None
    except SideFailed as exc:
        intake.metrics.error(exc.error.code)
        raise Refused(422, exc.error.code, str(exc.error), side="target",
                      field=side_field("target", exc.error)) from None
    except RateLimited as exc:
        target_limit = exc.kind == "target"
        raise Refused(429, "rate_limited", str(exc), side="target" if target_limit else None,
                      field="target.login" if target_limit else None,
                      headers={"Retry-After": str(exc.retry_after)}) from None
    except ConnectionCheckFailed as exc:
        intake.metrics.error(exc.code)
        raise Refused(422, exc.code, str(exc), side="target") from None
    try:
        upload.accept()
    except OSError as exc:
        raise spool_failed(exc) from None
    source = EndpointSpec(type="pst", host="", port=1, security="none", login=target.login, password_sealed="",
                          path=upload.relative)
    draft = MigrationDraft(source=source, target=unsealed_spec(target), passwords=("", target.password),
                           options=req.options, notify_email=req.notify_email,
                           pair_id=pst_pair_id(upload.sha256.hexdigest(), target, intake.opts.allow),
                           login=target.login,  # followed with the target login
                           status_fields={"source": f"pst:{filename}", "source_bytes": str(upload.size),
                                          "spool_file": upload.relative})  # deleted by the tracker at the end
    mid = create_migration(intake.status, intake.producer, intake.keys, draft)
    if handle is not None:
        intake.sign_ins.forget(handle)  # the tokens are sealed under the migration's data key now
    log.info("PST migration accepted", extra={"migration_id": mid, "options": req.options, "bytes": upload.size})
    return accepted(mid)


#: Uploads one client address may have in progress at once on a replica: a file goes to the spool volume as it
#: arrives, so many at once from one address could fill it before any is checked.
UPLOADS_PER_ADDRESS = 2
UPLOAD_RETRY_AFTER = 30


def pst_router(intake: Intake, max_bytes: int | None = None, gate: OperatorAppGate | None = None) -> APIRouter:
    """The PST upload endpoint; ``max_bytes`` overrides the setting (tests); ``gate``: who may import into an
    account the operator's app signs in to (create_app always gives it; without it, nobody)."""
    router = APIRouter()
    limit = max_bytes or int(getattr(intake.settings, "pst_max_bytes", 0) or DEFAULT_PST_MAX_BYTES)

    uploading: Counter[str] = Counter()  # uploads in progress on this replica, per client address (/64 for IPv6)

    def outcome(name: str) -> None:
        intake.requests.labels("pst_create", name).inc()

    @router.post(PST_PATH, status_code=202, response_model=Accepted, openapi_extra=OPENAPI_BODY,
                 responses={413: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
                            429: {"model": ErrorResponse}})
    async def create_pst(request: Request) -> JSONResponse:
        """Upload a PST/OST file (multipart) and import it into the target account; follow it with the target login."""
        ip = request.client.host if request.client else "unknown"
        bucket = address_bucket(ip)
        if uploading[bucket] >= UPLOADS_PER_ADDRESS:  # checked and counted with no await between: one loop
            outcome("rate_limited")
            return error(429, "rate_limited", f"at most {UPLOADS_PER_ADDRESS} uploads at once from one address; "
                         "try again when one has ended", headers={"Retry-After": str(UPLOAD_RETRY_AFTER)})
        uploading[bucket] += 1
        upload = SpoolUpload(intake.settings.spool / PST_DIR)
        accepted = False
        try:
            got = await receive(request, upload, limit, intake.settings.allow_insecure_tls)
            req = parse_fields(got.values, intake.settings.allow_insecure_tls)
            if gate is None and app_signed({"target": req.target}):
                raise Refused(403, "forbidden", "target.auth: the operator's app is not offered here", side="target",
                              field="target.auth")
            if gate is not None and (refused_app := await gate.refusal(request, {"target": req.target})):
                outcome("forbidden")
                return refused_app
            response = await run_in_threadpool(create_pst_migration, intake, req, upload, got.filename, ip)
            accepted = True
            outcome("accepted")
            return response
        except Refused as refused:
            outcome(refused.outcome)
            return error(refused.status, refused.code, refused.message, side=refused.side, field=refused.field,
                         headers=refused.headers)
        except ClientDisconnect:
            outcome("client_gone")
            log.info("PST upload abandoned by the client", extra={"bytes": upload.size})
            return error(400, "upload_incomplete", "the upload was interrupted")
        finally:
            uploading[bucket] -= 1
            if uploading[bucket] <= 0:
                del uploading[bucket]
            if not accepted:
                await run_in_threadpool(upload.discard)

    return router

