"""Hostile requests against the real running intake: no input gets a 5xx, every refusal has the documented shape.

For each endpoint a set of bodies and parameters no client should send: bytes that are not JSON or not
UTF-8, JSON nested deeper than a parser goes, every field replaced by the wrong type, null, an empty or a
huge string and strings with control characters (the issue's IMAP injection payload among them). Every
answer must be below 500, and every refusal ``{"error": {"code", "message", "side", "field"}}``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis as redis_lib
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from mailferry import stack
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts, stack_env
from tests.servers import Process

pytestmark = pytest.mark.e2e

INJECTION = "x\r\nZ1 LOGIN victim secret\r\nZ2 CREATE Injected"
CONTROLS = [INJECTION, "a\x00b", "tab\there", "esc\x1b[2J", "del\x7f", "nel\x85", "line\u2028sep", "\r\n"]
WRONG = [None, 0, -1, 2**70, 1.5, True, [], {}, [INJECTION], {"$ne": ""}, "", " ", "A" * 5000, "ü" * 2000]
RAW_BODIES = [b"", b"{", b"}", b"\xff\xfe\xfd", b"\xc3\x28", b'{"login": "\xff"}', b"\xef\xbb\xbf{}", b"null",
              b"[]", b"0", b'"x"', b"{}", json.dumps({"login": "a"}).encode("utf-16"), b"[" * 30000 + b"]" * 30000,
              b'{"a":' * 10000 + b"1" + b"}" * 10000, b"A" * 200_000]


def imap_endpoint() -> dict[str, Any]:
    # 10.1.2.3 is refused by the network guard before any connection: the tests reach no server.
    return {"type": "imap", "host": "10.1.2.3", "port": 143, "security": "none", "login": "a@example.test",
            "password": "pw-1"}


def mutations(base: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``base`` with each field (and each field of a nested object) replaced by each hostile value, or left out."""
    for key, value in base.items():
        if isinstance(value, dict):
            for inner in mutations(value):
                yield {**base, key: inner}
        for bad in [*CONTROLS, *WRONG]:
            yield {**base, key: bad}
        yield {k: v for k, v in base.items() if k != key}
    yield {**base, "unexpected": 1}


@pytest.fixture(scope="module")
def hostile_stack(broker: Process, redis_server: Process,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-hostile")
    dns_port = str(stack.free_port())  # nothing listens there: autodetection's lookups fail at once
    env = stack_env(broker, redis_server, f"h{secrets.token_hex(4)}.", MAILFERRY_LOGIN_CHECKS_PER_MINUTE="100000",
                    MAILFERRY_AUTODETECT_NAMESERVERS="127.0.0.1", MAILFERRY_AUTODETECT_DNS_PORT=dns_port,
                    MAILFERRY_AUTODETECT_HTTP_SCHEME="http", MAILFERRY_AUTODETECT_HTTP_PORT=dns_port,
                    MAILFERRY_AUTODETECT_TOTAL_TIMEOUT="2")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)
    # The fuzzing's keyless operator requests count as failed key attempts from 127.0.0.1 in the session's
    # shared Redis: give them back, or the next module's operator stack answers 429 to its first requests.
    client = redis_lib.Redis.from_url(redis_server.address)
    stale = list(client.scan_iter(match="mf:rl:operator-auth:*"))
    if stale:
        client.delete(*stale)


@pytest.fixture(scope="module")
def client(hostile_stack: StackInfo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile_stack.intake_url, timeout=60) as c:
        yield c


def answered(resp: httpx.Response) -> None:
    """Below 500; a refusal in the documented shape."""
    try:
        sent = resp.request.content[:120]
    except httpx.RequestNotRead:  # a streamed (multipart) body
        sent = b"<multipart>"
    what = f"{resp.request.method} {resp.request.url} {sent!r} -> {resp.status_code} {resp.text[:300]}"
    error_shaped(resp.status_code, resp.content, what)


def error_shaped(status: int, content: bytes, what: str) -> None:
    assert status < 500, what
    if status < 400:
        return
    error_shape(content, what)


def error_shape(content: bytes, what: str) -> None:
    """``{"error": {"code", "message", "side", "field"}}`` and nothing else."""
    body = json.loads(content)
    assert isinstance(body, dict) and set(body) == {"error"}, what
    err = body["error"]
    assert set(err) == {"code", "message", "side", "field"}, what
    assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str) and err["message"], what
    assert err["side"] in (None, "source", "target") and (err["field"] is None or isinstance(err["field"], str)), what


def post_raw(client: httpx.Client, path: str, body: bytes) -> None:
    for ctype in ("application/json", "text/plain", None):
        headers = {"Content-Type": ctype} if ctype else {}
        answered(client.post(path, content=body, headers=headers))


