"""Intake's HTTP API: the routes. OpenAPI at /openapi.json.

What each route does is :class:`services.intake.intake.Intake`'s; this module only wires the
routers, the body limit and the error handlers around it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import redis
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import AfterValidator, BaseModel
from starlette.concurrency import run_in_threadpool

from services.intake import status_view
from services.intake.api_docs import docs_router
from services.intake.api_errors import error, install_error_handlers
from services.intake.api_models import (
    Accepted,
    CancelRequest,
    ControlAccepted,
    ErrorResponse,
    MigrationRequest,
    MigrationStatus,
    UndoRequest,
    no_controls,
    visible,
)
from services.intake.autodetect_api import autodetect_router
from services.intake.body_limit import DEFAULT_LIMIT, BodyLimit
from services.intake.body_timeout import BodyTimeout
from services.intake.forwarding import came_through_proxy
from services.intake.intake import Intake
from services.intake.operator_api import operator_router, streamed
from services.intake.operator_app_gate import OperatorAppGate
from services.intake.operator_auth import OperatorAuth
from services.intake.option_rules_api import option_rules_router
from services.intake.project_csv import ProjectSettings
from services.intake.project_metrics import ProjectCollector
from services.intake.projects import Projects
from services.intake.pst_upload import PST_PATH, pst_router
from services.intake.rate_limit import LoginRateLimiter
from services.intake.requests_per_client import RequestsPerClient
from services.intake.sign_in import sign_in_router
from services.intake.web_routes import web_router
from shared import migration_state as ms
from shared import wire_text
from shared.dependency_watch import UP
from shared.service_runtime import readiness_body

#: The source login given as a query parameter (status, report): the body fields' rule, as a parameter.
LoginQuery = Annotated[str, Query(min_length=1, max_length=320, description="the source login",
                                  json_schema_extra={"pattern": wire_text.NAME_PATTERN}),
                       AfterValidator(no_controls), AfterValidator(visible)]


def intake_checks(intake: Intake) -> dict[str, str]:
    """Readiness without a watch (tests that build the app directly): Redis only."""
    try:
        intake.r.ping()
    except redis.RedisError as exc:
        return {"redis": f"unreachable: {type(exc).__name__}"}
    return {"redis": UP}


def add_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Models that only a multipart body names (no route's parameter), in the OpenAPI's components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                found = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(found.pop("$defs", {}))
                components[model.__name__] = found
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(intake: Intake, projects: Projects | None = None) -> FastAPI:
    # /docs is ours (services/intake/api_docs.py: Swagger UI from local files); FastAPI's load it from a CDN.
    app = FastAPI(title="mailferry", version="1", description="Move a whole mail account into another.",
                  docs_url=None, redoc_url=None)
    auth = OperatorAuth(intake.settings.operator_keys,
                        LoginRateLimiter(intake.r, intake.settings.operator_auth_failures_per_minute))
    projects = projects or Projects(intake)
    app.include_router(operator_router(projects, auth))
    intake.registry.register(ProjectCollector(projects))

    app.include_router(web_router())
    app.include_router(docs_router())
    app.include_router(autodetect_router(intake.settings.allow_hosts, intake.detect_settings))
    gate = OperatorAppGate(auth, intake.settings.operator_app_public)
    app.include_router(pst_router(intake, gate=gate))
    app.include_router(option_rules_router())
    app.include_router(sign_in_router(intake.opts, lambda: intake.sign_ins, intake.settings.public_url))

    app.add_middleware(BodyLimit, limit=DEFAULT_LIMIT, streamed_paths=frozenset({PST_PATH}), streamed=streamed,
                       too_large=lambda limit: error(413, "request_too_large",
                                                     f"the request body is larger than {limit} bytes"))
    # Outside the body limit (added last): every route's body, the streamed uploads' too, stalls a bounded time.
    app.add_middleware(BodyTimeout, seconds=intake.settings.body_timeout_seconds,
                       timed_out=lambda seconds: error(408, "request_timeout",
                                                       f"the request body stopped arriving for {seconds:g} seconds"))
    # Outermost: a request counts for its client from its first moment, however long its body takes.
    app.add_middleware(RequestsPerClient, limit=intake.settings.max_connections_per_client,
                       refused=lambda limit: error(429, "rate_limited", f"this client address has {limit} requests in "
                                                   "progress already; send this one when one of them has ended",
                                                   headers={"Retry-After": "1"}))

    install_error_handlers(app)
    add_schemas(app, ProjectSettings)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Ready while Redis and the broker answer (each named in ``checks``)."""
        checks = intake.watch.state() if intake.watch is not None else await run_in_threadpool(intake_checks, intake)
        ok = all(v == UP for v in checks.values())
        return Response(readiness_body(ok, checks), status_code=200 if ok else 503, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if came_through_proxy(request.headers.keys()):
            # Came through a proxy (the ingress adds these and users cannot take them off): the metrics are
            # the monitoring's, scraped from the pod, not the public's (they name projects and counts).
            return error(404, "not_found", "no such page")
        # In a thread: the projects' gauges read Redis (seconds for a large project), the event loop must not wait.
        return Response(await run_in_threadpool(generate_latest, intake.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/v1/migrations", status_code=202, response_model=Accepted,
              responses={403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}})
    async def create_migration(req: MigrationRequest, request: Request) -> JSONResponse:
        if (refused := await gate.refusal(request, {"source": req.source, "target": req.target})) is not None:
            return refused
        ip = request.client.host if request.client else "unknown"
        return await run_in_threadpool(intake.create, req, ip)

    @app.get("/api/v1/migrations/{mid}", response_model=MigrationStatus,
             responses={404: {"model": ErrorResponse}})
    async def get_migration(mid: str, login: LoginQuery) -> Any:
        fields = await run_in_threadpool(intake.authorized, mid, login)
        if fields is None:
            return error(404, "not_found", "no migration with this ID and login")
        errors, history = await run_in_threadpool(lambda: (intake.status.errors(mid), intake.status.history(mid)))
        view = status_view.build(mid, fields, errors, history)
        deadline = intake.undo_deadline(fields)
        if deadline and fields.get("state") in ms.UNDOABLE:
            view["undo_possible_until"] = deadline.isoformat(timespec="seconds")
            view.update(await run_in_threadpool(intake.undo_needs, mid))
        return view

    @app.post("/api/v1/migrations/{mid}/cancel", status_code=202, response_model=ControlAccepted,
              responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}})
    async def cancel_migration(mid: str, req: CancelRequest) -> JSONResponse:
        return await run_in_threadpool(intake.cancel, mid, req.login)

    @app.post("/api/v1/migrations/{mid}/undo", status_code=202, response_model=ControlAccepted,
              responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse},
                         422: {"model": ErrorResponse}})
    async def undo_migration(mid: str, req: UndoRequest, request: Request) -> JSONResponse:
        ip = request.client.host if request.client else "unknown"
        return await run_in_threadpool(intake.undo, mid, req.login, req.target_password, ip)

    @app.get("/api/v1/migrations/{mid}/report", responses={404: {"model": ErrorResponse}})
    async def migration_report(mid: str, login: LoginQuery,
                               format: Literal["json", "csv"] = Query("json")) -> Response:
        """Every item that was skipped or failed, with its folder, subject, size and reason."""
        return await run_in_threadpool(intake.report, mid, login, format)

    return app
