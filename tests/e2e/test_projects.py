"""Projects through the operator API on the whole stack: CSV rows and their errors, pre-flight, a run to the
end checked message by message on the targets, cancel, retry, undo, and the operator keys.

Real broker, Redis, Dovecot and the four services as separate processes (their own topic prefix).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib

from mailferry import seed, stack, verify
from mailferry.dovecot import DovecotServer
from tests.conftest import Accounts
from tests.e2e.flows import same_names
from tests.e2e.secret_scan import all_redis_bytes, all_topic_bytes
from tests.e2e.test_lifecycle import Relay
from tests.operator_rig import (
    AUTH_FAILURES_PER_MINUTE,
    HEADER,
    OPERATOR_KEY,
    VIEWER_KEY,
    api,
    create,
    project_in,
    project_stack,
    row,
    smtp,
    wait,
)

__all__ = ["project_stack", "smtp"]  # the module's stack and SMTP relay (fixtures)

FOLDERS = ("INBOX", "Sent", "Archive", "Work")
MASTER_PASSWORD = "master-" + secrets.token_urlsafe(12)


def same_tree(accounts: Accounts, login: str) -> dict[str, str | None]:
    """Every folder of the source (Dovecot adds its special folders to each new account) keeps its name."""
    with accounts.client(login) as c:
        return same_names(*(name for _f, _d, name in c.list_folders()))


def folder_names(accounts: Accounts, login: str) -> set[str]:
    with accounts.client(login) as c:
        return {name for _f, _d, name in c.list_folders()}


def seeded(accounts: Accounts, n: int, seed_no: int) -> tuple[str, dict[str, list[seed.Message]]]:
    login = accounts.new("psrc")
    layout = seed.plan_mailbox(n, seed=seed_no, folders=FOLDERS, with_corpus=False)
    with accounts.client(login) as c:
        seed.seed(c, layout)
    return login, layout


def test_operator_api_needs_a_key_and_a_role(project_stack: stack.StackInfo) -> None:
    assert api(project_stack, "GET", "/projects", key="").status_code == 401
    wrong = api(project_stack, "GET", "/projects", key="mfo_" + secrets.token_urlsafe(32))
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert api(project_stack, "GET", "/projects", key=VIEWER_KEY).status_code == 200
    refused = api(project_stack, "POST", "/projects/pnothing/cancel", key=VIEWER_KEY)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert api(project_stack, "POST", "/projects/pnothing/cancel").status_code == 404
    # The end users' API does not take an operator key as a way in, nor the reverse.
    assert httpx.get(f"{project_stack.intake_url}/api/v1/operator/projects", timeout=30,
                     params={"login": "x@example.test"}).status_code == 401
    doc = httpx.get(f"{project_stack.intake_url}/openapi.json", timeout=30).json()
    assert doc["components"]["securitySchemes"]["OperatorKey"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["OperatorKey"][
            "description"]}
    assert doc["paths"]["/api/v1/operator/projects"]["post"]["security"] == [{"OperatorKey": []}]
    assert "security" not in doc["paths"]["/api/v1/migrations"]["post"]
    assert "ProjectSettings" in doc["components"]["schemas"]


def test_a_project_from_csv_reports_bad_rows_checks_and_runs_to_the_end(
        project_stack: stack.StackInfo, accounts: Accounts, dovecot: DovecotServer, smtp: Relay) -> None:
    sources = [seeded(accounts, n, seed_no=n) for n in (40, 25, 60)]
    targets = [accounts.new("pdst") for _ in range(4)]
    wrong_pw_src, _layout = seeded(accounts, 5, seed_no=5)
    pw = accounts.passwords
    good = [row(dovecot, s, pw[s], t, pw[t]) for (s, _l), t in zip(sources, targets, strict=False)]
    port = dovecot.imap_port
    body = (HEADER + good[0] + good[1]
            + f'127.0.0.1,{port},none,"bell\x07@example.test",x,127.0.0.1,{port},none,t@example.test,y\n'  # 4
            + f"127.0.0.1,{port},none,ok@example.test,x,127.0.0.1,{port},none,=HYPERLINK(1),y\n"  # 5
            + f"127.0.0.1,{port},none,big@example.test,{'p' * 2000},127.0.0.1,{port},none,t@example.test,y\n"  # 6
            + good[0]  # 7: the same source account again
            + f"127.0.0.1,{port},none,port@example.test,x,127.0.0.1,70000,none,t@example.test,y\n"  # 8
            ).encode() + f"127.0.0.1,{port},none,".encode() + b"caf\xe9@example.test" + (  # 9: Latin-1
                f",x,127.0.0.1,{port},none,t@example.test,y\n" + good[2]
                + row(dovecot, wrong_pw_src, "not-the-password", targets[3], pw[targets[3]])).encode()

    created = create(project_stack, body, notify_email="noc@ops.test")
    assert created.status_code == 201, created.text
    got = created.json()
    assert got["rows_added"] == 4
    assert {(e["line"], e["field"]) for e in got["errors"]} == {
        (4, "source_login"), (5, "target_login"), (6, "source_password"), (7, "source_login"),
        (8, "target_port"), (9, "source_login")}
    assert got["errors_total"] == 6
    assert all(e["upload"] == 1 and e["reason"] for e in got["errors"])
    pid = got["id"]
    text = api(project_stack, "GET", f"/projects/{pid}/errors", params={"format": "csv"}).text
    assert text.splitlines()[0] == "upload,line,field,reason" and len(text.splitlines()) == 7
    # Nothing the operator reads carries a password.
    listing = api(project_stack, "GET", f"/projects/{pid}/rows").text
    assert all(pw[s] not in listing for s, _l in sources) and "password" not in listing

    # Pre-flight: logins checked, and each source measured; figures against the seeded mailboxes.
    assert api(project_stack, "POST", f"/projects/{pid}/preflight").status_code == 202
    def preflight_done() -> dict[str, Any] | None:
        found: dict[str, Any] = api(project_stack, "GET", f"/projects/{pid}/preflight").json()
        return found if found["preflight"] != "running" else None

    result = wait(preflight_done)
    assert result["preflight"] == "done"
    by_login = {r["source_login"]: r for r in result["rows"]}
    for login, layout in sources:
        figures = by_login[login]
        with accounts.client(login) as c:
            listed = len(c.list_folders())
        assert (figures["source_login_check"], figures["target_login_check"]) == ("ok", "ok")
        assert figures["folders"] == listed
        assert figures["messages"] == sum(len(v) for v in layout.values())
        assert figures["bytes"] == sum(len(m.data) for v in layout.values() for m in v)
        assert figures["estimated_seconds"] >= 0
    assert by_login[wrong_pw_src]["source_login_check"] == "authentication_failed"
    assert by_login[wrong_pw_src]["messages"] is None
    csv_text = api(project_stack, "GET", f"/projects/{pid}/preflight", params={"format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("row,line,source_login,target_login,source_login_check")
    assert len(csv_text.splitlines()) == 5

    # The run: every good row's mailbox arrives whole; the row whose source refuses its login fails.
    assert api(project_stack, "POST", f"/projects/{pid}/start").status_code == 202
    final = project_in(project_stack, pid, "ended")
    assert final["totals"]["rows_by_state"] == {"completed": 3, "failed": 1}
    total = sum(len(v) for _s, layout in sources for v in layout.values())
    assert (final["totals"]["total"], final["totals"]["done"]) == (total, total)
    for (login, _layout), target in zip(sources, targets, strict=False):
        with accounts.client(login) as a, accounts.client(target) as b:
            compared = verify.compare(a, b, same_tree(accounts, login))
        assert compared.identical, compared.problems()
    report = api(project_stack, "GET", f"/projects/{pid}/report").json()
    assert [r["state"] for r in report["rows"]] == ["completed", "completed", "completed", "failed"]
    assert report["rows"][3]["error"]
    report_csv = api(project_stack, "GET", f"/projects/{pid}/report", params={"format": "csv"}).text
    assert report_csv.splitlines()[0] == ("row,line,source_login,target_login,state,migration_id,runs,total,done,"
                                          "skipped,failed,bytes,error")
    completed = api(project_stack, "GET", f"/projects/{pid}/rows", params={"state": "completed"}).json()
    assert completed["total"] == 3
    # The operator is told once the last row has ended, through the tracker's notifications.
    mail = smtp.inbox.wait_for(lambda m: pid in m.get_payload())
    assert (mail["To"], mail["Subject"]) == ("noc@ops.test", "Your mailferry project has ended: ended")
    assert "completed: 3" in mail.get_payload() and "failed: 1" in mail.get_payload()
    assert f"Messages: {total} done, 0 skipped, 0 failed of {total}" in mail.get_payload()
    # No password of any row, in clear, anywhere the stack keeps things: topics, Redis, logs.
    kept = {"topics": all_topic_bytes(project_stack), "redis": all_redis_bytes(project_stack.redis_url),
            "logs": b"".join(p.read_bytes() for p in (Path(project_stack.state_dir) / "logs").glob("*.log"))}
    for where, blob in kept.items():
        for login in [*(s for s, _l in sources), *targets]:
            assert pw[login].encode() not in blob, (where, login)
    metrics = httpx.get(f"{project_stack.intake_url}/metrics", timeout=30).text
    ended = re.search(r'^mailferry_projects\{state="ended"\} (\d+)', metrics, re.MULTILINE)
    assert ended is not None and float(ended.group(1)) >= 1


def test_a_scheduled_project_is_cancelled_retried_and_undone(
        project_stack: stack.StackInfo, accounts: Accounts, dovecot: DovecotServer) -> None:
    sources = [seeded(accounts, n, seed_no=100 + n) for n in (30, 45)]
    targets = [accounts.new("pdst") for _ in sources]
    before = {t: folder_names(accounts, t) for t in targets}
    pw = accounts.passwords
    body = HEADER + "".join(row(dovecot, s, pw[s], t, pw[t]) for (s, _l), t in zip(sources, targets, strict=True))
    pid = create(project_stack, body.encode()).json()["id"]

    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    started = api(project_stack, "POST", f"/projects/{pid}/start", json={"at": later})
    assert started.status_code == 202 and started.json()["state"] == "scheduled"
    time.sleep(2.5)  # the launcher looks every second: a project due in an hour must still be waiting
    assert {r["state"] for r in api(project_stack, "GET", f"/projects/{pid}/rows").json()["rows"]} == {"pending"}
    cancelled = api(project_stack, "POST", f"/projects/{pid}/cancel").json()
    assert cancelled == {"id": pid, "state": "cancelled", "rows_cancelled": 2}
    rows = api(project_stack, "GET", f"/projects/{pid}/rows").json()["rows"]
    assert [(r["state"], r["migration_id"]) for r in rows] == [("cancelled", None), ("cancelled", None)]
    page = api(project_stack, "GET", f"/projects/{pid}/rows", params={"offset": 1, "limit": 1}).json()
    assert (page["total"], [r["row"] for r in page["rows"]]) == (2, [2])
    for t in targets:
        with accounts.client(t) as c:
            assert c.select_folder("INBOX")[b"EXISTS"] == 0

    # Retry: the rows that did not run are launched now and complete.
    retried = api(project_stack, "POST", f"/projects/{pid}/retry").json()
    assert retried["rows_retried"] == 2
    project_in(project_stack, pid, "ended")
    for (login, _layout), target in zip(sources, targets, strict=True):
        with accounts.client(login) as a, accounts.client(target) as b:
            assert verify.compare(a, b, same_tree(accounts, login)).identical

    # Undo: every message and folder the project created leaves the targets.
    undo = api(project_stack, "POST", f"/projects/{pid}/undo")
    assert undo.status_code == 202 and undo.json()["migrations_undoing"] == 2, undo.text
    done = project_in(project_stack, pid, "undone")
    assert done["totals"]["rows_by_state"] == {"undone": 2}
    for t in targets:
        assert folder_names(accounts, t) == before[t]
        with accounts.client(t) as c:
            assert all(c.select_folder(name, readonly=True)[b"EXISTS"] == 0 for name in before[t])

    # Deleted on request: nothing of it is left to read.
    assert api(project_stack, "DELETE", f"/projects/{pid}").status_code == 200
    assert api(project_stack, "GET", f"/projects/{pid}").status_code == 404


def message_ids(accounts: Accounts, login: str) -> dict[str, set[str]]:
    """Each folder's Message-IDs as the server holds them."""
    out: dict[str, set[str]] = {}
    with accounts.client(login) as c:
        for flags, _d, name in c.list_folders():
            if b"\\Noselect" in flags:
                continue
            c.select_folder(name, readonly=True)
            found = c.fetch(c.search("ALL") or [], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            out[name] = {re.sub(rb"(?i)^message-id:\s*", b"", v[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].strip()).decode()
                         for v in found.values()}
    return out


def expected_ids(layout: dict[str, list[seed.Message]], keep: Callable[[seed.Message], bool]) -> dict[str, set[str]]:
    return {folder: {re.search(rb"Message-ID: (<[^>]+>)", m.data).group(1).decode()  # type: ignore[union-attr]
                     for m in msgs if keep(m)} for folder, msgs in layout.items()}


def test_a_prestage_pass_then_the_final_delta_with_a_folder_left_out(
        project_stack: stack.StackInfo, accounts: Accounts, dovecot: DovecotServer) -> None:
    login, layout = seeded(accounts, 80, seed_no=808)
    target = accounts.new("pdst")
    pw = accounts.passwords
    body = HEADER + row(dovecot, login, pw[login], target, pw[target])
    pid = create(project_stack, body.encode(), folders={"exclude": ["work"]}).json()["id"]
    cutover = datetime(2020, 1, 1, tzinfo=UTC)
    older = [m for v in layout.values() for m in v if m.internaldate < cutover]
    assert 0 < len(older) < sum(len(v) for v in layout.values())  # the cut-over splits the mailbox

    bad = api(project_stack, "POST", f"/projects/{pid}/start", json={"pass": "prestage"})
    assert bad.status_code == 422
    started = api(project_stack, "POST", f"/projects/{pid}/start",
                  json={"pass": "prestage", "received_before": cutover.isoformat()})
    assert started.status_code == 202, started.text
    project_in(project_stack, pid, "ended")
    held = message_ids(accounts, target)
    want = expected_ids(layout, lambda m: m.internaldate < cutover)
    assert "Work" not in held
    assert {f: held.get(f, set()) for f in ("INBOX", "Sent", "Archive")} == {
        f: want[f] for f in ("INBOX", "Sent", "Archive")}

    # The final pass at cut-over: the rest arrives, nothing twice, Work still left out.
    assert api(project_stack, "POST", f"/projects/{pid}/start", json={"pass": "final"}).status_code == 202
    final = project_in(project_stack, pid, "ended")
    held = message_ids(accounts, target)
    want = expected_ids(layout, lambda m: True)
    assert "Work" not in held
    assert {f: held.get(f, set()) for f in ("INBOX", "Sent", "Archive")} == {
        f: want[f] for f in ("INBOX", "Sent", "Archive")}
    with accounts.client(target) as c:
        total = sum(c.select_folder(f, readonly=True)[b"EXISTS"] for f in ("INBOX", "Sent", "Archive"))
    assert total == sum(len(want[f]) for f in ("INBOX", "Sent", "Archive"))
    rows = api(project_stack, "GET", f"/projects/{pid}/report").json()["rows"]
    assert rows[0]["runs"] == 2 and final["totals"]["rows_by_state"] == {"completed": 1}


@pytest.fixture(scope="module")
def master_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A Dovecot of its own with a master user: the project-wide admin credential of an operator."""
    server = DovecotServer(tmp_path_factory.mktemp("dovecot-master"), master_user=("admin", MASTER_PASSWORD))
    server.start()
    yield server
    server.destroy()


def test_rows_without_a_password_log_in_with_the_project_wide_master_user(
        project_stack: stack.StackInfo, master_dovecot: DovecotServer) -> None:
    mailboxes = Accounts(master_dovecot)
    sources = [(mailboxes.new("msrc"), seed.plan_mailbox(n, seed=n, folders=FOLDERS, with_corpus=False))
               for n in (12, 30)]
    for login, layout in sources:
        with mailboxes.client(login) as c:
            seed.seed(c, layout)
    targets = [mailboxes.new("mdst") for _ in sources]
    port = master_dovecot.imap_port
    body = "source_login,target_login,target_password\n" + "".join(
        f"{s},{t},{mailboxes.passwords[t]}\n" for (s, _l), t in zip(sources, targets, strict=True))
    defaults = {"host": "127.0.0.1", "port": port, "security": "none"}
    pid = create(project_stack, body.encode(),
                 source={**defaults, "password": MASTER_PASSWORD, "login_format": "{login}*admin"},
                 target=defaults).json()["id"]
    assert api(project_stack, "POST", f"/projects/{pid}/start").status_code == 202
    final = project_in(project_stack, pid, "ended")
    assert final["totals"]["rows_by_state"] == {"completed": 2}
    for (login, _layout), target in zip(sources, targets, strict=True):
        with mailboxes.client(login) as a, mailboxes.client(target) as b:
            assert verify.compare(a, b, same_tree(mailboxes, login)).identical
    # The master password is sealed like the rows' own: nowhere in clear.
    assert MASTER_PASSWORD.encode() not in all_redis_bytes(project_stack.redis_url)


def test_a_project_survives_flushall_rows_status_and_credentials_from_its_topic(
        project_stack: stack.StackInfo, accounts: Accounts, dovecot: DovecotServer,
        redis_client: redis_lib.Redis) -> None:
    """Kafka is the record: after FLUSHALL the next intake rebuilds the project from the projects topic — rows,
    refused lines, states — and its data key (``dek:<project_id>`` there, as a migration's on its record), so
    it can run again; a project deleted on request stays deleted (its key is a tombstone too)."""
    login, layout = seeded(accounts, 15, seed_no=515)
    target = accounts.new("pdst")
    pw = accounts.passwords
    body = HEADER + row(dovecot, login, pw[login], target, pw[target]) + "127.0.0.1,1,none,=x,y,h,1,none,t,z\n"
    pid = create(project_stack, body.encode(), name="kept on Kafka").json()["id"]
    assert api(project_stack, "POST", f"/projects/{pid}/start").status_code == 202
    before = project_in(project_stack, pid, "ended")
    rows_before = api(project_stack, "GET", f"/projects/{pid}/rows").json()["rows"]
    errors_before = api(project_stack, "GET", f"/projects/{pid}/errors").json()["errors"]
    assert rows_before[0]["state"] == "completed" and len(errors_before) == 1

    redis_client.flushall()
    restart_intake(project_stack)

    after = api(project_stack, "GET", f"/projects/{pid}").json()
    assert {k: after[k] for k in ("name", "state", "created_at", "ended_at", "totals")} == {
        k: before[k] for k in ("name", "state", "created_at", "ended_at", "totals")}
    assert api(project_stack, "GET", f"/projects/{pid}/rows").json()["rows"] == rows_before
    assert api(project_stack, "GET", f"/projects/{pid}/errors").json()["errors"] == errors_before
    assert redis_client.exists(f"mf:pdek:{pid}"), "the project's data key did not come back from its topic"
    # The credentials came back with it: the final pass logs in and runs (nothing is left to copy).
    assert api(project_stack, "POST", f"/projects/{pid}/start", json={"pass": "final"}).status_code == 202
    final = project_in(project_stack, pid, "ended")
    rows_final = api(project_stack, "GET", f"/projects/{pid}/report").json()["rows"]
    assert rows_final[0]["runs"] == 2 and final["totals"]["rows_by_state"] == {"completed": 1}, rows_final[0]
    with accounts.client(login) as a, accounts.client(target) as b:
        result = verify.compare(a, b, same_tree(accounts, login))
    assert result.identical and result.messages == sum(len(v) for v in layout.values()), result.problems()
    # A project deleted on request stays deleted: its tombstones (its key's too) are read.
    assert api(project_stack, "DELETE", f"/projects/{pid}").status_code == 200
    redis_client.flushall()
    restart_intake(project_stack)
    assert api(project_stack, "GET", f"/projects/{pid}").status_code == 404
    assert not redis_client.exists(f"mf:pdek:{pid}")


def restart_intake(info: stack.StackInfo) -> None:
    """Intake killed and started again on its port (it reads the projects topic as it starts)."""
    for old in list(info.processes["intake"]):
        os.kill(old, signal.SIGKILL)
        info.processes["intake"].remove(old)
    port = int(info.env["MAILFERRY_INTAKE_PORT"])
    wait(lambda: {} if stack.port_free(port) else None, timeout=30)
    stack.start_service(info, "intake", Path(info.state_dir) / "logs")
    assert stack.wait_ready(f"{info.intake_url}/readyz", 60)


def test_hostile_operator_requests_get_clear_refusals_never_a_5xx(project_stack: stack.StackInfo) -> None:
    def code(resp: httpx.Response) -> tuple[int, str]:
        return resp.status_code, resp.json()["error"]["code"]

    assert code(api(project_stack, "POST", "/projects", json={"name": "x"})) == (415, "invalid_upload")
    files: dict[str, Any] = {"evil": (None, "x"), "rows": ("r.csv", HEADER.encode(), "text/csv")}
    assert code(api(project_stack, "POST", "/projects", files=files)) == (422, "invalid_upload")
    for settings, fld in (("{not json", "project"), ('{"name": "a\\u0000b"}', "project.name"),
                          ('{"name": "x", "extra": 1}', "project.extra"),
                          ('{"name": "x", "folders": {"exclude": ' + json.dumps(["f"] * 101) + "}}",
                           "project.folders.exclude"),
                          ('{"name": "x", "notify_email": "a@b.c, d@e.f"}', "project.notify_email"),
                          # defaults the API would refuse on every row they fill: refused once, here
                          ('{"name": "x", "options": ["nope"]}', "project.options"),
                          ('{"name": "x", "options": []}', "project.options"),
                          ('{"name": "x", "source": {"type": "bogus"}}', "project.source.type"),
                          ('{"name": "x", "target": {"security": "ssl"}}', "project.target.security")):
        files = {"project": (None, settings), "rows": ("r.csv", HEADER.encode(), "text/csv")}
        got = api(project_stack, "POST", "/projects", files=files)
        assert code(got) == (422, "invalid_request"), (settings, got.text)
        assert got.json()["error"]["field"] == fld, (settings, got.text)
    # A part missing or sent twice: refused naming it, and no project is made (two were glued together).
    settings_part = ("project", (None, '{"name": "parts"}'))
    rows_part = ("rows", ("r.csv", HEADER.encode(), "text/csv"))
    before = len(api(project_stack, "GET", "/projects").json()["projects"])
    for parts, want in (([rows_part], (422, "invalid_request", "project")),
                        ([settings_part], (422, "invalid_upload", "rows")),
                        ([settings_part, settings_part, rows_part], (422, "invalid_upload", "project")),
                        ([settings_part, rows_part, rows_part], (422, "invalid_upload", "rows"))):
        got = api(project_stack, "POST", "/projects", files=parts)
        assert (*code(got), got.json()["error"]["field"]) == want, (parts, got.text)
    assert len(api(project_stack, "GET", "/projects").json()["projects"]) == before
    # A CSV without its header line: its first row (a password in it) is named nowhere the errors go.
    secret = "Pw-" + secrets.token_urlsafe(12)
    first = f"10.1.2.3,993,tls,nohead@example.test,{secret},10.1.2.4,993,tls,nohead@example.net,x\n"
    got = create(project_stack, (first + first).encode())
    assert got.status_code == 201 and got.json()["rows_added"] == 0, got.text
    errors_csv = api(project_stack, "GET", f"/projects/{got.json()['id']}/errors", params={"format": "csv"}).text
    leaked = secret.lower() in (got.text + errors_csv).lower() or "nohead" in got.text + errors_csv
    assert not leaked, "a cell of the first line is in the answer or the errors"  # (never the password itself)
    boundary = "b0undary"
    truncated = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"rows\"; filename=\"r.csv\"\r\n\r\n"
                 + HEADER).encode()  # no closing boundary
    got = httpx.post(f"{project_stack.intake_url}/api/v1/operator/projects", content=truncated, timeout=30,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                              "Authorization": f"Bearer {OPERATOR_KEY}"})
    assert code(got) == (422, "invalid_upload")
    assert code(api(project_stack, "GET", "/projects/" + "a" * 5000)) == (404, "not_found")
    assert code(api(project_stack, "GET", "/projects/x/rows", params={"limit": 100_000})) == (422, "invalid_request")
    pid = create(project_stack, HEADER.encode()).json()["id"]
    assert api(project_stack, "GET", f"/projects/{pid}/rows", params={"state": "<script>"}).json()["total"] == 0
    for start in ({"at": "garbage"}, {"pass": "bogus"}, {"pass": "full", "received_before": "2020-01-01T00:00:00Z"},
                  {"unknown": 1},
                  # times UTC cannot hold (were a 500), and times without a zone (were read in the server's zone)
                  {"at": "9999-12-31T23:59:59-05:00"}, {"at": "0001-01-01T00:00:00+05:00"},
                  {"pass": "prestage", "received_before": "9999-12-31T23:59:59-05:00"},
                  {"at": "2030-01-01T00:00:00"}, {"pass": "prestage", "received_before": "2020-01-01T00:00:00"}):
        got = api(project_stack, "POST", f"/projects/{pid}/start", json=start)
        assert code(got) == (422, "invalid_request"), (start, got.text)
    assert code(api(project_stack, "POST", f"/projects/{pid}/undo")) == (409, "not_finished")
    assert code(api(project_stack, "POST", f"/projects/{pid}/start")) == (409, "no_rows")


def test_failed_keys_are_rate_limited(project_stack: stack.StackInfo, redis_client: redis_lib.Redis) -> None:
    """Last in the module: it uses up this client's failures for a minute (and gives them back at the end:
    the Redis, and so the count, is shared with the other modules' stacks)."""
    codes = [api(project_stack, "GET", "/projects", key=f"guess-{i}").status_code
             for i in range(AUTH_FAILURES_PER_MINUTE + 2)]
    assert 401 in codes and codes[-1] == 429
    assert codes.index(429) <= AUTH_FAILURES_PER_MINUTE + 1
    # The address is refused for the rest of its minute, whatever key it tries: a guess that happens to be
    # right must not get through either.
    assert api(project_stack, "GET", "/projects").status_code == 429
    redis_client.delete(*redis_client.scan_iter(match="mf:rl:operator-auth:*"))
