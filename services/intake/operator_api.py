"""The operator API, ``/api/v1/operator``: projects of many mailboxes (what each route does is projects.py's).

Every route needs an operator key (:mod:`services.intake.operator_auth`); GET routes accept a read-only key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from services.intake.api_errors import error
from services.intake.api_models import ErrorResponse
from services.intake.operator_auth import OperatorAuth
from services.intake.project_csv import ProjectSettings
from services.intake.project_preflight import Preflight, table
from services.intake.project_upload import UploadRefused, csv_lines, receive
from services.intake.projects import ProjectError, Projects
from shared import project_progress as pp
from shared.operator_keys import OperatorKey

log = logging.getLogger(__name__)

PREFIX = "/api/v1/operator"
PROJECTS = f"{PREFIX}/projects"


def streamed(path: str) -> bool:
    """The routes whose body is a CSV upload (they limit it themselves while spooling it)."""
    return path == PROJECTS or (path.startswith(PROJECTS + "/") and path.endswith("/rows"))


def _multipart(parts: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": parts}}}}}


ROWS_PART = {"type": "string", "format": "binary",
             "description": "the CSV, UTF-8, one mailbox a line; columns: see the README (Projects)"}
CREATE_BODY = _multipart({"project": {"$ref": "#/components/schemas/ProjectSettings"}, "rows": ROWS_PART},
                         ["project", "rows"])
ROWS_BODY = _multipart({"rows": ROWS_PART}, ["rows"])
REFUSALS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse} for s in (401, 403, 404, 409, 422, 429)}


def in_utc(value: datetime) -> datetime:
    """A time with its zone, in UTC; a time that UTC cannot hold (9999-12-31T23:00-05:00) is the request's error."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a date between the years 1 and 9999 in UTC") from None


#: A point in time the request gives: with its zone (a time without one would be read in the server's), in UTC.
UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc)]


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: UtcTime | None = Field(default=None, description="when to start (ISO 8601 with a zone); now if left out")
    run_pass: Literal["full", "prestage", "final"] = Field(
        default="full", alias="pass",
        description="full: every row not yet run; prestage: every row, only mail received before "
                    "received_before (before the MX switch); final: every row again, the delta at cut-over")
    received_before: UtcTime | None = Field(default=None, description="the pre-stage's cut-off (with a zone)")


class RowError(BaseModel):
    upload: int
    line: int
    field: str
    reason: str


class UploadResult(BaseModel):
    id: str
    upload: int
    rows_added: int
    errors_total: int
    errors: list[RowError] = Field(description="the first 1000 refused lines; all of them: GET .../errors")


def _refusal(exc: ProjectError) -> JSONResponse:
    return error(exc.status, exc.code, str(exc))


