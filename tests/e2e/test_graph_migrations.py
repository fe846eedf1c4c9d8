"""Microsoft 365 (Graph) as a source through the whole stack: Graph → IMAP (Dovecot) and Graph → Exchange (EWS).

The Graph and EWS emulators are the only doubles; broker, Redis, Dovecot and the four services are real. The
Graph mailbox is seeded with plain HTTP (tests/graph_rig.py); what should arrive is written here as data and
read back independently: the IMAP side with imapclient (mailferry/verify.py), the Exchange side with
exchangelib. The stack is configured like an operator would: the tenant's app in a tenants file, the Graph
and sign-in addresses pointing at the emulator, its test CA trusted.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
import redis as redis_lib
from exchangelib import OofSettings

from mailferry import stack, verify
from mailferry.stack import StackInfo
from shared.adapters.ews import connection as ews_connection
from shared.adapters.ews import fields  # noqa: F401 - registers the extended properties
from tests import graph_rig as rig
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import PST_CORPUS, start, wait_final
from tests.e2e.secret_scan import all_redis_bytes, all_topic_bytes
from tests.ews_emulator import EwsEmulator
from tests.graph_emulator import GraphEmulator, ManualClock
from tests.servers import Process

WEST = "W. Europe Standard Time"
EXPECTED_TREE = {"INBOX", "INBOX/Données_Été", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects",
                 "Projects/2024", "Q1 _ Q2"}


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(1_790_000_000.0)


@pytest.fixture(scope="module")
def graph_emu(clock: ManualClock) -> Iterator[GraphEmulator]:
    with GraphEmulator(tls=True, clock=clock) as emu:
        yield emu


@pytest.fixture(scope="module")
def operator_app(graph_emu: GraphEmulator) -> str:
    return graph_emu.register_app(secret=rig.SECRET).client_id


@pytest.fixture(scope="module")
def graph_stack(broker: Process, redis_server: Process, graph_emu: GraphEmulator, operator_app: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("graph-stack")
    tenants = state / "tenants.json"  # what an operator mounts from a Kubernetes Secret
    tenants.write_text(json.dumps({"example.test": {"tenant_id": graph_emu.tenant.tenant_id,
                                                    "client_id": operator_app, "client_secret": rig.SECRET}}))
    env = stack_env(broker, redis_server, f"g{secrets.token_hex(4)}.", MAILFERRY_TASK_SIZE="10",
                    MAILFERRY_GRAPH_URL=graph_emu.graph_url, MAILFERRY_GRAPH_AUTHORITY=graph_emu.base_url,
                    MAILFERRY_GRAPH_TENANTS=str(tenants), MAILFERRY_CA_FILE=str(graph_emu.ca_file),
                    # anyone may start through the operator's app here, as the tests do without an operator key
                    # (the default refuses them: tests/integration/test_operator_app_gate.py)
                    MAILFERRY_OPERATOR_APP_PUBLIC="true")
    redirect = f"http://127.0.0.1:{env['MAILFERRY_INTAKE_PORT']}/api/v1/sign-in/graph/redirect"
    public = graph_emu.register_app(public_client=True, redirect_uris={redirect})
    env["MAILFERRY_GRAPH_CLIENT_ID"] = public.client_id
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


@pytest.fixture(scope="module")
def ews_emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def new_user(emu: GraphEmulator, name: str) -> str:
    login = f"{name}-{secrets.token_hex(4)}@example.test"
    emu.add_user(login)
    return login


def graph_endpoint(login: str, **extra: object) -> dict[str, object]:
    return {"type": "graph", "login": login, **extra}  # no server, no password: the operator's app


def received(g: httpx.Client, message_id: str) -> int:
    """The message's received time as Graph tells a plain client, as a POSIX second."""
    from datetime import datetime

    text = g.get(f"/messages/{message_id}", params={"$select": "receivedDateTime"}).json()["receivedDateTime"]
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def imap_folders(c: Any) -> dict[str, Counter[tuple[str, frozenset[str], int]]]:
    """Every selectable target folder: (sha256, flags, INTERNALDATE instant) per message, read with imapclient."""
    out = {}
    for name, listed in verify.list_folders(c).items():
        if listed.selectable:
            out[name] = Counter({(sha, flags, verify.instant(when)): n
                                 for (sha, flags, when), n in verify.snapshot_folder(c, name).items()})
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_graph_to_imap_every_folder_accounted_for_then_delta_passes(graph_stack: StackInfo, accounts: Accounts,
                                                                    graph_emu: GraphEmulator) -> None:
    login = new_user(graph_emu, "g2i")
    want: dict[str, Counter[tuple[str, frozenset[str], int]]] = {name: Counter() for name in EXPECTED_TREE}
    with rig.seeding(graph_emu, login) as g:
        projects = rig.folder(g, "msgfolderroot", "Projects")
        y2024 = rig.folder(g, projects, "2024")
        accents = rig.folder(g, "inbox", "Données/Été")
        rig.folder(g, "msgfolderroot", "Q1 / Q2")  # empty, and "/" is the target's separator
        plan = [  # folder, target folder, subject, read, received, flag, categories
            ("inbox", "INBOX", "Quarterly", True, "2023-01-02T03:04:05Z", "flagged", ["Red Category"]),
            ("inbox", "INBOX", "Done", False, "2022-12-31T23:00:00Z", "complete", []),
            ("sentitems", "Sent", "Answer", True, "2023-02-01T10:00:00Z", "notFlagged", []),
            ("junkemail", "Junk", "Win a prize", False, "2023-03-01T00:00:00Z", "notFlagged", []),
            ("archive", "Archive", "Old", True, "2019-05-05T05:05:05Z", "notFlagged", ["Büro"]),
            (y2024, "Projects/2024", "Plan", True, "2024-01-10T12:00:00Z", "flagged", []),
            (accents, "INBOX/Données_Été", "Vacances", True, "2024-07-01T08:00:00Z", "notFlagged", []),
        ]
        expected_flags = {"Quarterly": {"\\Seen", "\\Flagged", "Red&ACA-Category"}, "Done": {"$Completed"},
                          "Answer": {"\\Seen"}, "Win a prize": set(), "Old": {"\\Seen", "B&APw-ro"},
                          "Plan": {"\\Seen", "\\Flagged"}, "Vacances": {"\\Seen"}}
        for folder_id, target, subject, read, when, flag, categories in plan:
            mid = rig.message(g, folder_id, subject, read=read, received=when, flag=flag, categories=categories)
            want[target][(sha(rig.raw_mime(g, mid)), frozenset(expected_flags[subject]), received(g, mid))] += 1
        for n in range(12):  # enough for several extract tasks (10 per task here)
            raw = rig.generated_mime(100 + n, f"Bulk {n}", size=2000 * n)
            mid = rig.mime_message(g, projects, raw)  # Graph makes a MIME post a draft (read)
            want["Projects"][(sha(raw), frozenset({"\\Seen", "\\Draft"}), received(g, mid))] += 1
        draft = rig.generated_mime(200, "Unsent")
        want["Drafts"][(sha(draft), frozenset({"\\Seen", "\\Draft"}), received(g, rig.mime_message(g, "drafts", draft)))] += 1
    total = sum(sum(c.values()) for c in want.values())
    dst = accounts.new("g2i-dst")
    mid1 = start(graph_stack, graph_endpoint(login), accounts.endpoint(dst))
    st = wait_final(graph_stack, mid1, login)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == total == 20
    with accounts.client(dst) as c:
        assert imap_folders(c) == want  # every target folder accounted for, each message by bytes, flags, date

    # A second pass copies nothing; a third, after changes on Graph, only what is new.
    mid2 = start(graph_stack, graph_endpoint(login), accounts.endpoint(dst))
    again = wait_final(graph_stack, mid2, login)
    assert again["state"] == "completed", again
    assert (again["items"]["emails"]["done"], again["items"]["emails"]["skipped"]) == (0, total)
    with rig.seeding(graph_emu, login) as g:
        late = rig.message(g, "inbox", "Late", read=False, received="2025-01-01T00:00:00Z")
        want["INBOX"][(sha(rig.raw_mime(g, late)), frozenset(), received(g, late))] += 1
    mid3 = start(graph_stack, graph_endpoint(login), accounts.endpoint(dst))
    third = wait_final(graph_stack, mid3, login)
    assert (third["items"]["emails"]["done"], third["items"]["emails"]["skipped"]) == (1, total), third
    with accounts.client(dst) as c:
        assert imap_folders(c) == want


