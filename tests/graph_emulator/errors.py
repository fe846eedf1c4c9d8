"""Graph's error answers: the OData error body and the exception handlers raise to produce it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime


class GraphError(Exception):
    """An answer other than success, shaped like Graph's: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def body_read(message: str) -> GraphError:
    """What Graph's OData reader answers for a body that does not fit the type (code RequestBodyRead)."""
    return GraphError(400, "RequestBodyRead", message)


def not_found(message: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", message)


def access_denied(message: str = "Access is denied. Check credentials and try again.") -> GraphError:
    return GraphError(403, "ErrorAccessDenied", message)


def invalid_token(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message)


def error_body(err: GraphError, request_id: str, client_request_id: str | None, now: float) -> bytes:
    """`{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`."""
    inner = {
        "date": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id or request_id,
    }
    return json.dumps({"error": {"code": err.code, "message": err.message, "innerError": inner}}).encode()


def new_request_id() -> str:
    return str(uuid.uuid4())
