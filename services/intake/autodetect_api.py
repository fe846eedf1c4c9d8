"""``GET /api/v1/autodetect?email=...``: server settings suggested for an address (the form's "Detect" button).

A router factory rather than routes in app.py, so the detector's I/O (DNS servers,
HTTP fetch, resolver) can be injected by tests and the lead can mount it with
``app.include_router(autodetect_router(settings.allow_hosts, settings.autodetect))``.

The handler is a plain ``def``: FastAPI runs it in its thread pool, and the
detector's own timeouts bound how long one request can hold a thread.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.intake.api_errors import error
from services.intake.autodetect import Detector
from shared.adapters.dns_lookup import DnsLookup
from shared.adapters.guarded_http import HttpFetch
from shared.config import DetectSettings
from shared.mail_address import EMAIL_LOOKUP_PATTERN, MAX_EMAIL_LENGTH, InvalidEmail, parse_email
from shared.net_guard import AllowList, Resolver

#: Lookups run together per replica. Each holds one of the web server's worker threads for up to the detector's
#: timeouts (seconds against a slow domain): without a bound, many at once left none for the status page.
DETECT_AT_ONCE = 8
DETECT_RETRY_AFTER = 2


class SuggestionModel(BaseModel):
    """One suggested server (the OpenAPI shape of ``Suggestion.to_json``)."""

    protocol: Literal["imap", "pop3", "ews", "graph"]
    host: str
    port: int
    security: Literal["tls", "starttls", "none"]
    source: Literal["builtin", "autoconfig", "srv", "autodiscover", "mx"]
    note: str | None = None
    login: str | None = None


class AutodetectResult(BaseModel):
    email: str
    suggestions: list[SuggestionModel]


def autodetect_router(allow: AllowList, settings: DetectSettings | None = None, *, dns: DnsLookup | None = None,
                      http_fetch: HttpFetch | None = None, resolver: Resolver | None = None,
                      detector: Detector | None = None, at_once: int = DETECT_AT_ONCE) -> APIRouter:
    """The autodetect route, bound to one Detector (built from the arguments unless one is given); at most
    ``at_once`` lookups run together, the others are told to come back."""
    worker = detector or Detector(allow, settings or DetectSettings(), dns=dns, http_fetch=http_fetch,
                                  resolver=resolver)
    slots = threading.BoundedSemaphore(at_once)
    router = APIRouter()

    @router.get(
        "/api/v1/autodetect",
        response_model=AutodetectResult,
        response_model_exclude_none=True,
        responses={422: {"description": "malformed e-mail address"},
                   404: {"description": "no settings found; the user enters them by hand"},
                   429: {"description": "too many lookups at once on this replica; retry after Retry-After"}},
        summary="Suggest server settings for an e-mail address",
    )
    def autodetect(email: str = Query(..., description="the account's e-mail address",
                                      json_schema_extra={"minLength": 1, "maxLength": MAX_EMAIL_LENGTH,
                                                         "pattern": EMAIL_LOOKUP_PATTERN})) -> Any:
        try:
            parse_email(email)
        except InvalidEmail as exc:
            return error(422, "invalid_request", str(exc), field="email")
        if not slots.acquire(blocking=False):
            return error(429, "rate_limited", "too many server lookups are running at once; try again in a few "
                         "seconds", headers={"Retry-After": str(DETECT_RETRY_AFTER)})
        try:
            suggestions = worker.detect(email)
        finally:
            slots.release()
        if not suggestions:
            domain = email.strip().rpartition("@")[2]
            return error(404, "not_found", f"no server settings could be found for {domain}; "
                                           "please enter the server, port and security by hand", field="email")
        return {"email": email.strip(), "suggestions": [s.to_json() for s in suggestions]}

    return router