def test_start_a_migration(client: httpx.Client) -> None:
    for body in RAW_BODIES:
        post_raw(client, "/api/v1/migrations", body)
    base = {"source": imap_endpoint(), "target": imap_endpoint(), "options": ["emails"],
            "notify_email": "me@example.test"}
    for bad in mutations(base):
        resp = client.post("/api/v1/migrations", json=bad)
        answered(resp)
        assert resp.status_code != 202, bad
    for options in ([], ["nope"], ["emails", "emails"], [1], "emails", [None]):
        answered(client.post("/api/v1/migrations", json={**base, "options": options}))


def test_control_characters_are_refused_naming_the_field(client: httpx.Client) -> None:
    base = {"source": imap_endpoint(), "target": imap_endpoint()}
    for side in ("source", "target"):
        for fld in ("host", "login", "password"):
            for bad in CONTROLS:
                resp = client.post("/api/v1/migrations", json={**base, side: {**base[side], fld: bad}})
                answered(resp)
                err = resp.json()["error"]
                assert (resp.status_code, err["code"], err["field"]) == (422, "invalid_request", f"{side}.{fld}"), err
    for bad in [*CONTROLS, "me@example.test, victim@example.test", "a@b@c"]:
        resp = client.post("/api/v1/migrations", json={**base, "notify_email": bad})
        assert resp.json()["error"]["field"] == "notify_email", resp.text


def test_the_issues_injection_payload_through_the_api_creates_no_folder(client: httpx.Client, accounts: Accounts,
                                                                        dovecot: DovecotServer) -> None:
    """The issue's request: 422 naming the field, and the victim's real mailbox has no folder ``Injected``."""
    victim, owner = accounts.new("victim"), accounts.new("owner")
    password = accounts.passwords[victim]
    before = {name for _f, _s, name in accounts.client(victim).list_folders()}
    payload = f"x\r\nZ1 LOGIN {victim} {password}\r\nZ2 CREATE Injected"
    real = accounts.endpoint(owner)
    answers = {}
    for side, fld in (("source", "login"), ("source", "password"), ("target", "login"), ("target", "password")):
        body = {"source": real, "target": real, side: {**real, fld: payload}}
        answers[f"{side}.{fld}"] = client.post("/api/v1/migrations", json=body)
    assert {name for _f, _s, name in accounts.client(victim).list_folders()} == before
    for fld, resp in answers.items():
        err = resp.json()["error"]
        assert (resp.status_code, err["code"], err["field"]) == (422, "invalid_request", fld), err


def test_an_exchange_login_that_is_no_address_and_no_server_is_a_clear_422(client: httpx.Client) -> None:
    for login in ("not-an-address", "DOMAIN\\user", "a@b", "@example.test"):
        source = {"type": "ews", "login": login, "password": "pw-1"}
        resp = client.post("/api/v1/migrations", json={"source": source, "target": imap_endpoint()})
        answered(resp)
        err = resp.json()["error"]
        assert (resp.status_code, err["code"], err["field"]) == (422, "invalid_request", "source.login"), err
        assert "e-mail address" in err["message"]


def test_follow_cancel_undo_and_report(client: httpx.Client) -> None:
    mid = secrets.token_urlsafe(24)
    for path in (f"/api/v1/migrations/{mid}/cancel", f"/api/v1/migrations/{mid}/undo"):
        for body in RAW_BODIES:
            post_raw(client, path, body)
        for bad in mutations({"login": "a@example.test", "target_password": "pw"}):
            answered(client.post(path, json=bad))
    for login in ["", "a@example.test", "A" * 5000, *CONTROLS]:
        for path in (f"/api/v1/migrations/{mid}", f"/api/v1/migrations/{mid}/report"):
            answered(client.get(path, params={"login": login}))
        for bad_id in ("x" * 5000, "%00", "%FF%FE", "..%2F..%2Fetc", "a%20b", quote(INJECTION, safe="")):
            answered(client.get(f"/api/v1/migrations/{bad_id}", params={"login": login}))
    answered(client.get(f"/api/v1/migrations/{mid}"))  # no login at all
    answered(client.get(f"/api/v1/migrations/{mid}/report", params={"login": "a", "format": "xml"}))
    answered(client.get(f"/api/v1/migrations/{mid}?login=%FF%FE"))


def test_autodetect_option_rules_and_unknown_paths(client: httpx.Client) -> None:
    for email in ["", " ", "@", "a@", "@b.c", "a@b", "a@-b.c", "a@b..c", "a" * 5000 + "@b.c", "ü@ü.ü", *CONTROLS]:
        answered(client.get("/api/v1/autodetect", params={"email": email}))
    answered(client.get("/api/v1/autodetect"))
    answered(client.get("/api/v1/autodetect?email=%FF%FE%00"))
    answered(client.get("/api/v1/option-rules", params={"x": INJECTION}))
    answered(client.get("/api/v1/no-such-thing"))
    answered(client.put("/api/v1/migrations", json={}))
    answered(client.delete("/api/v1/option-rules"))
    answered(client.post("/api/v1/autodetect", content=b"\xff"))


