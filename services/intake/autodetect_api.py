"""``GET /api/v1/autodetect?email=...``: server settings suggested for an address (the form's "Detect" button).

A router factory rather than routes in app.py, so the detector's I/O (DNS servers,
HTTP fetch, resolver) can be injected by tests and the lead can mount it with
``app.include_router(autodetect_router(settings.allow_hosts, settings.autodetect))``.

The handler is a plain ``def``: FastAPI runs it in its thread pool, and the
detector's own timeouts bound how long one request can hold a thread.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.intake.autodetect import Detector, DetectSettings, DnsLookup, HttpFetch, InvalidEmail, parse_email
from shared.net_guard import AllowList, Resolver


class SuggestionModel(BaseModel):
    """One suggested server (the OpenAPI shape of ``Suggestion.to_json``)."""

    protocol: Literal["imap", "pop3", "ews"]
    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    source: Literal["builtin", "autoconfig", "srv", "autodiscover", "mx"]
    note: str | None = None
    login: str | None = None


class AutodetectResult(BaseModel):
    email: str
    suggestions: list[SuggestionModel]


def _error(status: int, code: str, message: str) -> JSONResponse:
    """Same error shape as the rest of intake's API."""
    return JSONResponse(status_code=status,
                        content={"error": {"code": code, "message": message, "side": None, "field": "email"}})


def autodetect_router(allow: AllowList, settings: DetectSettings | None = None, *, dns: DnsLookup | None = None,
                      http_fetch: HttpFetch | None = None, resolver: Resolver | None = None,
                      detector: Detector | None = None) -> APIRouter:
    """The autodetect route, bound to one Detector (built from the arguments unless one is given)."""
    worker = detector or Detector(allow, settings or DetectSettings(), dns=dns, http_fetch=http_fetch,
                                  resolver=resolver)
    router = APIRouter()

    @router.get(
        "/api/v1/autodetect",
        response_model=AutodetectResult,
        response_model_exclude_none=True,
        responses={422: {"description": "malformed e-mail address"},
                   404: {"description": "no settings found; the user enters them by hand"}},
        summary="Suggest server settings for an e-mail address",
    )
    def autodetect(email: str = Query("", description="the account's e-mail address")) -> Any:
        try:
            parse_email(email)
        except InvalidEmail as exc:
            return _error(422, "invalid_request", str(exc))
        suggestions = worker.detect(email)
        if not suggestions:
            domain = email.strip().rpartition("@")[2]
            return _error(404, "not_found", f"no server settings could be found for {domain}; "
                                            "please enter the server, port and security by hand")
        return {"email": email.strip(), "suggestions": [s.to_json() for s in suggestions]}

    return router