def test_graph_to_exchange_contacts_calendars_tasks_rules_auto_reply(graph_stack: StackInfo, graph_emu: GraphEmulator,
                                                                    ews_emu: EwsEmulator) -> None:
    login = new_user(graph_emu, "g2e")
    with rig.seeding(graph_emu, login) as g:
        rig.created(g.post("/contacts", json={
            "givenName": "Ada", "surname": "Lovelace", "displayName": "Ada Lovelace",
            "emailAddresses": [{"address": "ada@example.test"}], "businessPhones": ["+44 20 1234"],
            "mobilePhone": "+44 77 1", "companyName": "Analytical Engines", "jobTitle": "Analyst",
            "birthday": "1815-12-10T00:00:00Z", "personalNotes": "First program",
            "homeAddress": {"street": "12 Marylebone", "city": "London", "postalCode": "NW1", "countryOrRegion": "UK"}}))
        rig.created(g.post("/events", json={
            "subject": "Holiday", "isAllDay": True, "start": {"dateTime": "2026-04-01T00:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-04-02T00:00:00", "timeZone": WEST}}))
        master = rig.created(g.post("/events", json={
            "subject": "Jour fixe", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": WEST}, "showAs": "busy",
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                                       "firstDayOfWeek": "monday"},
                           "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 6}}}))
        window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-03-01T00:00:00Z"}
        occ = g.get(f"/events/{master['id']}/instances", params=window).json()["value"]
        assert g.patch(f"/events/{occ[1]['id']}", json={"subject": "Jour fixe (moved)",
                       "start": {"dateTime": "2026-01-13T11:00:00", "timeZone": WEST},
                       "end": {"dateTime": "2026-01-13T12:00:00", "timeZone": WEST}}).status_code == 200
        assert g.delete(f"/events/{occ[3]['id']}").status_code == 204
        default = next(x for x in g.get("/todo/lists").json()["value"] if x["wellknownListName"] == "defaultList")
        rig.created(g.post(f"/todo/lists/{default['id']}/tasks", json={
            "title": "File the report", "status": "inProgress", "importance": "high",
            "dueDateTime": {"dateTime": "2026-06-10T00:00:00", "timeZone": "UTC"}}))
        shop = rig.created(g.post("/todo/lists", json={"displayName": "Einkauf"}))  # EWS: a folder below Tasks
        rig.created(g.post(f"/todo/lists/{shop['id']}/tasks", json={"title": "Milch"}))
        archive = g.get("/mailFolders/archive").json()["id"]
        rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "News", "sequence": 1, "isEnabled": True,
            "conditions": {"subjectContains": ["newsletter"], "fromAddresses": [
                {"emailAddress": {"address": "news@example.net"}}]},
            "actions": {"moveToFolder": archive, "markAsRead": True}}))
        assert g.patch("/mailboxSettings", json={"automaticRepliesSetting": {
            "status": "scheduled", "externalAudience": "contactsOnly", "internalReplyMessage": "Bin im Urlaub",
            "externalReplyMessage": "Out of office",
            "scheduledStartDateTime": {"dateTime": "2099-07-01T00:00:00", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2099-07-15T00:00:00", "timeZone": "UTC"}}}).status_code == 200
    target = f"t-{secrets.token_hex(4)}@example.test"
    ews_emu.add_mailbox(target, "t-pw-1")
    ews_port = urlsplit(ews_emu.url).port
    ews = {"type": "ews", "host": "127.0.0.1", "port": ews_port, "security": "none", "login": target,
           "password": "t-pw-1"}
    options = ["contacts", "calendars", "tasks", "rules", "auto_reply"]
    mid = start(graph_stack, graph_endpoint(login), ews, options=options)
    st = wait_final(graph_stack, mid, login)
    assert st["state"] == "completed", st
    assert {op: st["items"][op]["done"] for op in options} == {"contacts": 1, "calendars": 2, "tasks": 2,
                                                               "rules": 1, "auto_reply": 1}
    rows = httpx.get(f"{graph_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": login},
                     timeout=30).json()["items"]
    assert [r for r in rows if r["subject"] == "Milch"] == []  # kept whole: nothing to report
    acc = ews_connection.connect_ews("127.0.0.1", int(ews_port or 80), "none", target, "t-pw-1")
    [ada] = list(acc.contacts.all())
    assert (ada.given_name, ada.surname, ada.company_name, ada.job_title) == ("Ada", "Lovelace",
                                                                            "Analytical Engines", "Analyst")
    assert [e.email for e in ada.email_addresses] == ["ada@example.test"]
    assert {(p.label, p.phone_number) for p in ada.phone_numbers} == {("BusinessPhone", "+44 20 1234"),
                                                                      ("MobilePhone", "+44 77 1")}
    assert (ada.birthday.year, ada.birthday.month, ada.birthday.day) == (1815, 12, 10)
    [home] = ada.physical_addresses
    assert (home.label, home.street, home.city, home.zipcode, home.country) == ("Home", "12 Marylebone", "London",
                                                                                "NW1", "UK")
    events = {e.subject: e for e in acc.calendar.all()}
    assert set(events) == {"Holiday", "Jour fixe"}
    assert events["Holiday"].is_all_day
    series = events["Jour fixe"]
    assert series.recurrence.boundary.number == 6 and series.legacy_free_busy_status == "Busy"
    assert len(series.modified_occurrences or []) == 1 and len(series.deleted_occurrences or []) == 1
    [moved] = list(acc.fetch(ids=[o.to_id() for o in series.modified_occurrences]))
    assert moved.subject == "Jour fixe (moved)"
    assert moved.start.astimezone(ews_connection_utc()).isoformat() == "2026-01-13T10:00:00+00:00"
    [task] = list(acc.tasks.all())
    [einkauf] = [f for f in acc.tasks.children if f.name == "Einkauf"]
    assert [t.subject for t in einkauf.all()] == ["Milch"]
    assert (task.subject, task.status, task.importance) == ("File the report", "InProgress", "High")
    assert (task.due_date.year, task.due_date.month, task.due_date.day) == (2026, 6, 10)
    [rule] = list(acc.rules)
    assert (rule.display_name, rule.is_enabled) == ("News", True)
    assert rule.conditions.contains_subject_strings == ["newsletter"]
    assert [a.email_address for a in rule.conditions.from_addresses] == ["news@example.net"]
    assert rule.actions.mark_as_read is True and rule.actions.move_to_folder is not None
    oof = acc.oof_settings
    assert (oof.state, oof.external_audience, oof.internal_reply, oof.external_reply) == (
        OofSettings.SCHEDULED, "Known", "Bin im Urlaub", "Out of office")
    assert oof.start.isoformat().startswith("2099-07-01T00:00:00")


def test_to_do_dates_of_a_mailbox_east_of_utc_keep_their_day(graph_stack: StackInfo, graph_emu: GraphEmulator,
                                                             ews_emu: EwsEmulator) -> None:
    """Microsoft 365 answers a To Do date as the midnight that starts it in the mailbox's zone, in UTC: 10 June in
    Berlin comes as 2026-06-09T22:00:00 UTC. It is 10 June on the target, not the 9th."""
    login = new_user(graph_emu, "todo-east")
    with rig.seeding(graph_emu, login) as g:
        assert g.patch("/mailboxSettings", json={"timeZone": WEST}).status_code == 200
        default = next(x for x in g.get("/todo/lists").json()["value"] if x["wellknownListName"] == "defaultList")
        task = rig.created(g.post(f"/todo/lists/{default['id']}/tasks", json={
            "title": "Steuererklärung", "startDateTime": {"dateTime": "2026-06-01T00:00:00", "timeZone": WEST},
            "dueDateTime": {"dateTime": "2026-06-10T00:00:00", "timeZone": WEST}}))
        assert task["dueDateTime"] == {"dateTime": "2026-06-09T22:00:00.0000000", "timeZone": "UTC"}
    target = f"t-{secrets.token_hex(4)}@example.test"
    ews_emu.add_mailbox(target, "t-pw-1")
    ews_port = urlsplit(ews_emu.url).port
    ews = {"type": "ews", "host": "127.0.0.1", "port": ews_port, "security": "none", "login": target,
           "password": "t-pw-1"}
    mid = start(graph_stack, graph_endpoint(login), ews, options=["tasks"])
    st = wait_final(graph_stack, mid, login)
    assert st["state"] == "completed", st
    acc = ews_connection.connect_ews("127.0.0.1", int(ews_port or 80), "none", target, "t-pw-1")
    [copied] = list(acc.tasks.all())
    assert copied.subject == "Steuererklärung"
    assert (str(copied.start_date), str(copied.due_date)) == ("2026-06-01", "2026-06-10")


def ews_connection_utc() -> Any:
    from exchangelib import EWSTimeZone

    return EWSTimeZone("UTC")


def test_graph_to_exchange_offers_no_contact_groups(graph_stack: StackInfo, ews_emu: EwsEmulator,
                                                   graph_emu: GraphEmulator) -> None:
    login = new_user(graph_emu, "nogroups")
    body = {"source": graph_endpoint(login), "target": {"type": "ews", "host": "127.0.0.1",
                                                         "port": urlsplit(ews_emu.url).port, "security": "none",
                                                         "login": "x@example.test", "password": "p"},
            "options": ["contact_groups"]}
    resp = httpx.post(f"{graph_stack.intake_url}/api/v1/migrations", json=body, timeout=60)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "options_not_possible"
    assert "contact_groups" in resp.json()["error"]["message"]
    rules = httpx.get(f"{graph_stack.intake_url}/api/v1/option-rules", timeout=30).json()
    no_groups = ["emails", "contacts", "calendars", "tasks", "rules", "auto_reply"]
    assert rules["options"]["graph"] == {"ews": no_groups, "graph": no_groups, "imap": ["emails"]}


def test_graph_limits_are_kept_and_retry_after_honoured(graph_stack: StackInfo, accounts: Accounts,
                                                        graph_emu: GraphEmulator, operator_app: str) -> None:
    login = new_user(graph_emu, "busy")
    with rig.seeding(graph_emu, login) as g:
        folders = [rig.folder(g, "msgfolderroot", f"F{i}") for i in range(4)]
        for n in range(60):
            rig.message(g, folders[n % 4], f"m{n}", read=True, received=f"2023-02-{1 + n % 27:02d}T00:00:00Z")
    graph_emu.faults.fail_next(6, status=429, code="ApplicationThrottled", retry_after=1, path_contains="$value")
    graph_emu.faults.fail_next(3, status=503, retry_after=1, path_contains="/messages/")
    injected = graph_emu.faults.injected
    dst = accounts.new("busy-dst")
    mid = start(graph_stack, graph_endpoint(login), accounts.endpoint(dst))
    st = wait_final(graph_stack, mid, login)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 60
    assert graph_emu.faults.injected - injected == 9  # every refusal was met, waited out and sent again
    key = (operator_app, login)
    assert graph_emu.throttle.peak_in_flight[key] <= 4  # never more at once than Graph allows
    assert graph_emu.throttle.throttled["MailboxConcurrency"] == 0
    assert graph_emu.throttle.throttled["MailboxRequests"] == 0
    with accounts.client(dst) as c:
        assert {n: sum(v.values()) for n, v in imap_folders(c).items() if n.startswith("F")} == {
            "F0": 15, "F1": 15, "F2": 15, "F3": 15}


def sign_in_over_http(info: StackInfo, login: str) -> str:
    """What the web page's Sign in with Microsoft does, followed by hand: intake → sign-in service → intake."""
    with httpx.Client(verify=False, timeout=30) as h:  # noqa: S501 - the emulator's test CA; nothing secret sent
        first = h.get(f"{info.intake_url}/api/v1/sign-in/graph", params={"login": login})
        assert first.status_code == 303, first.text
        authorize = urlsplit(first.headers["Location"])
        assert parse_qs(authorize.query)["code_challenge_method"] == ["S256"]
        back = h.get(first.headers["Location"])
        assert back.status_code == 302, back.text
        done = h.get(back.headers["Location"])
        assert done.status_code == 303, done.text
    fragment = dict(p.split("=", 1) for p in urlsplit(done.headers["Location"]).fragment.split("&"))
    assert unquote(fragment["login"]) == login
    return unquote(fragment["sign_in"])


def test_a_signed_in_user_migrates_with_tokens_renewed_and_never_in_clear(
        graph_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator, clock: ManualClock) -> None:
    login = new_user(graph_emu, "signed")
    with rig.seeding(graph_emu, login) as g:
        for n in range(15):
            rig.message(g, "inbox", f"s{n}", read=True, received=f"2023-04-{1 + n:02d}T00:00:00Z")
    handle = sign_in_over_http(graph_stack, login)
    dst = accounts.new("signed-dst")
    wrong = httpx.post(f"{graph_stack.intake_url}/api/v1/migrations", timeout=60, json={
        "source": graph_endpoint("someone-else@example.test", auth="oauth2", password=handle),
        "target": accounts.endpoint(dst)})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "sign_in_expired"  # made for another
    issued = graph_emu.tenant.tokens_issued
    mid = start(graph_stack, graph_endpoint(login, auth="oauth2", password=handle), accounts.endpoint(dst))
    gate = graph_emu.faults.hold(1)  # after intake's login check: the extractor's next Graph request waits ...
    assert gate.wait_held(1, timeout=60)
    clock.advance(2 * 3600)  # ... while the signed-in user's access token expires
    gate.release()
    graph_emu.faults.gate = None
    st = wait_final(graph_stack, mid, login)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 15
    assert graph_emu.tenant.tokens_issued > issued  # renewed with the refresh token during the migration
    refresh_tokens = [t for t, grant in graph_emu.tenant.refresh.items() if grant.user == login]
    assert refresh_tokens
    again = httpx.post(f"{graph_stack.intake_url}/api/v1/migrations", timeout=60, json={
        "source": graph_endpoint(login, auth="oauth2", password=handle), "target": accounts.endpoint(dst)})
    assert again.status_code == 422 and again.json()["error"]["code"] == "sign_in_expired"  # used up
    haystacks = {
        "topics": all_topic_bytes(graph_stack),
        "redis": all_redis_bytes(graph_stack.redis_url),
        "logs": b"".join(p.read_bytes() for p in (Path(graph_stack.state_dir) / "logs").glob("*.log")),
    }
    assert mid.encode() in haystacks["topics"] and mid.encode() in haystacks["redis"]
    jwt = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")  # any access or ID token
    for where, data in haystacks.items():
        assert not jwt.search(data), f"a token was found in {where}"
        for secret in [*refresh_tokens, rig.SECRET, handle]:
            for needle in (secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")):
                assert needle not in data, f"a secret was found in {where}"
    assert not redis_lib.Redis.from_url(graph_stack.redis_url).exists(f"mf:dek:{mid}")  # sealed copies unreadable


# -- Microsoft 365 as the target ---------------------------------------------------------------------------


def graph_tree(g: httpx.Client) -> dict[str, str]:
    """Every mail folder below the root by its path ("Inbox/Sub"), as a plain client lists it: path → id."""
    out: dict[str, str] = {}

    def walk(folder: str, prefix: str) -> None:
        for f in g.get(f"/mailFolders/{folder}/childFolders", params={"$top": "100"}).json()["value"]:
            path = f"{prefix}{f['displayName']}"
            out[path] = f["id"]
            walk(f["id"], path + "/")

    walk("msgfolderroot", "")
    return out


def graph_messages(g: httpx.Client, folder_id: str) -> list[tuple[Any, ...]]:
    """(subject, read, draft, flag, categories, received, sent, Message-ID, attachments) of a folder's messages."""
    out = []
    wanted = "subject,isRead,isDraft,flag,categories,receivedDateTime,sentDateTime,internetMessageId,hasAttachments"
    for m in g.get(f"/mailFolders/{folder_id}/messages", params={"$top": "1000", "$select": wanted}).json()["value"]:
        atts = g.get(f"/messages/{m['id']}/attachments", params={"$select": "name,size"}).json()["value"] \
            if m["hasAttachments"] else []
        out.append((m["subject"], m["isRead"], m["isDraft"], m["flag"]["flagStatus"], tuple(m["categories"]),
                    m["receivedDateTime"], m["sentDateTime"], m["internetMessageId"],
                    tuple((a["name"], a["size"]) for a in atts)))
    return sorted(out)


def simple_mime(subject: str, message_id: str, date: str, attachment: bytes | None = None) -> bytes:
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"] = "Bob <bob@example.net>"
    m["To"] = "alice@example.test"
    m["Subject"] = subject
    m["Date"] = date
    m["Message-ID"] = message_id
    m.set_content(f"{subject}\n")
    if attachment is not None:
        m.add_attachment(attachment, maintype="application", subtype="pdf", filename="scan.pdf")
    return m.as_bytes()


def undo(info: StackInfo, mid: str, login: str) -> dict[str, Any]:
    """Undo into a mailbox the operator's app writes to: the status says nothing is asked, and no password goes."""
    st = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}", params={"login": login}, timeout=60).json()
    assert st["undo_asks"] == "nothing" and st.get("undo_sign_in_url") is None, st
    resp = httpx.post(f"{info.intake_url}/api/v1/migrations/{mid}/undo", json={"login": login}, timeout=60)
    assert resp.status_code == 202, resp.text
    return wait_final(info, mid, login)


def test_undo_into_a_signed_in_mailbox_asks_for_a_new_sign_in(graph_stack: StackInfo, accounts: Accounts,
                                                              graph_emu: GraphEmulator) -> None:
    """The tokens of the migration's sign-in are gone at its end: undo says so with the sign-in URL, refuses the
    old sign-in and one made for another account, and runs with a new sign-in of the target's own user."""
    src = accounts.new("undo-signed-src")
    with accounts.client(src) as c:
        for n in range(3):
            c.append("INBOX", f"From: a@example.net\r\nSubject: u{n}\r\nMessage-ID: <u{n}@example.net>\r\n"
                              f"\r\nbody {n}\r\n".encode(), (b"\\Seen",))
    login, other = new_user(graph_emu, "undo-signed"), new_user(graph_emu, "undo-other")
    first = sign_in_over_http(graph_stack, login)
    mid = start(graph_stack, accounts.endpoint(src), graph_endpoint(login, auth="oauth2", password=first))
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 3, st
    url = f"/api/v1/sign-in/graph?login={login.replace('@', '%40')}"
    assert (st["undo_asks"], st["undo_sign_in_url"]) == ("sign_in", url)
    post = f"{graph_stack.intake_url}/api/v1/migrations/{mid}/undo"
    asked = httpx.post(post, json={"login": src}, timeout=60)
    assert asked.status_code == 409, asked.text
    assert asked.json()["error"] | {"message": ""} == {"code": "sign_in_required", "message": "", "side": "target",
                                                        "field": "target_password", "sign_in_url": url}
    for stale in (first, sign_in_over_http(graph_stack, other), "not-a-sign-in"):
        refused = httpx.post(post, json={"login": src, "target_password": stale}, timeout=60)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "sign_in_expired", refused.text
        assert refused.json()["error"]["sign_in_url"] == url
    with httpx.Client(verify=False, timeout=30) as h:  # noqa: S501 - the emulator's test CA
        started = h.get(graph_stack.intake_url + url)  # the URL the error names starts the sign-in flow
        assert started.status_code == 303 and "/oauth2/v2.0/authorize" in started.headers["Location"]
    again = sign_in_over_http(graph_stack, login)
    resp = httpx.post(post, json={"login": src, "target_password": again}, timeout=60)
    assert resp.status_code == 202, resp.text
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "undone" and st["undo"]["removed_messages"] == 3, st
    with rig.seeding(graph_emu, login) as g:
        assert graph_messages(g, g.get("/mailFolders/inbox").json()["id"]) == []
    reused = httpx.post(f"{graph_stack.intake_url}/api/v1/migrations", timeout=60, json={
        "source": accounts.endpoint(src), "target": graph_endpoint(login, auth="oauth2", password=again)})
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "sign_in_expired"  # used by the undo


def test_imap_to_graph_every_message_and_folder_then_a_pass_copies_nothing_then_undo(
        graph_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator) -> None:
    from datetime import datetime

    src = accounts.new("i2g-src")
    big = bytes(range(256)) * 14_000  # 3.5 MB: an upload session on the target
    utc = datetime.fromisoformat
    plan = [  # IMAP folder, subject, flags, INTERNALDATE, attachment
        ("INBOX", "Quarterly", (b"\\Seen", b"\\Flagged", b"Work"), "2024-01-02T09:00:05+00:00", None),
        ("INBOX", "Unread", (), "2023-05-06T07:08:09+00:00", None),
        ("INBOX", "Done", (b"\\Seen", b"$Completed"), "2023-05-07T00:00:00+00:00", None),
        ("Sent", "My answer", (b"\\Seen",), "2022-01-01T10:00:00+00:00", None),
        ("Drafts", "Unfinished", (b"\\Seen", b"\\Draft"), "2021-01-01T00:00:00+00:00", None),
        ("Junk", "Win", (), "2020-02-02T02:02:02+00:00", None),
        ("Archive", "Old", (b"\\Seen",), "2019-05-05T05:05:05+00:00", None),
        ("Projects/2024", "Scan", (b"\\Seen",), "2024-03-03T03:03:03+00:00", big),
        ("Données/Été", "Vacances", (b"\\Seen",), "2024-07-01T08:00:00+00:00", None),
    ]
    with accounts.client(src) as c:
        for name in ("Projects", "Projects/2024", "Données", "Données/Été", "Empty"):
            c.create_folder(name)
        for n, (folder, subject, flags, when, att) in enumerate(plan):
            raw = simple_mime(subject, f"<m{n}@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100", att)
            c.append(folder, raw, flags, msg_time=utc(when))
    login = new_user(graph_emu, "i2g")
    mid = start(graph_stack, accounts.endpoint(src), graph_endpoint(login))
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == len(plan)
    sent = "2024-01-01T09:00:00Z"
    with rig.seeding(graph_emu, login) as g:
        tree = graph_tree(g)
        assert set(tree) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive", "Outbox",
                             "Projects", "Projects/2024", "Données", "Données/Été", "Empty"}
        got = {path: graph_messages(g, fid) for path, fid in tree.items()}
    assert got == {
        "Inbox": [("Done", True, False, "complete", (), "2023-05-07T00:00:00Z", sent, "<m2@example.net>", ()),
                  ("Quarterly", True, False, "flagged", ("Work",), "2024-01-02T09:00:05Z", sent, "<m0@example.net>", ()),
                  ("Unread", False, False, "notFlagged", (), "2023-05-06T07:08:09Z", sent, "<m1@example.net>", ())],
        "Sent Items": [("My answer", True, False, "notFlagged", (), "2022-01-01T10:00:00Z", sent, "<m3@example.net>",
                        ())],
        "Drafts": [("Unfinished", True, True, "notFlagged", (), "2021-01-01T00:00:00Z", sent, "<m4@example.net>", ())],
        "Deleted Items": [], "Outbox": [], "Projects": [], "Données": [], "Empty": [],
        "Junk Email": [("Win", False, False, "notFlagged", (), "2020-02-02T02:02:02Z", sent, "<m5@example.net>", ())],
        "Archive": [("Old", True, False, "notFlagged", (), "2019-05-05T05:05:05Z", sent, "<m6@example.net>", ())],
        "Projects/2024": [("Scan", True, False, "notFlagged", (), "2024-03-03T03:03:03Z", sent, "<m7@example.net>",
                           (("scan.pdf", len(big)),))],
        "Données/Été": [("Vacances", True, False, "notFlagged", (), "2024-07-01T08:00:00Z", sent, "<m8@example.net>",
                         ())],
    }
    again = wait_final(graph_stack, start(graph_stack, accounts.endpoint(src), graph_endpoint(login)), src)
    assert (again["items"]["emails"]["done"], again["items"]["emails"]["skipped"]) == (0, len(plan)), again
    st = undo(graph_stack, mid, src)
    assert st["state"] == "undone", st
    assert st["undo"]["kept"] == [], st["undo"]
    with rig.seeding(graph_emu, login) as g:
        tree = graph_tree(g)
        # the messages of the first migration are gone for good (none in Deleted Items); the second copied none
        assert set(tree) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive", "Outbox"}
        assert {path: graph_messages(g, fid) for path, fid in tree.items()} == {path: [] for path in tree}


def test_graph_to_graph_everything_then_undo_puts_the_mailbox_back(graph_stack: StackInfo,
                                                                  graph_emu: GraphEmulator) -> None:
    src, dst = new_user(graph_emu, "g2g-src"), new_user(graph_emu, "g2g-dst")
    with rig.seeding(graph_emu, src) as g:
        projects = rig.folder(g, "msgfolderroot", "Projects")
        rig.message(g, "inbox", "Quarterly", read=True, received="2023-01-02T03:04:05Z", flag="flagged",
                    categories=["Red Category"])
        rig.message(g, projects, "Plan", read=False, received="2024-01-10T12:00:00Z")
        rig.mime_message(g, "drafts", rig.generated_mime(7, "Unsent"))
        rig.created(g.post("/contacts", json={"givenName": "Ada", "surname": "Lovelace", "displayName": "Ada Lovelace",
                                              "emailAddresses": [{"address": "ada@example.test"}],
                                              "companyName": "Analytical Engines"}))
        rig.created(g.post("/events", json={
            "subject": "Holiday", "isAllDay": True, "start": {"dateTime": "2026-04-01T00:00:00", "timeZone": WEST},
            "end": {"dateTime": "2026-04-02T00:00:00", "timeZone": WEST}}))
        master = rig.created(g.post("/events", json={
            "subject": "Jour fixe", "start": {"dateTime": "2026-01-05T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-01-05T10:00:00", "timeZone": "Europe/Berlin"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                                       "firstDayOfWeek": "monday"},
                           "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 6}}}))
        window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-03-01T00:00:00Z"}
        occ = g.get(f"/events/{master['id']}/instances", params=window).json()["value"]
        assert g.patch(f"/events/{occ[1]['id']}", json={"subject": "Jour fixe (moved)",
                       "start": {"dateTime": "2026-01-13T11:00:00", "timeZone": "Europe/Berlin"},
                       "end": {"dateTime": "2026-01-13T12:00:00", "timeZone": "Europe/Berlin"}}).status_code == 200
        assert g.delete(f"/events/{occ[3]['id']}").status_code == 204
        default = next(x for x in g.get("/todo/lists").json()["value"] if x["wellknownListName"] == "defaultList")
        rig.created(g.post(f"/todo/lists/{default['id']}/tasks", json={
            "title": "File the report", "status": "inProgress", "importance": "high",
            "dueDateTime": {"dateTime": "2026-06-10T00:00:00", "timeZone": "UTC"}}))
        shop = rig.created(g.post("/todo/lists", json={"displayName": "Einkauf"}))  # other lists and calendars
        rig.created(g.post(f"/todo/lists/{shop['id']}/tasks", json={"title": "Milch"}))
        team = rig.created(g.post("/calendars", json={"name": "Team"}))
        rig.created(g.post(f"/calendars/{team['id']}/events", json={
            "subject": "Retro", "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"}}))
        rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "News", "sequence": 1, "isEnabled": True,
            "conditions": {"subjectContains": ["newsletter"]}, "actions": {"moveToFolder": projects,
                                                                           "markAsRead": True}}))
        assert g.patch("/mailboxSettings", json={"automaticRepliesSetting": {
            "status": "alwaysEnabled", "externalAudience": "all", "internalReplyMessage": "Away",
            "externalReplyMessage": "Away (ext)"}}).status_code == 200
    with rig.seeding(graph_emu, dst) as g:
        before_reply = g.get("/mailboxSettings/automaticRepliesSetting").json()
        mine = rig.created(g.post("/mailFolders/inbox/messageRules", json={
            "displayName": "Mine", "sequence": 2, "isEnabled": True, "actions": {"markAsRead": True}}))
    options = ["emails", "contacts", "calendars", "tasks", "rules", "auto_reply"]
    mid = start(graph_stack, graph_endpoint(src), graph_endpoint(dst), options=options)
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "completed", st
    assert {op: st["items"][op]["done"] for op in options} == {"emails": 3, "contacts": 1, "calendars": 3,
                                                               "tasks": 2, "rules": 1, "auto_reply": 1}
    with rig.seeding(graph_emu, dst) as g:
        tree = graph_tree(g)
        got = {path: [(m[0], m[1], m[2], m[3], m[4], m[5]) for m in graph_messages(g, fid)]
               for path, fid in tree.items() if path in ("Inbox", "Projects", "Drafts")}
        assert got == {"Inbox": [("Quarterly", True, False, "flagged", ("Red Category",), "2023-01-02T03:04:05Z")],
                       "Projects": [("Plan", False, False, "notFlagged", (), "2024-01-10T12:00:00Z")],
                       "Drafts": [("Unsent", True, True, "notFlagged", (), got["Drafts"][0][5])]}
        [ada] = g.get("/contacts").json()["value"]
        assert (ada["displayName"], ada["companyName"], [e["address"] for e in ada["emailAddresses"]]) == \
            ("Ada Lovelace", "Analytical Engines", ["ada@example.test"])
        events = {e["subject"]: e for e in g.get("/calendar/events").json()["value"]}
        assert set(events) == {"Holiday", "Jour fixe"} and events["Holiday"]["isAllDay"] is True
        g.headers["Prefer"] = 'outlook.timezone="Europe/Berlin"'
        occ = g.get(f"/events/{events['Jour fixe']['id']}/instances", params=window).json()["value"]
        assert [(o["start"]["dateTime"][:16], o["subject"]) for o in occ] == [
            ("2026-01-05T09:00", "Jour fixe"), ("2026-01-13T11:00", "Jour fixe (moved)"),
            ("2026-01-19T09:00", "Jour fixe"), ("2026-02-02T09:00", "Jour fixe"), ("2026-02-09T09:00", "Jour fixe")]
        del g.headers["Prefer"]
        lists = g.get("/todo/lists").json()["value"]
        default = next(x for x in lists if x["wellknownListName"] == "defaultList")
        [task] = g.get(f"/todo/lists/{default['id']}/tasks").json()["value"]
        assert (task["title"], task["status"], task["importance"]) == ("File the report", "inProgress", "high")
        assert sorted(x["displayName"] for x in lists) == ["Einkauf", "Tasks"]
        einkauf = next(x["id"] for x in lists if x["displayName"] == "Einkauf")
        assert [t["title"] for t in g.get(f"/todo/lists/{einkauf}/tasks").json()["value"]] == ["Milch"]
        calendars = {c["name"]: c["id"] for c in g.get("/calendars").json()["value"]}
        assert sorted(calendars) == ["Calendar", "Team"]
        assert [e["subject"] for e in g.get(f"/calendars/{calendars['Team']}/events").json()["value"]] == ["Retro"]
        rules = {r["displayName"]: r for r in g.get("/mailFolders/inbox/messageRules").json()["value"]}
        assert set(rules) == {"News", "Mine"}
        assert g.get(f"/mailFolders/{rules['News']['actions']['moveToFolder']}").json()["displayName"] == "Projects"
        reply = g.get("/mailboxSettings/automaticRepliesSetting").json()
        assert (reply["status"], reply["internalReplyMessage"]) == ("alwaysEnabled", "Away")
    st = undo(graph_stack, mid, src)
    assert st["state"] == "undone", st
    assert st["undo"]["kept"] == [], st["undo"]
    with rig.seeding(graph_emu, dst) as g:
        assert set(graph_tree(g)) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive",
                                      "Outbox"}
        for fid in graph_tree(g).values():
            assert graph_messages(g, fid) == []
        assert g.get("/contacts").json()["value"] == [] and g.get("/calendar/events").json()["value"] == []
        assert g.get(f"/todo/lists/{default['id']}/tasks").json()["value"] == []
        assert [x["displayName"] for x in g.get("/todo/lists").json()["value"]] == ["Tasks"]  # the ones it made: gone
        assert [c["name"] for c in g.get("/calendars").json()["value"]] == ["Calendar"]
        assert [r["id"] for r in g.get("/mailFolders/inbox/messageRules").json()["value"]] == [mine["id"]]
        assert g.get("/mailboxSettings/automaticRepliesSetting").json() == before_reply


