"""The API's one error shape, ``{"error": {"code", "message", "side", "field"}}``, for every refusal.

Intake's own refusals build it with :func:`error`; :func:`install_error_handlers` makes the framework's
refusals (a body that is not JSON or not UTF-8, a field of the wrong type, an unknown path, a wrong
method) and anything unexpected answer in the same shape, never FastAPI's ``{"detail": ...}``.
Redis or the broker not answering is no fault of the request: ``503 temporarily_unavailable`` with
``Retry-After``, whichever route met it.
"""

from __future__ import annotations

import logging

import redis
from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from shared.dependency_watch import RETRY_AFTER_SECONDS
from shared.kafka_edge import DeliveryFailed

log = logging.getLogger("services.intake.app")

#: An error code for each HTTP status the framework itself answers with.
HTTP_CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "request_too_large", 415: "unsupported_media_type", 429: "rate_limited"}


def error(status: int, code: str, message: str, *, side: str | None = None, field: str | None = None,
          headers: dict[str, str] | None = None, sign_in_url: str | None = None) -> JSONResponse:
    """``sign_in_url``: where the user signs in again, on a refusal that needs a new sign-in (only then present)."""
    body: dict[str, dict[str, str | None]] = {"error": {"code": code, "message": message, "side": side,
                                                        "field": field}}
    if sign_in_url is not None:
        body["error"]["sign_in_url"] = sign_in_url
    return JSONResponse(status_code=status, content=body, headers=headers)


def unavailable(which: list[str]) -> JSONResponse:
    """503 while a dependency is down: what is missing (not how), and when to ask again."""
    names = " and ".join({"redis": "the state store (Redis)", "broker": "the message broker"}.get(w, w)
                         for w in which)
    return error(503, "temporarily_unavailable", f"{names or 'a service this needs'} cannot be reached right "
                 f"now; try again in {RETRY_AFTER_SECONDS} seconds",
                 headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def whole_body_refused(content_type: str, missing: bool) -> JSONResponse:
    """A JSON body that is missing, sent as another type (415), or JSON but not an object: said as such, not as
    FastAPI's "request: Input should be a valid dictionary"."""
    kind = content_type.split(";")[0].strip().lower()
    if missing:
        return error(422, "invalid_request", "the request body is missing: send a JSON object "
                                             "(Content-Type: application/json)")
    if kind and kind != "application/json" and not kind.endswith("+json"):  # without a type it is read as JSON
        return error(415, "unsupported_media_type", f"the request body must be JSON (Content-Type: application/json), "
                                                    f"not {kind[:60]}")
    return error(422, "invalid_request", "the request body must be a JSON object ({...})")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(redis.RedisError)
    async def _redis_down(_req: Request, exc: redis.RedisError) -> JSONResponse:
        log.warning("Redis unavailable for a request", extra={"error": type(exc).__name__})
        return unavailable(["redis"])

    @app.exception_handler(KafkaException)
    @app.exception_handler(DeliveryFailed)
    async def _broker_down(_req: Request, exc: Exception) -> JSONResponse:
        log.warning("broker unavailable for a request", extra={"error": str(exc)[:200]})
        return unavailable(["broker"])

    @app.exception_handler(RequestValidationError)
    async def _invalid(req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            ctx = first.get("ctx")
            reason = ctx.get("error", "") if isinstance(ctx, dict) else ""
            return error(422, "invalid_request", f"the request body is not valid JSON: {reason}")
        if tuple(first.get("loc", ())) == ("body",):  # the body as a whole: missing, not JSON, not an object
            return whole_body_refused(req.headers.get("content-type", ""), first.get("type") == "missing")
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        fld = ".".join(loc) or None
        return error(422, "invalid_request", f"{fld or 'request'}: {first.get('msg')}", field=fld)

    @app.exception_handler(HTTPException)
    async def _http(_req: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = str(exc.detail)
        if exc.status_code == 400:  # FastAPI's "There was an error parsing the body": say what it means
            message = "the request body could not be read: it must be JSON, encoded in UTF-8"
            if isinstance(exc.__cause__, ValueError) and "digits" in str(exc.__cause__):
                message = "the request body could not be read: it holds a number of more than 4300 digits"
        return error(exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.error("request failed unexpectedly", extra={"error": type(exc).__name__})
        return error(500, "internal_error", "the service failed on this request; it has been logged")