def test_pst_upload(client: httpx.Client) -> None:
    path = "/api/v1/pst-migrations"
    for body in RAW_BODIES[:13]:
        post_raw(client, path, body)
    target = imap_endpoint()
    fields: list[dict[str, Any]] = [{"target": ""}, {"target": "null"}, {"target": "[]"}, {"target": "\xff"},
                                    {"target": json.dumps({**target, "login": INJECTION})},
                                    {"target": json.dumps({**target, "host": "a\x00b"})},
                                    {"target": json.dumps({"type": "ews", "login": "nobody", "password": "x"})},
                                    {"target": "[" * 20000 + "]" * 20000},
                                    {"target": json.dumps(target), "options": "[]"},
                                    {"target": json.dumps(target), "options": "[" * 20000},
                                    {"target": json.dumps(target), "options": '["nope"]'},
                                    {"target": json.dumps(target), "notify_email": "a@b.c, victim@d.e"},
                                    {"target": json.dumps(target), "notify_email": INJECTION}]
    for data in fields:
        answered(client.post(path, data=data, files={"file": ("x.pst", b"!BDN" + b"\0" * 600)}))
        answered(client.post(path, data=data))  # no file at all
    answered(client.post(path, content=b"--b\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\n\xff",
                         headers={"Content-Type": "multipart/form-data; boundary=b"}))
    answered(client.post(path, content=b"x", headers={"Content-Type": "multipart/form-data"}))