ADA = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nEMAIL:ada@example.test\r\n"
       "TEL;TYPE=WORK:+44 20 1234\r\nORG:Analytical Engines\r\nTITLE:Analyst\r\nEND:VCARD\r\n")
HOLIDAY_AND_TASK = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:holiday@test\r\n"
                    "DTSTART;VALUE=DATE:20260501\r\nDTEND;VALUE=DATE:20260502\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\n"
                    "BEGIN:VTODO\r\nUID:task@test\r\nSUMMARY:File the report\r\nDUE;VALUE=DATE:20260610\r\n"
                    "STATUS:IN-PROCESS\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


def test_exchange_to_graph_every_item_type_contact_groups_reported_then_undo(
        graph_stack: StackInfo, graph_emu: GraphEmulator, ews_emu: EwsEmulator) -> None:
    from datetime import timedelta

    from exchangelib import EWSDateTime, EWSTimeZone, Message

    from shared.adapters.ews.mapping import contact_to_ews
    from shared.formats.vcard import parse_vcard
    from tests.ews_emulator.pim_seed import WEEKLY_STANDUP, add_news_rule, save_calendar, save_group

    source = f"e2g-{secrets.token_hex(4)}@example.test"
    ews_emu.add_mailbox(source, "s-pw-1")
    port = int(urlsplit(ews_emu.url).port or 80)
    acc = ews_connection.connect_ews("127.0.0.1", port, "none", source, "s-pw-1")
    acc.default_timezone = EWSTimeZone("Europe/Berlin")
    contact_to_ews(parse_vcard(ADA.encode()), account=acc, folder=acc.contacts).value.save()
    save_group(acc, "Team", [("Ann", "ann@example.test"), ("Bob", "bob@example.test")])
    save_calendar(acc, WEEKLY_STANDUP)
    save_calendar(acc, HOLIDAY_AND_TASK)
    add_news_rule(acc)
    utc = EWSTimeZone("UTC")
    start_at = EWSDateTime(2099, 7, 1, 0, 0, tzinfo=utc)
    acc.oof_settings = OofSettings(state=OofSettings.SCHEDULED, external_audience="Known", start=start_at,
                                   end=start_at + timedelta(days=14), internal_reply="Bin im Urlaub",
                                   external_reply="Out of office")
    for n, (folder, read) in enumerate(((acc.inbox, True), (acc.inbox, False), (acc.sent, True))):
        Message(account=acc, folder=folder, is_read=read, categories=["Blue"] if n == 0 else [],
                mime_content=simple_mime(f"EWS {n}", f"<e{n}@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100"),
                delivery_time=EWSDateTime(2024, 1, 2 + n, 8, 0, tzinfo=utc)).save()
    login = new_user(graph_emu, "e2g")
    ews = {"type": "ews", "host": "127.0.0.1", "port": port, "security": "none", "login": source,
           "password": "s-pw-1"}
    options = ["emails", "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"]
    mid = start(graph_stack, ews, graph_endpoint(login), options=options)
    st = wait_final(graph_stack, mid, source)
    assert st["state"] == "completed_with_errors", st
    assert {op: (st["items"][op]["done"], st["items"][op]["failed"]) for op in options} == {
        "emails": (3, 0), "contacts": (1, 0), "contact_groups": (0, 1), "calendars": (2, 0), "tasks": (1, 0),
        "rules": (1, 0), "auto_reply": (1, 0)}
    report = httpx.get(f"{graph_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": source},
                       timeout=30).json()["items"]
    [group] = [r for r in report if r.get("item_type") == "contact_group"]
    assert group["result"] == "failed" and "has no contact groups" in group["reason"]
    sent = "2024-01-01T09:00:00Z"
    with rig.seeding(graph_emu, login) as g:
        tree = graph_tree(g)
        assert set(tree) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive", "Outbox",
                             "Newsletters"}  # the folder the rule moves mail into
        assert graph_messages(g, tree["Inbox"]) == [
            ("EWS 0", True, False, "notFlagged", ("Blue",), "2024-01-02T08:00:00Z", sent, "<e0@example.net>", ()),
            ("EWS 1", False, False, "notFlagged", (), "2024-01-03T08:00:00Z", sent, "<e1@example.net>", ())]
        assert graph_messages(g, tree["Sent Items"]) == [
            ("EWS 2", True, False, "notFlagged", (), "2024-01-04T08:00:00Z", sent, "<e2@example.net>", ())]
        [ada] = g.get("/contacts").json()["value"]
        assert (ada["displayName"], ada["givenName"], ada["surname"], ada["companyName"], ada["jobTitle"],
                ada["businessPhones"], [e["address"] for e in ada["emailAddresses"]]) == (
            "Ada Lovelace", "Ada", "Lovelace", "Analytical Engines", "Analyst", ["+44 20 1234"], ["ada@example.test"])
        events = {e["subject"]: e for e in g.get("/calendar/events").json()["value"]}
        assert set(events) == {"Standup", "Holiday"}
        assert (events["Holiday"]["isAllDay"], events["Holiday"]["start"]["dateTime"][:10]) == (True, "2026-05-01")
        assert events["Standup"]["recurrence"]["range"]["numberOfOccurrences"] == 10
        g.headers["Prefer"] = 'outlook.timezone="Europe/Berlin"'
        window = {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-02-01T00:00:00Z"}
        occ = g.get(f"/events/{events['Standup']['id']}/instances", params=window).json()["value"]
        assert [(o["start"]["dateTime"][:16], o["subject"]) for o in occ] == [
            ("2026-01-05T09:00", "Standup"), ("2026-01-12T10:00", "Standup (moved)"),
            ("2026-01-26T09:00", "Standup")]  # the 19th was cancelled
        del g.headers["Prefer"]
        default = next(x for x in g.get("/todo/lists").json()["value"] if x["wellknownListName"] == "defaultList")
        [task] = g.get(f"/todo/lists/{default['id']}/tasks").json()["value"]
        assert (task["title"], task["status"], task["dueDateTime"]["dateTime"][:10]) == ("File the report",
                                                                                          "inProgress", "2026-06-10")
        [rule] = g.get("/mailFolders/inbox/messageRules").json()["value"]
        assert (rule["displayName"], rule["conditions"]["subjectContains"]) == ("news", ["newsletter"])
        assert rule["actions"]["moveToFolder"] and \
            g.get(f"/mailFolders/{rule['actions']['moveToFolder']}").json()["displayName"] == "Newsletters"
        reply = g.get("/mailboxSettings/automaticRepliesSetting").json()
        assert (reply["status"], reply["externalAudience"], reply["internalReplyMessage"],
                reply["externalReplyMessage"], reply["scheduledStartDateTime"]["dateTime"][:19]) == (
            "scheduled", "contactsOnly", "Bin im Urlaub", "Out of office", "2099-07-01T00:00:00")
    st = undo(graph_stack, mid, source)
    assert st["state"] == "undone", st
    assert st["undo"]["kept"] == [], st["undo"]
    with rig.seeding(graph_emu, login) as g:
        assert set(graph_tree(g)) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive",
                                      "Outbox"}
        assert g.get("/contacts").json()["value"] == [] and g.get("/calendar/events").json()["value"] == []
        assert g.get(f"/todo/lists/{default['id']}/tasks").json()["value"] == []
        assert g.get("/mailFolders/inbox/messageRules").json()["value"] == []
        assert g.get("/mailboxSettings/automaticRepliesSetting").json()["status"] == "disabled"




