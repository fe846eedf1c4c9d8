"""Intake: start a migration, check its logins, cancel, undo, report (the routes are app.py's).

Nothing is queued until both logins have been checked on the real servers.
Passwords are sealed before they leave this process and are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter

from services.intake.api_errors import error, unavailable
from services.intake.api_models import (
    Endpoint,
    MigrationRequest,
)
from services.intake.login_check import SideFailed, check_both, check_endpoint, raise_first_failure
from services.intake.migration_start import (
    MigrationDraft,
    accepted,
    create_migration,
    login_digest,
    unsealed_spec,
)
from services.intake.rate_limit import Attempt, LoginRateLimiter, RateLimited
from services.intake.sign_in import SignInStore, refused_sign_in
from services.intake.undo_access import sign_in_url, undo_asks
from shared import json_log, topics
from shared import migration_state as ms
from shared import redis_keys as k
from shared.account_identity import account_identity, scope_text
from shared.adapters import registry as adapters
from shared.adapters.descriptor import System
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.config import DetectSettings, Settings
from shared.credential_seal import MasterKeys, new_data_key, seal
from shared.credentials import UNDO_SEAL_SIDE, seal_context
from shared.dependency_watch import DependencyWatch
from shared.errors import ConnectionCheckFailed
from shared.events import ControlCommand, EndpointSpec, MigrationRequested, decode_as
from shared.host_leases import HostLeases, SessionGate
from shared.kafka_edge import EventProducer
from shared.mail_address import InvalidEmail
from shared.metrics import ServiceMetrics
from shared.migration_records import RecordLog
from shared.net_guard import AllowList
from shared.project_progress import table_csv
from shared.status_store import StatusStore
from shared.view_rebuild import ViewGuard

log = logging.getLogger(__name__)

def pair_id(source: Endpoint, target: Endpoint, allow: AllowList) -> str:
    """Same source account and same target account → same ledger, however the server and login are
    spelled and whether over TLS or not (shared/account_identity.py says what names an account)."""
    raw = scope_text(*account_identity(source.type, source.host, source.port, source.login, allow),
                     *account_identity(target.type, target.host, target.port, target.login, allow))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Intake:
    def __init__(self, settings: Settings, r: redis.Redis, producer: EventProducer, keys: MasterKeys,
                 registry: CollectorRegistry, metrics: ServiceMetrics,
                 detect_settings: DetectSettings | None = None, watch: DependencyWatch | None = None) -> None:
        self.settings = settings
        self.watch = watch
        self.r = r
        # A request waits at most 10 s for another process's rebuild, then gets "temporarily unavailable".
        self.view = ViewGuard(r, settings.kafka_bootstrap, settings.topic_prefix, "intake", registry, wait_seconds=10)
        self.status = StatusStore(r, RecordLog(producer, "intake"), self.view.ensure)
        self.producer = producer
        self.keys = keys
        self.registry = registry
        self.metrics = metrics
        self.limiter = LoginRateLimiter(r, settings.login_checks_per_minute)
        self.opts = ConnectOptions(allow=settings.allow_hosts, ca_file=settings.ca_file,
                                   timeout=settings.connect_timeout)
        # The login checks' sessions count against the operator's session caps like the workers' do.
        self.env = AdapterEnv(connect=self.opts, spool=settings.spool, max_connections=settings.ews_max_connections,
                              gate=SessionGate(HostLeases(r, settings.session_caps)))
        self.detect_settings = detect_settings or DetectSettings()
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="login-check")
        self.sign_ins = SignInStore(r, keys)
        self.requests = Counter("mailferry_intake_requests", "API requests by endpoint and outcome",
                                ["endpoint", "outcome"], registry=registry)

    def outage(self, endpoint: str) -> JSONResponse | None:
        """503 at once if Redis or the broker was down at the last check, before any login check or write
        (a request that meets an outage later still gets a 503 from the error handlers)."""
        down = self.watch.down() if self.watch is not None else []
        if down:
            self.requests.labels(endpoint, "unavailable").inc()
            return unavailable(down)
        return None

    def authorized(self, mid: str, login: str) -> dict[str, str] | None:
        """The status fields, or None for an unknown ID *or* a wrong login (same answer)."""
        fields = self.status.fields(mid) if k.well_formed_id(mid) else {}
        if not fields:
            return None
        want = fields.get("login_hash", "")
        got = login_digest(fields.get("login_salt", ""), login)
        return fields if hmac.compare_digest(want, got) else None

    def create(self, req: MigrationRequest, client_ip: str) -> JSONResponse:
        if (down := self.outage("create")) is not None:
            return down
        for side, ep in (("source", req.source), ("target", req.target)):
            json_log.register_secret(ep.password)
            if not ep.tls_verify and not self.settings.allow_insecure_tls:
                return error(422, "tls_verify_not_allowed", "turning off certificate checks is not allowed "
                             "on this service", side=side, field=f"{side}.tls_verify")
        problems = adapters.problems(req.source.type, req.target.type, req.options)
        if problems:
            fld, msg = problems[0]
            return error(422, "options_not_possible", msg, field=fld)
        handles = [ep.password for ep in (req.source, req.target) if ep.auth == "oauth2"]
        refused = self.resolve_accounts(req)
        if refused is not None:
            return refused
        try:
            self.limiter.check(("login", req.source.login), ("ip", client_ip))
            with self.limiter.failures("target", req.target.login) as target_check:
                refused = self.check_logins(req, target_check)
        except RateLimited as exc:
            return rate_limited(exc)
        if refused is not None:
            return refused
        draft = MigrationDraft(source=unsealed_spec(req.source), target=unsealed_spec(req.target),
                               passwords=(req.source.password, req.target.password), options=req.options,
                               notify_email=req.notify_email, pair_id=pair_id(req.source, req.target, self.opts.allow),
                               login=req.source.login)
        mid = create_migration(self.status, self.producer, self.keys, draft)
        for handle in handles:
            self.sign_ins.forget(handle)  # the tokens are sealed under the migration's data key now
        self.requests.labels("create", "accepted").inc()
        log.info("migration accepted", extra={"migration_id": mid, "options": req.options})
        return accepted(mid)

    def resolve_accounts(self, req: MigrationRequest) -> JSONResponse | None:
        """Both accounts through :meth:`resolve_account`; the refusal, or None."""
        for side in ("source", "target"):
            try:
                setattr(req, side, self.resolve_account(side, getattr(req, side)))
            except SideFailed as exc:
                return error(422, exc.error.code, str(exc.error), side=side, field=side_field(side, exc.error))
            except SignInRefused:
                return refused_sign_in(side)
        return None

    def resolve_account(self, side: str, ep: Endpoint) -> Endpoint:
        """Where the operator says the service is (Microsoft 365), and the tokens of a sign-in on the page in
        place of its id. Raises SideFailed (the service's address cannot be had) or SignInRefused. Used by new
        migrations and PST uploads alike."""
        system = adapters.SYSTEMS.get(ep.type)
        if system is None:
            return ep
        update: dict[str, Any] = {}
        if system.service_address is not None:
            try:
                host, port = system.service_address()
            except ConnectionCheckFailed as exc:
                raise SideFailed(side, exc) from None
            update.update(host=host, port=port, security="tls")
        if system.sign_in is not None and ep.auth == "oauth2":
            found = self.sign_ins.tokens(ep.type, ep.password)
            if found is None or found[1].strip().lower() != ep.login.strip().lower():
                raise SignInRefused(side)
            update["password"] = found[0]
        return ep.model_copy(update=update) if update else ep

    def locate(self, side: str, ep: Endpoint) -> Endpoint:
        """The account with its server found (autodiscover, DNS, the provider table) when none was given.
        Raises SideFailed."""
        find_server = adapters.find_server(ep.type)
        if ep.host or find_server is None:
            return ep
        try:
            host, port, security = find_server(ep.login, ep.password, self.detect_settings, self.settings.allow_hosts)
        except InvalidEmail as exc:  # the request model refuses these first; never a 500
            raise SideFailed(side, LoginNotAnAddress(f"{side}.login: {exc}")) from None
        except ConnectionCheckFailed as exc:
            raise SideFailed(side, exc) from None
        return ep.model_copy(update={"host": host, "port": port, "security": security})

    def check_logins(self, req: MigrationRequest, target_check: Attempt) -> JSONResponse | None:
        """Find servers not given (autodiscover), check both logins; the refusal, or None when both logged in.

        The target's check is counted against its login unless it succeeded, whatever the source's did.
        """
        try:
            for side in ("source", "target"):
                setattr(req, side, self.locate(side, getattr(req, side)))
            outcomes = check_both((unsealed_spec(req.source), req.source.password),
                                  (unsealed_spec(req.target), req.target.password), self.env, self.pool, req.options,
                                  answer_first=True)
            if outcomes["target"] is None:
                target_check.passed()
            raise_first_failure(outcomes)
        except SideFailed as exc:
            self.metrics.error(exc.error.code)
            self.requests.labels("create", exc.error.code).inc()
            return error(422, exc.error.code, str(exc.error), side=exc.side, field=side_field(exc.side, exc.error))
        return None

    # -- after the start: cancel, undo, report ------------------------------------------
    def cancel(self, mid: str, login: str) -> JSONResponse:
        if (down := self.outage("cancel")) is not None:
            return down
        fields = self.authorized(mid, login)
        if fields is None:
            return error(404, "not_found", "no migration with this ID and login")
        return self.cancel_known(mid, fields)

    def cancel_known(self, mid: str, fields: dict[str, str]) -> JSONResponse:
        """Cancel a migration whose caller has been authorised (the user by its login, an operator by key)."""
        state = fields.get("state", "")
        if state == ms.CANCELLING:
            return JSONResponse(status_code=202, content={"id": mid, "state": state})
        if state in ms.FINAL or state == ms.UNDOING:
            return error(409, "already_ended", f"the migration has already ended ({state}); there is nothing to cancel")
        if self.status.transition(mid, ms.CANCELLING) is None:
            fresh = self.status.fields(mid).get("state", "")
            if fresh == ms.CANCELLING:
                return JSONResponse(status_code=202, content={"id": mid, "state": fresh})
            return error(409, "already_ended", f"the migration has already ended ({fresh}); there is nothing to cancel")
        self.producer.send(topics.MIGRATIONS_CONTROL, mid, ControlCommand(migration_id=mid, command="cancel"))
        self.producer.flush(30)
        log.info("cancel requested", extra={"migration_id": mid})
        return JSONResponse(status_code=202, content={"id": mid, "state": ms.CANCELLING})

    def undo_deadline(self, fields: dict[str, str]) -> datetime | None:
        finished = fields.get("finished_at")
        if not finished:
            return None
        return datetime.fromisoformat(finished) + timedelta(hours=self.settings.undo_window_hours)

    def undo(self, mid: str, login: str, target_password: str, client_ip: str) -> JSONResponse:
        json_log.register_secret(target_password)
        if (down := self.outage("undo")) is not None:
            return down
        fields = self.authorized(mid, login)
        if fields is None:
            return error(404, "not_found", "no migration with this ID and login")
        state = fields.get("state", "")
        if state == ms.UNDOING:
            return JSONResponse(status_code=202, content={"id": mid, "state": state})
        if state == ms.UNDONE:
            return error(409, "already_undone", "this migration has already been undone")
        if state not in ms.UNDOABLE:
            return error(409, "not_finished", f"the migration is {state}; undo is possible once it has ended "
                                              "(cancel it first to stop it)")
        deadline = self.undo_deadline(fields)
        if deadline is None or datetime.now(UTC) > deadline:
            until = deadline.isoformat(timespec="seconds") if deadline else "unknown"
            hours = f"{self.settings.undo_window_hours:g}"
            return error(409, "undo_expired",
                         f"undo was possible until {until} ({hours} hours after the end); it has expired")
        try:
            self.limiter.check(("login", login), ("ip", client_ip))
        except RateLimited as exc:
            return rate_limited(exc)
        spec = decode_as(self.r.get(k.spec(mid)), MigrationRequested).target
        system = adapters.SYSTEMS.get(spec.type)
        if system is None or system.undo is None:
            return error(409, "not_finished", "this migration has no target that can be undone")
        secret = self.undo_secret(system, spec, target_password)
        if isinstance(secret, JSONResponse):
            return secret
        try:
            with self.limiter.failures("target", spec.login) as target_check:
                check_endpoint(spec, secret, self.env)
                target_check.passed()
        except RateLimited as exc:
            return rate_limited(exc)
        except ConnectionCheckFailed as exc:
            self.metrics.error(exc.code)
            return error(422, exc.code, str(exc), side="target")
        if undo_asks(system, spec) == "sign_in":
            self.sign_ins.forget(target_password)  # sealed under the undo's own data key from here on
        return self.start_undo(mid, secret)

    def undo_needs(self, mid: str) -> dict[str, str]:
        """For the status: what an undo of this migration asks for (``undo_asks``, and where to sign in)."""
        raw = self.r.get(k.spec(mid))
        if raw is None:
            return {}
        spec = decode_as(raw, MigrationRequested).target
        system = adapters.SYSTEMS.get(spec.type)
        if system is None or system.undo is None:
            return {}
        asks = undo_asks(system, spec)
        return {"undo_asks": asks, **({"undo_sign_in_url": sign_in_url(spec)} if asks == "sign_in" else {})}

    def undo_secret(self, system: System, spec: EndpointSpec, given: str) -> str | JSONResponse:
        """The target's secret for the undo (``undo_access``): the password given, the tokens of a new sign-in
        on the page in place of its id, or nothing for the operator's app; else the refusal saying what is needed."""
        asks = undo_asks(system, spec)
        if asks == "nothing":
            return ""
        if asks == "password":
            if not given:
                return error(422, "invalid_request", "target_password: the target account's password is needed "
                             "to undo", side="target", field="target_password")
            return given
        url = sign_in_url(spec)
        if not given:
            return error(409, "sign_in_required", f"the sign-in to {spec.login} ended with the migration; sign in "
                         "again and send the new sign-in id as target_password", side="target",
                         field="target_password", sign_in_url=url)
        found = self.sign_ins.tokens(spec.type, given)
        if found is None or found[1].strip().lower() != spec.login.strip().lower():
            return error(422, "sign_in_expired", f"the sign-in has expired, is unknown, or was made for another "
                         f"account than {spec.login}; sign in again", side="target", field="target_password",
                         sign_in_url=url)
        return found[0]

    def start_undo(self, mid: str, target_password: str) -> JSONResponse:
        """Queue the undo of an ended migration whose target password has been checked (or is the operator's)."""
        data_key = new_data_key()
        command = ControlCommand(migration_id=mid, command="undo", target_password_sealed=seal(
            data_key, target_password, seal_context(mid, UNDO_SEAL_SIDE)))
        self.status.set_data_key(mid, self.keys.wrap(data_key, mid))
        if self.status.transition(mid, ms.UNDOING) is None:
            return error(409, "not_finished", "the migration changed state meanwhile; try again")
        self.producer.send(topics.MIGRATIONS_CONTROL, mid, command)
        self.producer.flush(30)
        log.info("undo requested", extra={"migration_id": mid})
        return JSONResponse(status_code=202, content={"id": mid, "state": ms.UNDOING})

    def report(self, mid: str, login: str, fmt: str) -> Response:
        if self.authorized(mid, login) is None:
            return error(404, "not_found", "no migration with this ID and login")
        rows = self.status.report(mid)
        if fmt == "csv":
            return Response(report_csv(rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="mailferry-{mid}.csv"'})
        return JSONResponse(content={"id": mid, "items": rows})


def rate_limited(exc: RateLimited) -> JSONResponse:
    """429 with Retry-After; a target login's limit names the target."""
    target = exc.kind == "target"
    return error(429, "rate_limited", str(exc), side="target" if target else None,
                 field="target.login" if target else None, headers={"Retry-After": str(exc.retry_after)})


class LoginNotAnAddress(ConnectionCheckFailed):
    """The server is to be found from the login, which is no e-mail address (the request model refuses these
    first; never a 500)."""

    code = "invalid_request"
    field = "login"


class SignInRefused(Exception):
    """A sign-in id that names no live sign-in of this account."""


def side_field(side: str, exc: Exception) -> str | None:
    """``source.login`` for a refusal that names its field (UnsafeText), else None."""
    name = getattr(exc, "field", None)
    return f"{side}.{name}" if name else None


REPORT_COLUMNS = ("item_type", "result", "folder", "subject", "bytes", "reason", "item_key")


def report_csv(rows: list[dict[str, Any]]) -> str:
    """The report as CSV, formula cells made inert: a subject or folder name comes from whoever sent the mail."""
    return table_csv(REPORT_COLUMNS, rows)
