"""Who may use the operator API: a key from ``MAILFERRY_OPERATOR_KEYS`` in ``Authorization: Bearer``.

Separate from the end users' way in (a migration's ID and source login): an operator key reaches every
project, so it is checked on every request of ``/api/v1/operator``. No key or an unknown one → 401; a
read-only key on a request that changes something → 403. Failed attempts are counted per client address
in Redis (every replica counts against one number); past the limit that address gets 429 until its
minute has passed, so keys cannot be guessed at speed. A good key gives its attempt back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.intake.rate_limit import LoginRateLimiter, RateLimited
from shared import operator_keys
from shared.operator_keys import OperatorKey, Role

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, scheme_name="OperatorKey",
                    description="An operator API key (MAILFERRY_OPERATOR_KEYS; `mailferry operator-key` makes one). "
                                "Role operator: everything; role read-only: GET requests only.")


def _refused(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


class OperatorAuth:
    def __init__(self, keys: tuple[OperatorKey, ...], limiter: LoginRateLimiter) -> None:
        self.keys = keys
        self.limiter = limiter

    def identify(self, presented: str | None, client: str) -> OperatorKey:
        """The key's entry, or the refusal (401, or 429 after too many failures from ``client``)."""
        try:
            with self.limiter.failures("operator-auth", client) as attempt:
                found = operator_keys.find(self.keys, presented or "")
                if found is not None:
                    attempt.passed()
        except RateLimited as exc:
            raise _refused(429, f"too many failed operator-key attempts; try again in {exc.retry_after} seconds",
                           {"Retry-After": str(exc.retry_after)}) from None
        if found is None:
            log.warning("operator key refused", extra={"client": client})
            raise _refused(401, "an operator API key is needed (Authorization: Bearer <key>)",
                           {"WWW-Authenticate": 'Bearer realm="mailferry-operator"'})
        return found

    def requires(self, role: Role) -> Callable[..., OperatorKey]:
        """A dependency: the caller's key, which must have ``role`` (operator covers read-only)."""

        def dependency(request: Request,
                       credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> OperatorKey:
            client = request.client.host if request.client else "unknown"
            key = self.identify(credentials.credentials if credentials else None, client)
            if role == "operator" and key.role != "operator":
                raise _refused(403, f"the key {key.name} is read-only; this request needs an operator key")
            return key

        return dependency