def post_pst(info: StackInfo, name: str, target: dict[str, object], options: list[str]) -> httpx.Response:
    with (PST_CORPUS / name).open("rb") as fh:
        return httpx.post(f"{info.intake_url}/api/v1/pst-migrations",
                          data={"target": json.dumps(target), "options": json.dumps(options)},
                          files={"file": (name, fh, "application/octet-stream")}, timeout=120)


def upload_pst(info: StackInfo, name: str, login: str, options: list[str]) -> str:
    resp = post_pst(info, name, graph_endpoint(login), options)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["id"])


def test_pst_into_a_signed_in_mailbox_uses_the_sign_in_once(graph_stack: StackInfo, graph_emu: GraphEmulator) -> None:
    """A PST upload into Microsoft 365 with the user's own sign-in: the sign-in's id is swapped for its tokens as
    for a new migration (a sign-in for another account, or one used up, is refused naming the field)."""
    login = new_user(graph_emu, "pst-signed")
    handle = sign_in_over_http(graph_stack, login)
    wrong = post_pst(graph_stack, "sample1.pst", graph_endpoint("nobody@example.test", auth="oauth2",
                                                                  password=handle), ["emails"])
    assert (wrong.status_code, wrong.json()["error"]["code"], wrong.json()["error"]["field"]) == (
        422, "sign_in_expired", "target.password")
    resp = post_pst(graph_stack, "sample1.pst", graph_endpoint(login, auth="oauth2", password=handle), ["emails"])
    assert resp.status_code == 202, resp.text
    st = wait_final(graph_stack, str(resp.json()["id"]), login)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 1
    with rig.seeding(graph_emu, login) as g:
        [mail] = g.get(f"/mailFolders/{graph_tree(g)['Sample1']}/messages",
                       params={"$select": "internetMessageId"}).json()["value"]
    assert mail["internetMessageId"] == (
        "<B2FDDB8BE384C94794441DB4A7F3D8B804AE624B@TK5EX14MBXC114.redmond.corp.microsoft.com>")
    again = post_pst(graph_stack, "sample1.pst", graph_endpoint(login, auth="oauth2", password=handle), ["emails"])
    assert (again.status_code, again.json()["error"]["code"]) == (422, "sign_in_expired")  # used up


