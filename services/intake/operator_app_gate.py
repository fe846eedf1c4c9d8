"""Who may name an account the operator's app signs in to (Microsoft 365, ``"auth": "app"``): an operator.

The operator's app reaches every mailbox of its organisation without a password. On the end users' routes (a new
migration, a PST import), where nobody is asked who they are, it let anyone who reaches intake copy any of those
mailboxes to a server of their own (``{"source": {"type": "graph", "login": "ceo@…"}, "target": <theirs>}``), or
import mail into one. So such an account needs an operator key with the operator role in
``Authorization: Bearer`` (as on the operator API; failed keys are counted the same way), unless the operator
chose otherwise with ``MAILFERRY_OPERATOR_APP_PUBLIC`` (only where everyone who can reach intake may read every
mailbox the app reaches). Without it the answer is ``403 forbidden`` naming the account's ``auth`` field; a user
signs in with Microsoft instead (``"auth": "oauth2"``).
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.intake.api_errors import error
from services.intake.api_models import Endpoint
from services.intake.operator_auth import OperatorAuth
from shared.adapters import registry


def app_signed(endpoints: dict[str, Endpoint]) -> str | None:
    """The first side (``source``, ``target``) whose account the operator's app signs in to (no password)."""
    return next((side for side, ep in endpoints.items() if not registry.needs_password(ep.type, str(ep.auth))), None)


class OperatorAppGate:
    def __init__(self, auth: OperatorAuth, public: bool) -> None:
        self.auth = auth
        self.public = public

    async def refusal(self, request: Request, endpoints: dict[str, Endpoint]) -> JSONResponse | None:
        """None when the request may go on; else the answer (403, or 429 after too many wrong keys)."""
        side = app_signed(endpoints)
        if side is None or self.public:
            return None
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and key.strip():
            client = request.client.host if request.client else "unknown"
            try:
                found = await run_in_threadpool(self.auth.identify, key.strip(), client)
            except HTTPException as exc:
                if exc.status_code == 429:
                    return error(429, "rate_limited", str(exc.detail), headers=dict(exc.headers or {}))
            else:
                if found.role == "operator":
                    return None
        return error(403, "forbidden", f"{side}.auth: the operator's app signs in to any mailbox of its "
                     "organisation, so only an operator (Authorization: Bearer with an operator key) may name an "
                     "account with it; sign in with Microsoft instead (auth oauth2)", side=side, field=f"{side}.auth")