def test_the_schema_refuses_what_the_api_refuses(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    request = doc["components"]["schemas"]["MigrationRequest"]["properties"]
    assert request["options"]["minItems"] == 1 and request["options"]["uniqueItems"] is True
    assert set(request["options"]["items"]["enum"]) == {"emails", "contacts", "contact_groups", "calendars",
                                                        "tasks", "rules", "auto_reply"}
    email = next(p for p in doc["paths"]["/api/v1/autodetect"]["get"]["parameters"] if p["name"] == "email")
    assert email["required"] is True and email["schema"]["minLength"] == 1
    pst = doc["paths"]["/api/v1/pst-migrations"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert pst["schema"]["properties"]["target"]["$ref"].endswith("/Endpoint")
    assert pst["encoding"]["target"]["contentType"] == "application/json"
    endpoint = doc["components"]["schemas"]["Endpoint"]["properties"]
    for fld in ("host", "login", "password"):
        assert "\\x00-\\x1f" in endpoint[fld]["pattern"], fld


def no_hosts_to_look_up(body: Any) -> None:
    """Point every generated server name at an address the network guard refuses without a DNS query:
    the fuzzing must not send random names to the machine's resolver (the host field's own hostile
    values are sent above)."""
    if isinstance(body, dict):
        for side in ("source", "target"):
            account = body.get(side)
            if isinstance(account, dict) and isinstance(account.get("host"), str) and account["host"].strip():
                account["host"] = "10.1.2.3"


def test_no_request_generated_from_the_openapi_document_gets_a_5xx(hostile_stack: StackInfo) -> None:
    """Schemathesis generates requests from /openapi.json, valid ones and ones the schema says are invalid."""
    schema = schemathesis.openapi.from_url(f"{hostile_stack.intake_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    nothing_invalid = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def check(case: schemathesis.Case) -> None:
                no_hosts_to_look_up(case.body)
                response = case.call(base_url=hostile_stack.intake_url, timeout=60)
                error_shaped(response.status_code, response.content, f"{case.method} {case.formatted_path} "
                             f"{case.query} {str(case.body)[:200]} -> {response.status_code} "
                             f"{response.content[:300]!r}")

            try:
                check()
            except Unsatisfiable:  # an operation whose every request is valid (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, operation.label
                nothing_invalid.append(operation.label)
    assert nothing_invalid == ["GET /api/v1/option-rules"], nothing_invalid


def test_a_server_name_with_a_port_a_scheme_or_a_login_is_refused_naming_the_field(client: httpx.Client) -> None:
    """Found by no resolver: refused before any lookup, saying what to change (was host_not_found after one)."""
    for host, words in (("imap.example.com:993", "port field"), ("imaps://imap.example.com", "without a scheme"),
                        ("https://imap.example.com/EWS", "without a scheme"), ("me@imap.example.com", "login field"),
                        ("imap.example.com/", "server name"), ("a b.example", "server name"), ("*", "server name"),
                        ("[", "server name"), ("fe80::1%eth0", "server name")):
        resp = client.post("/api/v1/migrations", json={"source": {**imap_endpoint(), "host": host},
                                                       "target": imap_endpoint()})
        answered(resp)
        err = resp.json()["error"]
        assert (resp.status_code, err["code"], err["field"]) == (422, "invalid_request", "source.host"), (host, err)
        assert words in err["message"], (host, err)
    # What the network guard refuses names the field too.
    resp = client.post("/api/v1/migrations", json={"source": {**imap_endpoint(), "host": "169.254.169.254"},
                                                   "target": imap_endpoint()})
    err = resp.json()["error"]
    assert (resp.status_code, err["code"], err["side"], err["field"]) == (422, "address_not_allowed", "source",
                                                                          "source.host"), err


def test_a_body_missing_of_another_type_or_not_an_object_is_said_as_such(client: httpx.Client) -> None:
    def err(resp: httpx.Response) -> tuple[int, str, str]:
        answered(resp)
        body = resp.json()["error"]
        return resp.status_code, body["code"], body["message"]

    for path in ("/api/v1/migrations", f"/api/v1/migrations/{secrets.token_urlsafe(24)}/cancel"):
        status, code, message = err(client.post(path))
        assert (status, code) == (422, "invalid_request") and "body is missing" in message, message
        status, code, message = err(client.post(path, content=b'{"login": "a"}',
                                                headers={"Content-Type": "text/plain"}))
        assert (status, code) == (415, "unsupported_media_type") and "text/plain" in message, message
        status, code, message = err(client.post(path, json=[]))
        assert (status, code) == (422, "invalid_request") and "JSON object" in message, message
    body = json.dumps({"source": imap_endpoint(), "target": imap_endpoint()}).replace('"port": 143', '"port": ' + "9" * 5000)
    status, code, message = err(client.post("/api/v1/migrations", content=body.encode(),
                                            headers={"Content-Type": "application/json"}))
    assert (status, code) == (400, "invalid_request") and "4300 digits" in message, message
    resp = client.post("/api/v1/migrations", json={"source": imap_endpoint(), "target": imap_endpoint(),
                                                   "notify_email": "a" * 330 + "@example.test"})
    assert resp.json()["error"]["message"] == "notify_email: String should have at most 320 characters", resp.text


def test_a_pst_notification_address_that_is_not_utf8_is_refused(client: httpx.Client) -> None:
    """Decoded leniently it became U+FFFD, which passed for a letter of the address."""
    resp = client.post("/api/v1/pst-migrations", files={"target": (None, json.dumps(imap_endpoint())),
                                                        "notify_email": (None, b"ann\xff@example.test"),
                                                        "file": ("x.pst", b"!BDN" + b"\0" * 600)})
    answered(resp)
    err = resp.json()["error"]
    assert (resp.status_code, err["code"], err["field"]) == (422, "invalid_request", "notify_email"), err


def test_an_unknown_asset_is_refused_in_the_error_shape(client: httpx.Client) -> None:
    for path in ("/assets/nope.css", "/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/partials/head.html"):
        resp = client.get(path)
        answered(resp)
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "not_found"), path


def test_an_id_naming_another_key_of_a_real_migration_is_an_unknown_id(client: httpx.Client,
                                                                       accounts: Accounts) -> None:
    """Found in a hostile review: ``GET /api/v1/migrations/<id>:report`` read the migration's report list as if it
    were its status hash; Redis answered WRONGTYPE, which was a ``503 temporarily_unavailable`` (a 5xx, and
    "the state store cannot be reached" while it could). Any id that is not one intake makes is unknown: 404."""
    src, dst = accounts.new("idkeys-src"), accounts.new("idkeys-dst")
    resp = client.post("/api/v1/migrations", json={"source": accounts.endpoint(src), "target": accounts.endpoint(dst),
                                                   "options": ["emails"]})
    assert resp.status_code == 202, resp.text
    mid = resp.json()["id"]
    assert client.get(f"/api/v1/migrations/{mid}", params={"login": src}).status_code == 200
    for suffix in (":spec", ":report", ":history", ":errors", ":results", ":datakey", "*", ":*"):
        for method, path, body in (("GET", f"/api/v1/migrations/{mid}{suffix}", None),
                                   ("GET", f"/api/v1/migrations/{mid}{suffix}/report", None),
                                   ("POST", f"/api/v1/migrations/{mid}{suffix}/cancel", {"login": src}),
                                   ("POST", f"/api/v1/migrations/{mid}{suffix}/undo", {"login": src})):
            got = client.request(method, path, params={"login": src} if body is None else None, json=body)
            answered(got)
            assert (got.status_code, got.json()["error"]["code"]) == (404, "not_found"), (path, got.text)