def test_pst_to_graph_mail_contacts_series_and_groups_reported(graph_stack: StackInfo,
                                                              graph_emu: GraphEmulator) -> None:
    login = new_user(graph_emu, "p2g")
    mail_mid = upload_pst(graph_stack, "sample1.pst", login, ["emails"])
    st = wait_final(graph_stack, mail_mid, login)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 1
    options = ["contacts", "contact_groups", "calendars", "tasks"]
    mid = upload_pst(graph_stack, "dist-list.pst", login, options)
    st = wait_final(graph_stack, mid, login)
    assert st["state"] == "completed_with_errors", st
    assert {op: (st["items"][op]["done"], st["items"][op]["failed"]) for op in options} == {
        "contacts": (1, 0), "contact_groups": (0, 1), "calendars": (1, 0), "tasks": (0, 0)}
    with rig.seeding(graph_emu, login) as g:
        tree = graph_tree(g)
        assert set(tree) == {"Inbox", "Sent Items", "Drafts", "Deleted Items", "Junk Email", "Archive", "Outbox",
                             "Sample1"}
        [mail] = g.get(f"/mailFolders/{tree['Sample1']}/messages", params={"$select": (
            "subject,isRead,isDraft,flag,sentDateTime,from,internetMessageId,hasAttachments")}).json()["value"]
        assert (mail["isRead"], mail["isDraft"], mail["flag"]["flagStatus"], mail["sentDateTime"],
                mail["from"]["emailAddress"]["address"], mail["internetMessageId"]) == (
            True, False, "flagged", "2010-03-15T17:12:05Z", "terrymah@microsoft.com",
            "<B2FDDB8BE384C94794441DB4A7F3D8B804AE624B@TK5EX14MBXC114.redmond.corp.microsoft.com>")
        [jpeg] = g.get(f"/messages/{mail['id']}/attachments").json()["value"]
        assert (jpeg["contentType"], jpeg["size"]) == ("image/jpeg", 93142)
        headers = g.get(f"/messages/{mail['id']}", params={
            "$expand": "singleValueExtendedProperties($filter=id eq 'String 0x007D')"}).json()
        block = headers["singleValueExtendedProperties"][0]["value"]  # the transport headers, verbatim
        assert "Received: from TK5EX14MBXC114.redmond.corp.microsoft.com ([169.254.3.48]) by\r\n TK5EX14MLTC103" \
            in block
        [contact] = g.get("/contacts").json()["value"]
        assert (contact["displayName"], [e["address"] for e in contact["emailAddresses"]]) == (
            "contact name 1", ["contact1@rjohnson.id.au"])
        [series] = g.get("/calendar/events").json()["value"]
        assert series["subject"] == "Test appointment"
        assert (series["recurrence"]["pattern"]["type"], series["recurrence"]["pattern"]["daysOfWeek"]) == (
            "weekly", ["tuesday"])
        assert series["originalStartTimeZone"] == "America/Los_Angeles"  # the PST's custom zone, matched
        window = {"startDateTime": "2016-08-01T00:00:00Z", "endDateTime": "2016-09-10T00:00:00Z", "$top": "50",
                  "$select": "start,originalStart"}
        occ = g.get(f"/events/{series['id']}/instances", params=window).json()["value"]
        assert [(o["originalStart"][:16], o["start"]["dateTime"][:16]) for o in occ] == [  # in UTC
            ("2016-08-02T15:00", "2016-08-02T15:00"),  # the 9th was deleted
            ("2016-08-16T15:00", "2016-08-16T15:00"), ("2016-08-23T15:00", "2016-08-23T16:00"),  # moved to 9:00
            ("2016-08-30T15:00", "2016-08-30T17:00"), ("2016-09-06T15:00", "2016-09-06T15:00")]  # to 10:00
    report = httpx.get(f"{graph_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": login},
                       timeout=30).json()["items"]
    [group] = [r for r in report if r.get("item_type") == "contact_group"]
    assert group["result"] == "failed" and "has no contact groups" in group["reason"]


