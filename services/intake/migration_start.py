"""Creating a migration once its checks have passed: seal the passwords, record the status, publish the event.

Both ways in (``POST /api/v1/migrations`` in app.py and the PST upload in pst_upload.py) end here, so a
migration is always sealed, recorded and published the same way; each caller keeps its own checks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from fastapi.responses import JSONResponse

from services.intake.api_models import Endpoint
from shared import topics
from shared.credential_seal import MasterKeys, new_data_key, seal
from shared.credentials import seal_context
from shared.edges import ProducerEdge
from shared.events import EndpointSpec, MailFilters, MigrationRequested, encode
from shared.kafka_edge import DeliveryFailed
from shared.migration_status import StatusCreator

NOT_QUEUED = ("the request could not be handed to the workers (the message broker did not answer); nothing was "
              "copied: submit it again")

log = logging.getLogger(__name__)


def login_digest(salt: str, login: str) -> str:
    return hashlib.sha256(f"{salt}:{login.strip().lower()}".encode()).hexdigest()


def unsealed_spec(ep: Endpoint) -> EndpointSpec:
    """The event's view of an endpoint; its password is sealed by ``create_migration`` under the new data key."""
    return EndpointSpec(type=ep.type, host=ep.host, port=ep.port, security=ep.security, login=ep.login,
                        tls_verify=ep.tls_verify, sieve_port=ep.sieve_port, auth=ep.auth, password_sealed="")


@dataclass(frozen=True)
class MigrationDraft:
    """A checked request, before it has an ID and a data key."""

    source: EndpointSpec  # password_sealed still empty
    target: EndpointSpec
    passwords: tuple[str, str] = field(repr=False)  # the source's and the target's, in clear
    options: list[str]
    notify_email: str | None
    pair_id: str
    login: str  # the login the migration is followed with
    status_fields: dict[str, str] = field(default_factory=dict)  # added to (or overriding) the common ones
    filters: MailFilters | None = None  # which folders and dates (a project's rows and passes)


def address(spec: EndpointSpec) -> str:
    return f"{spec.type}://{spec.host}:{spec.port}"


def new_migration_id(token: Callable[[int], str] = secrets.token_urlsafe) -> str:
    """192 random bits (the ID carries the secrecy), never with a leading "-": `mailferry status -In5…` read it
    as an option."""
    while (mid := token(24)).startswith("-"):
        pass
    return mid


def create_migration(status: StatusCreator, producer: ProducerEdge, keys: MasterKeys, draft: MigrationDraft) -> str:
    """Seal, record and publish ``draft``; returns the new migration's ID."""
    mid = new_migration_id()
    data_key = new_data_key()

    def sealed(spec: EndpointSpec, password: str, side: str) -> EndpointSpec:
        return spec.model_copy(update={"password_sealed": seal(data_key, password, seal_context(mid, side))})

    source = sealed(draft.source, draft.passwords[0], "source")
    target = sealed(draft.target, draft.passwords[1], "target")
    event = MigrationRequested(migration_id=mid, source=source, target=target, options=draft.options,
                               notify_email=draft.notify_email, pair_id=draft.pair_id, filters=draft.filters)
    salt = secrets.token_hex(16)
    status.create(mid, {
        "login_salt": salt,
        "login_hash": login_digest(salt, draft.login),
        "options": json.dumps(draft.options),
        "notify_email": draft.notify_email or "",
        "source": address(source),
        "target": address(target),
        "pair_id": draft.pair_id,
        **draft.status_fields,
    }, encode(event).decode(), keys.wrap(data_key, mid))
    try:
        producer.send(topics.MIGRATIONS_REQUESTED, mid, event)
        producer.flush(30)
    except (DeliveryFailed, KafkaException) as exc:
        # Recorded but never handed to the workers: it would wait in ``queued`` for ever. Failed at once, with
        # the reason; the caller's 503 (the error handlers) says to try again.
        log.warning("migration not queued, marked failed", extra={"migration_id": mid, "error": str(exc)[:200]})
        try:
            status.abandon(mid, NOT_QUEUED)
        except Exception as also:  # the broker or Redis gone too: the stall watch ends it later
            log.warning("abandoned migration not marked", extra={"migration_id": mid, "error": str(also)[:200]})
        raise
    return mid


def accepted(mid: str) -> JSONResponse:
    return JSONResponse(status_code=202, content={"id": mid, "status_url": f"/api/v1/migrations/{mid}"})