def _download(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str, name: str, key: str) -> Response:
    if fmt == "csv":
        return Response(pp.table_csv(columns, rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return JSONResponse(content={key: rows})


def operator_router(projects: Projects, auth: OperatorAuth) -> APIRouter:
    reader = Depends(auth.requires("read-only"))
    writer = Depends(auth.requires("operator"))
    router = APIRouter(prefix=PREFIX, tags=["operator"], responses=REFUSALS)
    preflight = Preflight(projects)

    async def act(work: Callable[[], Any], status: int = 200) -> JSONResponse:
        try:
            return JSONResponse(status_code=status, content=await run_in_threadpool(work))
        except ProjectError as exc:
            return _refusal(exc)

    async def upload(request: Request, pid: str | None, key: OperatorKey) -> JSONResponse:
        try:
            got = await receive(request, projects.intake.settings.spool / "projects")
        except UploadRefused as exc:
            return error(exc.status, "invalid_upload", str(exc), field=exc.field)
        except ClientDisconnect:
            return error(400, "upload_incomplete", "the upload was interrupted")
        assert got.csv_path is not None
        if pid is None and got.settings is None:
            got.csv_path.unlink(missing_ok=True)
            return error(422, "invalid_request", "project: the project part (its settings, JSON) is missing",
                         field="project")
        try:
            settings = ProjectSettings.model_validate_json(got.settings or b"") if pid is None else None
        except ValidationError as exc:
            got.csv_path.unlink(missing_ok=True)
            first = exc.errors()[0]
            fld = ".".join(["project", *(str(p) for p in first.get("loc", ()))])
            return error(422, "invalid_request", f"{fld}: {first.get('msg')}", field=fld)

        def work() -> dict[str, Any]:
            assert got.csv_path is not None
            with csv_lines(got.csv_path) as lines:
                if settings is not None:
                    return projects.create(settings, lines, key.name)
                assert pid is not None
                projects.summary(pid)
                return projects.add_rows(pid, lines)

        return await act(work, 201 if pid is None else 200)

    @router.post("/projects", status_code=201, response_model=UploadResult, openapi_extra=CREATE_BODY)
    async def create_project(request: Request, key: OperatorKey = writer) -> JSONResponse:
        """Create a project from its settings (``project``, JSON) and a CSV of mailboxes (``rows``)."""
        return await upload(request, None, key)

    @router.post("/projects/{pid}/rows", response_model=UploadResult, openapi_extra=ROWS_BODY)
    async def add_rows(pid: str, request: Request, key: OperatorKey = writer) -> JSONResponse:
        """Add rows to a project (a CSV with the same columns)."""
        return await upload(request, pid, key)

    @router.get("/projects")
    async def list_projects(_key: OperatorKey = reader) -> JSONResponse:
        return await act(lambda: {"projects": projects.list()})

    @router.get("/projects/{pid}")
    async def get_project(pid: str, _key: OperatorKey = reader) -> JSONResponse:
        """The project's state and totals: rows by state, messages done / skipped / failed of total."""
        return await act(lambda: projects.summary(pid))

    @router.get("/projects/{pid}/rows")
    async def project_rows(pid: str, state: str | None = Query(None, max_length=32),
                           offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
                           _key: OperatorKey = reader) -> JSONResponse:
        """Each row's progress, filtered by state (pending, queued, running, completed, failed...)."""
        return await act(lambda: projects.rows(pid, state, offset, limit))

    @router.get("/projects/{pid}/errors")
    async def project_errors(pid: str, format: Literal["json", "csv"] = "json",
                             _key: OperatorKey = reader) -> Response:
        """Every refused CSV line: upload, line, field, reason."""
        try:
            await run_in_threadpool(projects.summary, pid)
        except ProjectError as exc:
            return _refusal(exc)
        rows = await run_in_threadpool(projects.store.errors, pid)
        return _download(rows, ("upload", "line", "field", "reason"), format, f"project-{pid}-errors", "errors")

    @router.post("/projects/{pid}/start", status_code=202)
    async def start_project(pid: str, req: StartRequest | None = None, _key: OperatorKey = writer) -> JSONResponse:
        """Start the project now, or at ``at``: one migration per row."""
        req = req or StartRequest()
        return await act(lambda: projects.start(pid, req.at, req.run_pass, req.received_before), 202)

    @router.post("/projects/{pid}/preflight", status_code=202)
    async def start_preflight(pid: str, _key: OperatorKey = writer) -> JSONResponse:
        """Check every row's logins and measure its source (folders, messages, bytes, estimated time)."""
        return await act(lambda: preflight.start(pid), 202)

    @router.get("/projects/{pid}/preflight")
    async def preflight_result(pid: str, format: Literal["json", "csv"] = "json",
                               _key: OperatorKey = reader) -> Response:
        try:
            fields = await run_in_threadpool(projects.summary, pid)
        except ProjectError as exc:
            return _refusal(exc)
        rows = await run_in_threadpool(table, projects, pid)
        if format == "csv":
            return _download(rows, pp.PREFLIGHT_COLUMNS, format, f"project-{pid}-preflight", "rows")
        return JSONResponse(content={"id": pid, "preflight": fields["preflight"], "rows": rows})

    @router.get("/projects/{pid}/report")
    async def project_report(pid: str, format: Literal["json", "csv"] = "json",
                             _key: OperatorKey = reader) -> Response:
        """One line a row: its state, migration, counters and error; the JSON adds the project's totals."""
        try:
            views = await run_in_threadpool(projects.row_views, pid)
            summary = await run_in_threadpool(projects.summary, pid, None, views)
        except ProjectError as exc:
            return _refusal(exc)
        if format == "csv":
            return _download(views, pp.ROW_COLUMNS, format, f"project-{pid}-report", "rows")
        return JSONResponse(content={**summary, "rows": views})

    @router.post("/projects/{pid}/cancel", status_code=202)
    async def cancel_project(pid: str, _key: OperatorKey = writer) -> JSONResponse:
        """Rows not started are not started; running ones end their current operation and stop."""
        return await act(lambda: projects.cancel(pid), 202)

    @router.post("/projects/{pid}/undo", status_code=202)
    async def undo_project(pid: str, _key: OperatorKey = writer) -> JSONResponse:
        """Remove from the targets everything the project's migrations created (within the undo window)."""
        return await act(lambda: projects.undo(pid), 202)

    @router.post("/projects/{pid}/retry", status_code=202)
    async def retry_project(pid: str, _key: OperatorKey = writer) -> JSONResponse:
        """Run again every row that failed, was cancelled or has failed items; only what is missing is copied."""
        return await act(lambda: projects.retry(pid), 202)

    @router.delete("/projects/{pid}")
    async def delete_project(pid: str, _key: OperatorKey = writer) -> JSONResponse:
        """Delete the project's data now: rows, credentials, its migrations' status, reports and ledgers."""

        def work() -> dict[str, Any]:
            projects.delete(pid)
            return {"id": pid, "deleted": True}

        return await act(work)

    return router