def test_loader_killed_while_graph_creates_a_message_loses_and_duplicates_nothing(
        graph_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator) -> None:
    import os
    import signal
    from datetime import datetime

    src = accounts.new("crash-src")
    with accounts.client(src) as c:
        for n in range(30):
            c.append("INBOX", simple_mime(f"C{n:02d}", f"<c{n}@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100"),
                     (b"\\Seen",), msg_time=datetime.fromisoformat(f"2024-02-{1 + n % 28:02d}T00:00:00+00:00"))
    login = new_user(graph_emu, "crash")
    gate = graph_emu.faults.hold(1, "POST", "mailFolders/{folder}/messages")  # the first message create waits
    mid = start(graph_stack, accounts.endpoint(src), graph_endpoint(login))
    assert gate.wait_held(1, timeout=120)
    killed = list(graph_stack.processes["loader"])
    for pid in killed:
        os.kill(pid, signal.SIGKILL)  # the loader dies while Graph creates the message ...
    gate.release()  # ... which Graph then does: on the target, never recorded
    graph_emu.faults.gate = None
    graph_emu.faults.fail_next(3, status=429, code="ApplicationThrottled", retry_after=1,
                               path_contains="/messages")  # and the new loader meets a busy mailbox
    injected = graph_emu.faults.injected
    stack.start_service(graph_stack, "loader", Path(graph_stack.state_dir) / "logs")
    graph_stack.processes["loader"] = [p for p in graph_stack.processes["loader"] if p not in killed]
    graph_stack.save()
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 30
    assert graph_emu.faults.injected - injected == 3  # each 429 met and waited out
    with rig.seeding(graph_emu, login) as g:
        inbox = g.get("/mailFolders/inbox").json()["id"]
        subjects = Counter(m[0] for m in graph_messages(g, inbox))
    assert subjects == Counter({f"C{n:02d}": 1 for n in range(30)})  # each once: the held one found, not re-made


