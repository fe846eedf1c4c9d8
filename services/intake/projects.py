"""Projects: many mailboxes moved as one batch, for operators (the routes are operator_api.py's).

A project's rows come from CSV (:mod:`services.intake.project_csv`); their passwords are sealed under the
project's data key at once. Starting a project (now or at a time) launches one migration per row through
the same :func:`~services.intake.migration_start.create_migration` a user's request goes through, so a
row's migration is sealed, recorded, published, followed, cancelled and undone like any other. Launching
and ending are done by :mod:`services.intake.project_loop`, which intake runs every second on every replica.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from services.intake.api_models import Endpoint
from services.intake.intake import Intake, pair_id
from services.intake.migration_start import MigrationDraft, create_migration, unsealed_spec
from services.intake.project_csv import MAX_ROWS, ParsedRow, ProjectSettings, RowError, parse
from shared import json_log
from shared import migration_state as ms
from shared import project_progress as pp
from shared import redis_keys as k
from shared.credential_seal import new_data_key, seal, unseal
from shared.events import MailFilters
from shared.project_store import ProjectLog, ProjectStore, now_iso

log = logging.getLogger(__name__)

DRAFT, SCHEDULED, RUNNING, ENDED = "draft", "scheduled", "running", "ended"
CANCELLED, UNDOING, UNDONE = "cancelled", "undoing", "undone"
PROJECT_STATES = (DRAFT, SCHEDULED, RUNNING, ENDED, CANCELLED, UNDOING, UNDONE)
#: What a project becomes once every row has ended: the state it ended from → its final state.
ENDS = {RUNNING: ENDED, CANCELLED: CANCELLED, UNDOING: UNDONE}
#: The passes a start runs: every row not yet run; every row, mail received before a date; every row again.
FULL, PRESTAGE, FINAL = "full", "prestage", "final"
PASSES = (FULL, PRESTAGE, FINAL)
#: Rows launched between two looks at the lock (a project of 50,000 rows is launched in slices).
LAUNCH_SLICE = 500
#: Errors a CSV upload's answer lists (all of them stay downloadable).
ANSWER_ERRORS = 1000


def _context(pid: str, row: int, side: str) -> str:
    return f"project:{pid}/{row}/{side}"


class ProjectError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Projects:
    def __init__(self, intake: Intake, log: ProjectLog | None = None) -> None:
        self.intake = intake
        self.store = ProjectStore(intake.r, log)

    # -- creating and adding rows ------------------------------------------------------------
    def create(self, settings: ProjectSettings, lines: Iterable[str], operator: str) -> dict[str, Any]:
        for side in (settings.source, settings.target):
            json_log.register_secret(side.password)
        pid = "p" + secrets.token_urlsafe(16)
        self.store.create(pid, {"name": settings.name, "state": DRAFT, "operator": operator,
                                "settings": settings.model_dump_json(exclude={"source": {"password"},
                                                                               "target": {"password"}}),
                                "notify_email": settings.notify_email or ""},
                          self.intake.keys.wrap(new_data_key(), pid))
        # The project-wide passwords are sealed too: rows added later take them as well.
        data_key = self.data_key(pid)
        sealed = {side: seal(data_key, getattr(settings, side).password, _context(pid, 0, side))
                  for side in ("source", "target") if getattr(settings, side).password}
        self.store.set_fields(pid, default_passwords=json.dumps(sealed))
        log.info("project created", extra={"project_id": pid, "operator": operator})
        return self.add_rows(pid, lines, settings)

    def settings(self, pid: str) -> ProjectSettings:
        fields = self.store.fields(pid)
        settings = ProjectSettings.model_validate_json(fields["settings"])
        data_key = self.data_key(pid)
        for side, sealed in json.loads(fields.get("default_passwords", "{}")).items():
            getattr(settings, side).password = unseal(data_key, sealed, _context(pid, 0, side))
        return settings

    def add_rows(self, pid: str, lines: Iterable[str], settings: ProjectSettings | None = None) -> dict[str, Any]:
        fields = self.store.fields(pid)
        if fields.get("state") not in (DRAFT, SCHEDULED, RUNNING, ENDED):
            raise ProjectError(409, "project_closed",
                               f"rows cannot be added to a project that is {fields.get('state')}")
        settings = settings or self.settings(pid)
        upload = int(self.intake.r.hincrby(k.project(pid), "uploads", 1))
        seen = self.store.accounts(pid)
        room = MAX_ROWS - self.store.row_count(pid)
        data_key = self.data_key(pid)
        added, errors_total = 0, 0
        first_errors: list[dict[str, Any]] = []
        for kind, batch in _batches(parse(lines, settings, seen, room)):
            if kind == "errors":
                errs = [{"upload": upload, "line": e.line, "field": e.field, "reason": e.reason}
                        for e in batch if isinstance(e, RowError)]
                errors_total += self.store.add_errors(pid, errs)
                first_errors += errs[:max(0, ANSWER_ERRORS - len(first_errors))]
                continue
            rows = [r for r in batch if isinstance(r, ParsedRow)]
            numbers = self.store.next_row_numbers(pid, len(rows))
            stored = [self._sealed_row(pid, data_key, n, upload, r) for n, r in zip(numbers, rows, strict=True)]
            self.store.add_rows(pid, stored, {r.account: r.line for r in rows})
            added += len(rows)
        self.intake.r.hincrby(k.project(pid), "errors", errors_total)
        self.store.set_fields(pid, rows=str(self.store.row_count(pid)))
        log.info("project rows added", extra={"project_id": pid, "rows": added, "errors": errors_total})
        return {"id": pid, "upload": upload, "rows_added": added, "errors_total": errors_total,
                "errors": first_errors}

    def _sealed_row(self, pid: str, data_key: bytes, number: int, upload: int, row: ParsedRow) -> dict[str, Any]:
        out: dict[str, Any] = {"row": number, "upload": upload, "line": row.line, "options": row.options,
                               "state": pp.PENDING, "runs": [], "account": row.account}
        for side, ep in (("source", row.source), ("target", row.target)):
            json_log.register_secret(ep.password)
            out[side] = {**ep.model_dump(exclude={"password"}),
                         "password_sealed": seal(data_key, ep.password, _context(pid, number, side))}
        return out

    def data_key(self, pid: str) -> bytes:
        wrapped = self.store.wrapped_key(pid)
        if wrapped is None:
            raise ProjectError(409, "credentials_deleted", "this project's credentials have been deleted")
        return self.intake.keys.unwrap(wrapped, pid)

    def endpoints(self, pid: str, row: dict[str, Any], data_key: bytes) -> tuple[Endpoint, Endpoint]:
        """The row's two accounts with their passwords in clear (for a launch or a pre-flight)."""
        out = []
        for side in ("source", "target"):
            spec = dict(row[side])
            password = unseal(data_key, spec.pop("password_sealed"), _context(pid, int(row["row"]), side))
            json_log.register_secret(password)
            out.append(Endpoint.model_construct(**spec, password=password))
        return out[0], out[1]

    # -- starting ----------------------------------------------------------------------------
    def start(self, pid: str, at: datetime | None, pass_: str = FULL, before: datetime | None = None
              ) -> dict[str, Any]:
        """Schedule a pass: ``full`` (every row not yet run), ``prestage`` (every row, only mail received before
        ``before``) or ``final`` (every row again: the delta at cut-over)."""
        fields = self._fields(pid)
        if fields.get("state") not in (DRAFT, SCHEDULED, ENDED):
            raise ProjectError(409, "already_running", f"the project is {fields.get('state')}")
        if (pass_ == PRESTAGE) != (before is not None):
            raise ProjectError(422, "invalid_request", "a prestage pass needs received_before, and only it takes one")
        if not self.store.row_count(pid):
            raise ProjectError(409, "no_rows", "the project has no rows to run: add a CSV first")
        self.data_key(pid)  # 409 when its credentials are gone (Redis lost them): nothing could log in
        when = (at or datetime.now(UTC)).astimezone(UTC)
        self.store.set_fields(pid, state=SCHEDULED, start_at=when.isoformat(timespec="seconds"), ended_at="",
                              run_pass=pass_, received_before=before.astimezone(UTC).isoformat() if before else "")
        log.info("project scheduled", extra={"project_id": pid, "start_at": when.isoformat(), "pass": pass_})
        return {"id": pid, "state": SCHEDULED, "start_at": when.isoformat(timespec="seconds"), "pass": pass_}

    def launch(self, pid: str, only: Iterable[int] | None = None, every_row: bool = False) -> int:
        """Launch a migration for each pending row, or the rows ``only`` names, or every row whose last run has
        ended (``every_row``: a pre-stage or final pass); returns how many."""
        data_key = self.data_key(pid)
        fields = self.store.fields(pid)
        settings = ProjectSettings.model_validate_json(fields["settings"])
        before = fields.get("received_before") if fields.get("run_pass") == PRESTAGE else ""
        filters = MailFilters(include_folders=settings.folders.include, exclude_folders=settings.folders.exclude,
                              received_before=datetime.fromisoformat(before) if before else None)
        wanted = set(only) if only is not None else None
        views = {v["row"]: v["state"] for v in self.row_views(pid)} if every_row else {}
        launched = 0
        todo = [r for r in self.store.rows(pid)
                if (r["row"] in wanted if wanted is not None
                    else views.get(r["row"]) in ms.FINAL or r.get("state") == pp.PENDING)]
        for i in range(0, len(todo), LAUNCH_SLICE):
            if i and only is None and self.store.fields(pid).get("state") == CANCELLED:
                break  # cancelled while launching: the rest stay pending, and cancel marks them
            done = [self._launch_row(pid, row, data_key, filters, fields.get("run_pass", FULL))
                    for row in todo[i:i + LAUNCH_SLICE]]
            self.store.put_rows(pid, done)
            launched += len(done)
        return launched

    def _launch_row(self, pid: str, row: dict[str, Any], data_key: bytes, filters: MailFilters,
                    pass_: str) -> dict[str, Any]:
        source, target = self.endpoints(pid, row, data_key)
        draft = MigrationDraft(source=unsealed_spec(source), target=unsealed_spec(target),
                               passwords=(source.password, target.password), options=row["options"],
                               notify_email=None, pair_id=pair_id(source, target, self.intake.opts.allow),
                               login=source.login, status_fields={"project_id": pid, "project_row": str(row["row"])},
                               filters=filters)
        mid = create_migration(self.intake.status, self.intake.producer, self.intake.keys, draft)
        row["runs"] = [*(row.get("runs") or []), {"mid": mid, "at": now_iso(), "pass": pass_}]
        row["state"] = "launched"
        return row

    # -- reading -------------------------------------------------------------------------------
    def _fields(self, pid: str) -> dict[str, str]:
        fields = self.store.fields(pid) if k.well_formed_id(pid) else {}
        if not fields:
            raise ProjectError(404, "not_found", "no project with this ID")
        return fields

    def row_views(self, pid: str, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """What the operator sees of each row (of ``rows``, else of every row), with its migration's state."""
        rows = self.store.rows(pid) if rows is None else rows
        self.intake.status.ensure_view()  # the migrations' statuses are read below straight from the view
        pipe = self.intake.r.pipeline(transaction=False)
        mids = [pp.current_mid(r) for r in rows]
        for mid in mids:
            pipe.hgetall(k.migration(mid or "-"))
        found = pipe.execute()
        return [pp.row_view(r, {_s(a): _s(b) for a, b in f.items()} if mid else None)
                for r, mid, f in zip(rows, mids, found, strict=True)]

    def summary(self, pid: str, fields: dict[str, str] | None = None,
                views: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        fields = fields or self._fields(pid)
        views = self.row_views(pid) if views is None else views
        return {"id": pid, "name": fields.get("name", ""), "state": fields.get("state", ""),
                "created_at": fields.get("created_at", ""), "updated_at": fields.get("updated_at", ""),
                "start_at": fields.get("start_at") or None, "ended_at": fields.get("ended_at") or None,
                "row_errors": int(fields.get("errors", "0") or 0), "preflight": fields.get("preflight") or None,
                "totals": pp.totals(views)}

    def list(self) -> list[dict[str, Any]]:
        out = []
        for pid in self.store.ids():
            fields = self.store.fields(pid)
            if fields:
                out.append(self.summary(pid, fields))
        return out

    def rows(self, pid: str, state: str | None, offset: int, limit: int) -> dict[str, Any]:
        self._fields(pid)
        if state is None:  # only the page's rows need their migration read
            every = self.store.rows(pid)
            return {"id": pid, "total": len(every), "offset": offset,
                    "rows": self.row_views(pid, every[offset:offset + limit])}
        views = [v for v in self.row_views(pid) if v["state"] == state]
        return {"id": pid, "total": len(views), "offset": offset, "rows": views[offset:offset + limit]}

    # -- acting ---------------------------------------------------------------------------------
    def cancel(self, pid: str) -> dict[str, Any]:
        fields = self._fields(pid)
        if fields.get("state") in (CANCELLED, UNDOING, UNDONE):
            return {"id": pid, "state": fields["state"], "rows_cancelled": 0}
        self.store.set_fields(pid, state=CANCELLED)  # first: the launcher launches nothing more
        n = self.cancel_rows(pid)
        log.info("project cancelled", extra={"project_id": pid, "rows": n})
        return {"id": pid, "state": CANCELLED, "rows_cancelled": n}

    def cancel_rows(self, pid: str) -> int:
        """Rows not launched are marked cancelled; running migrations are cancelled. How many of either."""
        cancelled = 0
        unlaunched = []
        for row in self.store.rows(pid):
            mid = pp.current_mid(row)
            if mid is None:
                if row.get("state") == pp.PENDING:
                    row["state"] = pp.NOT_LAUNCHED
                    unlaunched.append(row)
                continue
            mfields = self.intake.status.fields(mid)
            running = mfields.get("state") not in ms.FINAL and mfields.get("state") != ms.UNDOING
            if running and self.intake.cancel_known(mid, mfields).status_code == 202:
                cancelled += 1
        self.store.put_rows(pid, unlaunched)
        return cancelled + len(unlaunched)

    def undo(self, pid: str) -> dict[str, Any]:
        """Undo every row's migrations that have ended (every run, newest first); rows still running are named."""
        fields = self._fields(pid)
        if fields.get("state") not in (ENDED, CANCELLED):
            raise ProjectError(409, "not_finished", f"the project is {fields.get('state')}: a project is undone once "
                                                    "it has ended (cancel it first to stop it)")
        data_key = self.data_key(pid)
        started, refused = 0, []
        for row in self.store.rows(pid):
            for run in reversed(row.get("runs") or []):
                mfields = self.intake.status.fields(run["mid"])
                state = mfields.get("state", "")
                if state in (ms.UNDONE, ms.UNDOING):
                    continue
                deadline = self.intake.undo_deadline(mfields)
                if state not in ms.UNDOABLE or deadline is None or datetime.now(UTC) > deadline:
                    refused.append({"row": row["row"], "migration_id": run["mid"], "state": state})
                    continue
                _src, target = self.endpoints(pid, row, data_key)
                if self.intake.start_undo(run["mid"], target.password).status_code == 202:
                    started += 1
        self.store.set_fields(pid, state=UNDOING, ended_at="")
        log.info("project undo", extra={"project_id": pid, "migrations": started})
        return {"id": pid, "state": UNDOING, "migrations_undoing": started, "not_undone": refused}

    def retry(self, pid: str) -> dict[str, Any]:
        """A new run for every row that failed, was cancelled or has failed items: the ledger skips what
        is already on the target, so only what failed (and mail that arrived since) is copied."""
        fields = self._fields(pid)
        if fields.get("state") in (UNDOING, UNDONE):
            raise ProjectError(409, "undone", f"the project is {fields.get('state')}")
        again = [v["row"] for v in self.row_views(pid)
                 if v["state"] in (ms.FAILED, ms.COMPLETED_WITH_ERRORS, ms.CANCELLED, pp.NOT_LAUNCHED)]
        launched = self.launch(pid, again) if again else 0
        if launched:
            self.store.set_fields(pid, state=RUNNING, ended_at="")
        return {"id": pid, "state": RUNNING if launched else fields.get("state", ""), "rows_retried": launched}

    def delete(self, pid: str) -> None:
        """The project and everything its migrations left in Redis (status, reports, ledgers, undo index)."""
        self._fields(pid)
        for row in self.store.rows(pid):
            for run in row.get("runs") or []:
                self._delete_migration(run["mid"])
        self.store.delete(pid)
        log.info("project deleted", extra={"project_id": pid})

    def _delete_migration(self, mid: str) -> None:
        fields = self.intake.status.fields(mid)
        r = self.intake.r
        if fields.get("pair_id"):
            r.delete(k.ledger(fields["pair_id"]), k.inflight(fields["pair_id"]), k.rules_before(fields["pair_id"]))
        r.delete(k.migration(mid), k.spec(mid), k.results(mid), k.report(mid), k.errors(mid), k.history(mid),
                 k.data_key(mid), k.undo_index(mid))
        if fields.get("state"):
            r.srem(k.by_state(fields["state"]), mid)

def _batches(outcomes: Iterable[ParsedRow | RowError], size: int = 1000
             ) -> Iterator[tuple[str, list[ParsedRow | RowError]]]:
    """Consecutive good rows and consecutive errors, in slices of ``size``."""
    kind = ""
    batch: list[ParsedRow | RowError] = []
    for outcome in outcomes:
        this = "errors" if isinstance(outcome, RowError) else "rows"
        if (this != kind or len(batch) >= size) and batch:
            yield kind, batch
            batch = []
        kind = this
        batch.append(outcome)
    if batch:
        yield kind, batch


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