def test_pop3_to_graph_into_the_inbox_with_dates_from_received_then_a_delta_pass(
        graph_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator, dovecot: Any) -> None:
    src = accounts.new("pop2g")
    with accounts.client(src) as c:  # Dovecot's POP3 serves the IMAP INBOX of the same account
        for n in range(5):
            c.append("INBOX", f"Received: from mx.example.net by mail.example.test; Tue, 0{n + 1} Mar 2022 08:00:00 "
                              "+0000\r\n".encode() + simple_mime(f"P{n}", f"<p{n}@example.net>",
                                                                 "Mon, 01 Jan 2024 10:00:00 +0100"))
    pop = accounts.endpoint(src, type="pop3", port=dovecot.pop3_port, security="none")
    login = new_user(graph_emu, "pop2g")
    st = wait_final(graph_stack, start(graph_stack, pop, graph_endpoint(login)), src)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 5
    with rig.seeding(graph_emu, login) as g:
        inbox = g.get("/mailFolders/inbox").json()["id"]
        got = [(m[0], m[2], m[5]) for m in graph_messages(g, inbox)]  # POP3 has no read state to carry
    assert got == [(f"P{n}", False, f"2022-03-0{n + 1}T08:00:00Z") for n in range(5)]
    again = wait_final(graph_stack, start(graph_stack, pop, graph_endpoint(login)), src)
    assert (again["items"]["emails"]["done"], again["items"]["emails"]["skipped"]) == (0, 5), again


def test_cancel_into_graph_finishes_the_emails_starts_no_contacts_and_undo_removes_them(
        graph_stack: StackInfo, graph_emu: GraphEmulator) -> None:
    src, dst = new_user(graph_emu, "cancel-src"), new_user(graph_emu, "cancel-dst")
    with rig.seeding(graph_emu, src) as g:
        for n in range(5):
            rig.message(g, "inbox", f"K{n}", read=True, received=f"2024-05-0{n + 1}T00:00:00Z")
        rig.created(g.post("/contacts", json={"displayName": "Kim Cancel", "givenName": "Kim"}))
    gate = graph_emu.faults.hold(1, "POST", "mailFolders/{folder}/messages")
    mid = start(graph_stack, graph_endpoint(src), graph_endpoint(dst), options=["emails", "contacts"])
    assert gate.wait_held(1, timeout=120)  # the e-mails are being written
    resp = httpx.post(f"{graph_stack.intake_url}/api/v1/migrations/{mid}/cancel", json={"login": src}, timeout=60)
    assert resp.status_code == 202 and resp.json()["state"] == "cancelling", resp.text
    gate.release()
    graph_emu.faults.gate = None
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "cancelled", st
    assert (st["items"]["emails"]["done"], st["items"]["contacts"]["done"]) == (5, 0)
    with rig.seeding(graph_emu, dst) as g:
        assert sorted(m[0] for m in graph_messages(g, g.get("/mailFolders/inbox").json()["id"])) == [
            f"K{n}" for n in range(5)]
        assert g.get("/contacts").json()["value"] == []
    st = undo(graph_stack, mid, src)
    assert st["state"] == "undone", st
    with rig.seeding(graph_emu, dst) as g:
        assert graph_messages(g, g.get("/mailFolders/inbox").json()["id"]) == []


CORPUS_EML = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "eml" / "mail-gem" / "attachment_emails"


def test_what_graph_cannot_hold_is_noted_per_message_in_the_report(graph_stack: StackInfo, accounts: Accounts,
                                                                    graph_emu: GraphEmulator) -> None:
    """A corpus message with an attached message (message/rfc822) becomes a message with an .eml file in Microsoft
    365, and its line in the report (JSON and CSV) says so; every line says Exchange re-renders the headers."""
    forwarded = (CORPUS_EML / "attachment_message_rfc822.eml").read_bytes()
    plain = b"From: a@example.net\r\nSubject: plain\r\nMessage-ID: <plain@example.net>\r\n\r\nhello\r\n"
    src = accounts.new("notes-src")
    with accounts.client(src) as c:
        c.append("INBOX", forwarded, (b"\\Seen",))
        c.append("INBOX", plain, (b"\\Seen",))
    login = new_user(graph_emu, "notes")
    mid = start(graph_stack, accounts.endpoint(src), graph_endpoint(login))
    st = wait_final(graph_stack, mid, src)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 2, st
    report = f"{graph_stack.intake_url}/api/v1/migrations/{mid}/report"
    rows = httpx.get(report, params={"login": src}, timeout=30).json()["items"]
    notes = {r["subject"]: r["reason"] for r in rows}
    rendered = "headers and MIME re-rendered by Exchange (the original header block kept as Internet headers)"
    assert notes == {"testing": f"{rendered}; an attached message became an .eml file attachment",
                     "plain": rendered}, rows
    assert {r["result"] for r in rows} == {"done"}
    csv_text = httpx.get(report, params={"login": src, "format": "csv"}, timeout=30).text
    lines = {row["subject"]: row for row in csv.DictReader(io.StringIO(csv_text))}
    assert lines["testing"]["reason"] == notes["testing"] and lines["testing"]["result"] == "done"
    with rig.seeding(graph_emu, login) as g:
        inbox = g.get("/mailFolders/inbox/messages", params={"$select": "id,subject"}).json()["value"]
        made = next(m for m in inbox if m["subject"] == "testing")
        names = [a["name"] for a in g.get(f"/messages/{made['id']}/attachments").json()["value"]]
    assert names == ["ForwardedMessage.eml"]  # what the note says, read back over plain HTTP


def test_imap_to_graph_folders_differing_in_case_get_one_each_also_in_a_delta_pass_then_undo(
        graph_stack: StackInfo, accounts: Accounts, graph_emu: GraphEmulator) -> None:
    """Microsoft 365 compares folder names without regard to case: each source folder gets its own (README "Folder
    names that meet on the target"), a folder appearing later never takes a name already given, undo removes all."""
    src = accounts.new("meet-g-src")
    plan = {"Work": "w1", "work": "w2", "work/Sub": "w3", "Trash": "t1", "deleted items": "d1"}
    with accounts.client(src) as c:
        for folder, tag in plan.items():
            if not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, simple_mime(tag, f"<{tag}@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100"), ())
    login = new_user(graph_emu, "meet-g")

    def tree() -> dict[str, list[str]]:
        with rig.seeding(graph_emu, login) as g:
            return {path: [m[7] for m in graph_messages(g, fid)] for path, fid in graph_tree(g).items()}

    before = tree()
    first = start(graph_stack, accounts.endpoint(src), graph_endpoint(login))
    st = wait_final(graph_stack, first, src)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 5, st
    after_first = {**before, "Work": ["<w1@example.net>"], "work (2)": ["<w2@example.net>"],
                   "work (2)/Sub": ["<w3@example.net>"], "Deleted Items": ["<t1@example.net>"],
                   "deleted items (2)": ["<d1@example.net>"]}
    assert tree() == after_first
    with accounts.client(src) as c:
        c.create_folder("WORK")
        c.append("WORK", simple_mime("W", "<W1@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100"), ())
        c.append("work", simple_mime("w4", "<w4@example.net>", "Mon, 01 Jan 2024 10:00:00 +0100"), ())
    second = start(graph_stack, accounts.endpoint(src), graph_endpoint(login))
    st = wait_final(graph_stack, second, src)
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["skipped"]) == (2, 5), st
    assert tree() == {**after_first, "work (2)": ["<w2@example.net>", "<w4@example.net>"],
                      "WORK (3)": ["<W1@example.net>"]}
    assert undo(graph_stack, second, src)["state"] == "undone"
    assert undo(graph_stack, first, src)["state"] == "undone"
    assert tree() == before
