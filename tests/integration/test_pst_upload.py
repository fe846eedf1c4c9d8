"""PST upload: ``POST /api/v1/pst-migrations`` with the real PST files of the shared corpus.

Two ways in, same assertions:

* ``router`` — the endpoint from ``pst_router`` on an ``Intake`` built here with the real Redis and a real
  producer on the real broker, driven by FastAPI's TestClient (and, for streaming, by raw ASGI messages);
* ``stack`` — the running stack's intake (separate processes, uvicorn), where the upload is followed to the
  end: the PST's message arrives in a Dovecot account and the spool file is gone at the final state.

Every refusal (over the size limit, not a PST, truncated, password-protected, wrong target password, a
client that goes away) must leave nothing in the spool.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_lib
from confluent_kafka import Consumer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from mailferry import stack
from mailferry.stack import StackInfo
from services.intake.intake import Intake
from services.intake.migration_start import login_digest
from services.intake.multipart_stream import MultipartError, MultipartParser, PartData, PartEnd, PartStart
from services.intake.pst_upload import pst_router
from shared import kafka_edge, topics
from shared import redis_keys as k
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.events import MigrationRequested, decode, decode_as
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import wait_final
from tests.servers import Process

pytestmark = pytest.mark.integration

CORPUS = Path(os.environ.get("MAILFERRY_PST_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/pst"))
LIMIT = 1_500_000  # bytes: above the 1 MiB write buffer (a refused upload has written to disk), above sample1.pst
URL = "/api/v1/pst-migrations"

if not CORPUS.is_dir():
    pytest.skip(f"PST corpus not found at {CORPUS}", allow_module_level=True)


# --------------------------------------------------------------------------------------------
# The streaming multipart parser (pure)
# --------------------------------------------------------------------------------------------


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str) -> bytes:
    out = b"preamble to ignore\r\n"
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\nepilogue".encode()


def parse_in_chunks(body: bytes, boundary: str, size: int) -> list[tuple[str, str | None, bytes]]:
    parser = MultipartParser(boundary.encode())
    parts: list[tuple[str, str | None, bytes]] = []
    biggest = 0
    for i in range(0, len(body), size):
        for ev in parser.feed(body[i:i + size]):
            if isinstance(ev, PartStart):
                parts.append((ev.name, ev.filename, b""))
            elif isinstance(ev, PartData):
                biggest = max(biggest, len(ev.data))
                name, filename, data = parts[-1]
                parts[-1] = (name, filename, data + ev.data)
            else:
                assert isinstance(ev, PartEnd)
    assert parser.finished
    assert biggest <= max(size, 1) + len(boundary) + 4  # never more than about one chunk at a time
    return parts


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 65536, 10**7])
def test_parser_gives_the_same_parts_whatever_the_chunking(size: int) -> None:
    boundary = "----b" + secrets.token_hex(8)
    # Data that nearly contains the boundary, CRLFs and dashes at the edges.
    tricky = b"--" + boundary.encode()[:-1] + b"\r\n--\r\n\r\n" + os.urandom(5000) + b"\r\n-"
    parts = [("file", "Outlook ü.pst", tricky), ("target", None, b'{"a": 1}'), ("options", None, b""),
             ("notify_email", None, b"x@y.z")]
    assert parse_in_chunks(multipart(parts, boundary), boundary, size) == parts


def test_parser_refuses_what_is_not_form_data() -> None:
    for body in (b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",  # no Content-Disposition
                 b"--B\r\nno colon here\r\n\r\nx\r\n--B--",
                 b"--B garbage\r\n"):
        with pytest.raises(MultipartError):
            MultipartParser(b"B").feed(body)


# --------------------------------------------------------------------------------------------
# The two ways in
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pst_stack(broker: Process, redis_server: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The running stack (like ``running_stack``) with a small PST size limit."""
    state = tmp_path_factory.mktemp("stack-pst")
    env = stack_env(broker, redis_server, f"p{secrets.token_hex(4)}.", MAILFERRY_PST_MAX_BYTES=str(LIMIT))
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


class Router:
    """An Intake on the real Redis and broker with only the PST router mounted."""

    def __init__(self, broker: Process, redis_client: redis_lib.Redis, state: Path) -> None:
        self.prefix = f"u{secrets.token_hex(4)}."
        self.settings = Settings(kafka_bootstrap=broker.address, redis_url="unused", state_dir=state,
                                 allow_hosts=AllowList.parse("127.0.0.1"), secret_key=generate_master_key("t1"),
                                 topic_prefix=self.prefix, topic_partitions=1, login_checks_per_minute=1000)
        kafka_edge.ensure_topics(broker.address, self.prefix, 1)
        registry = CollectorRegistry()
        self.raw_producer = kafka_edge.make_producer(broker.address, **{"linger.ms": 0})
        producer = kafka_edge.EventProducer(self.raw_producer, self.prefix)
        self.intake = Intake(self.settings, redis_client, producer, MasterKeys.parse(self.settings.secret_key),
                             registry, ServiceMetrics(registry, "intake"))
        self.app = FastAPI()
        self.app.include_router(pst_router(self.intake, max_bytes=LIMIT))
        self.client = TestClient(self.app)

    @property
    def spool(self) -> Path:
        return self.settings.spool / "pst"

    @classmethod
    def running(cls, broker: Process, redis_client: redis_lib.Redis, state: Path) -> Iterator[Router]:
        """One for a fixture: yielded, then its pool and producer closed."""
        r = cls(broker, redis_client, state)
        yield r
        r.intake.pool.shutdown(wait=False)
        r.raw_producer.flush(5)
        r.raw_producer.close()


@pytest.fixture
def router(broker: Process, redis_client: redis_lib.Redis, tmp_path: Path) -> Iterator[Router]:
    yield from Router.running(broker, redis_client, tmp_path / "state")


@pytest.fixture(params=["router", "stack"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Path]]:
    """(an HTTP client for the endpoint, the PST spool directory it writes to)."""
    if request.param == "router":
        r: Router = request.getfixturevalue("router")
        yield r.client, r.spool
        return
    info: StackInfo = request.getfixturevalue("pst_stack")
    with httpx.Client(base_url=info.intake_url, timeout=120) as client:
        yield client, Path(info.state_dir) / "spool" / "pst"


def upload(client: httpx.Client, data: bytes, target: dict[str, object], filename: str = "mail.pst",
           options: list[str] | None = None, **extra: str) -> httpx.Response:
    fields = {"target": json.dumps(target), "options": json.dumps(options or ["emails"]), **extra}
    return client.post(URL, files={"file": (filename, data, "application/vnd.ms-outlook")}, data=fields)


def leftovers(spool: Path) -> list[str]:
    return sorted(p.name for p in spool.iterdir()) if spool.exists() else []


def error_of(resp: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    return dict(resp.json()["error"])


# --------------------------------------------------------------------------------------------
# Refusals: each with its own clear error, none leaving a file behind
# --------------------------------------------------------------------------------------------


def test_not_a_pst_file(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"))
    err = error_of(upload(client, b"Subject: hello\r\n\r\nthis is an e-mail, not a PST\r\n" * 100, target))
    assert (err["code"], err["field"]) == ("not_a_pst", "file")
    assert "not an Outlook data file" in err["message"]
    assert leftovers(spool) == []


def test_truncated_pst(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"))
    whole = (CORPUS / "sample1.pst").read_bytes()
    err = error_of(upload(client, whole[:len(whole) // 2], target))
    assert err["code"] == "pst_truncated"
    assert "truncated" in err["message"] and str(len(whole)) in err["message"]
    assert leftovers(spool) == []


def test_password_protected_pst(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"))
    err = error_of(upload(client, (CORPUS / "passworded.pst").read_bytes(), target, filename="passworded.pst"))
    assert err["code"] == "pst_password_protected"
    assert "password" in err["message"]
    assert leftovers(spool) == []


def test_wrong_target_password(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"), password="not-the-password")
    err = error_of(upload(client, (CORPUS / "sample1.pst").read_bytes(), target))
    assert (err["code"], err["side"]) == ("authentication_failed", "target")
    assert "not-the-password" not in json.dumps(err)
    assert leftovers(spool) == []


def test_over_the_size_limit(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"))
    big = (CORPUS / "sample1.pst").read_bytes() * 8  # 2.2 MB > LIMIT
    err = error_of(upload(client, big, target), 413)
    assert err["code"] == "file_too_large"
    assert "1.5 MB" in err["message"] and str(LIMIT) in err["message"]
    assert leftovers(spool) == []
    # Sent without a Content-Length (chunked): refused while streaming, the partial file deleted.
    boundary = "x" + secrets.token_hex(8)
    body = multipart([("target", None, json.dumps(target).encode()), ("file", "big.pst", big)], boundary)
    resp = client.post(URL, content=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert error_of(resp, 413)["code"] == "file_too_large"
    assert leftovers(spool) == []


def test_bad_fields_name_the_field(api: tuple[httpx.Client, Path], accounts: Accounts) -> None:
    client, spool = api
    target = accounts.endpoint(accounts.new("pst"))
    data = (CORPUS / "sample1.pst").read_bytes()
    cases = [
        (upload(client, data, {**target, "port": 0}), "invalid_request", "target.port"),
        (client.post(URL, files={"file": ("a.pst", data)}, data={"target": "{not json"}), "invalid_request", "target"),
        (upload(client, data, target, options=["emails", "rules"]), "options_not_possible", "options"),
        (upload(client, data, {**target, "type": "pop3"}), "options_not_possible", "target.type"),
        (upload(client, data, target, notify_email="nobody"), "invalid_request", "notify_email"),
        (client.post(URL, data={"target": json.dumps(target)}), "invalid_request", "file"),
        (client.post(URL, json={"target": target}), "invalid_request", "file"),
    ]
    for resp, code, fld in cases:
        err = error_of(resp)
        assert (err["code"], err["field"]) == (code, fld), err
    assert leftovers(spool) == []


# --------------------------------------------------------------------------------------------
# Streaming through the router, chunk by chunk (raw ASGI: TestClient sends a body in one piece)
# --------------------------------------------------------------------------------------------


def asgi_post(app: FastAPI, chunks: list[bytes], boundary: str, during: Any = None,
              disconnect_after: int | None = None) -> tuple[int, dict[str, Any]]:
    """POST the chunks as separate ASGI messages; ``during(i)`` runs before chunk i is handed over."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []
    index = 0

    async def receive() -> dict[str, Any]:
        nonlocal index
        if index >= len(chunks) or (disconnect_after is not None and index >= disconnect_after):
            return {"type": "http.disconnect"}
        if during is not None:
            during(index)
        index += 1
        return {"type": "http.request", "body": chunks[index - 1], "more_body": index < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # In a thread of its own: Playwright's sync API (the browser tests) keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as one:
        one.submit(asyncio.run, app(scope, receive, send)).result()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body) if body else {}


def test_upload_is_streamed_to_disk_and_refused_midway(router: Router, accounts: Accounts) -> None:
    target = accounts.endpoint(accounts.new("pst"))
    boundary = "s" + secrets.token_hex(8)
    body = multipart([("target", None, json.dumps(target).encode()),
                      ("file", "big.pst", os.urandom(3 * LIMIT))], boundary)
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    on_disk: list[int] = []

    def watch(i: int) -> None:
        on_disk.append(sum(p.stat().st_size for p in router.spool.glob("*.part")) if router.spool.exists() else 0)

    status, answer = asgi_post(router.app, chunks, boundary, during=watch)
    assert status == 413 and answer["error"]["code"] == "file_too_large"
    assert max(on_disk) >= 1 << 20  # the file went to disk in pieces while it arrived
    assert len(on_disk) < len(chunks)  # and the rest of the body was never read
    assert leftovers(router.spool) == []


def test_client_going_away_mid_upload_leaves_nothing(router: Router, accounts: Accounts) -> None:
    target = accounts.endpoint(accounts.new("pst"))
    boundary = "d" + secrets.token_hex(8)
    body = multipart([("file", "x.pst", (CORPUS / "sample1.pst").read_bytes()),
                      ("target", None, json.dumps(target).encode())], boundary)
    chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)]
    asgi_post(router.app, chunks, boundary, disconnect_after=5)
    assert leftovers(router.spool) == []


# --------------------------------------------------------------------------------------------
# Accepted uploads
# --------------------------------------------------------------------------------------------


def read_requested(broker: Process, prefix: str, mid: str, timeout: float = 30) -> MigrationRequested:
    consumer = Consumer({"bootstrap.servers": broker.address, "group.id": f"pst-test-{secrets.token_hex(4)}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topics.MIGRATIONS_REQUESTED.full_name(prefix)])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            event = decode(msg.value())
            if isinstance(event, MigrationRequested) and event.migration_id == mid:
                return event
    finally:
        consumer.close()
    raise AssertionError("MigrationRequested was not published")


def test_router_accepts_a_pst_and_publishes_the_migration(router: Router, broker: Process,
                                                          redis_client: redis_lib.Redis, accounts: Accounts) -> None:
    login = accounts.new("pst")
    resp = upload(router.client, (CORPUS / "sample1.pst").read_bytes(), accounts.endpoint(login),
                  notify_email="me@example.test")
    assert resp.status_code == 202, resp.text
    mid = resp.json()["id"]
    assert resp.json()["status_url"] == f"/api/v1/migrations/{mid}"
    # Followed with the target login.
    assert router.intake.authorized(mid, login) is not None
    assert router.intake.authorized(mid, "someone-else@example.test") is None
    fields = router.intake.status.fields(mid)
    assert fields["state"] == "queued" and fields["login_hash"] == login_digest(fields["login_salt"], login)
    spec = decode_as(redis_client.get(k.spec(mid)), MigrationRequested)
    assert (spec.source.type, spec.source.login, spec.target.login) == ("pst", login, login)
    assert spec.options == ["emails"] and spec.notify_email == "me@example.test"
    stored = router.settings.spool / spec.source.path
    assert stored.read_bytes() == (CORPUS / "sample1.pst").read_bytes()
    assert leftovers(router.spool) == [stored.name]  # the accepted file stays for the extractor
    assert accounts.passwords[login] not in json.dumps(fields) + redis_client.get(k.spec(mid)).decode()
    event = read_requested(broker, router.prefix, mid)
    assert event.source == spec.source and event.pair_id == spec.pair_id
    # The same file into the same account is the same ledger scope (a delta pass); another file is not.
    again = upload(router.client, (CORPUS / "sample1.pst").read_bytes(), accounts.endpoint(login)).json()["id"]
    other = upload(router.client, (CORPUS / "sample2.pst").read_bytes(), accounts.endpoint(login)).json()["id"]
    pairs = [decode_as(redis_client.get(k.spec(m)), MigrationRequested).pair_id for m in (mid, again, other)]
    assert pairs[0] == pairs[1] != pairs[2]


def test_a_pst_is_imported_into_a_dovecot_account(pst_stack: StackInfo, accounts: Accounts) -> None:
    login = accounts.new("pst")
    with httpx.Client(base_url=pst_stack.intake_url, timeout=120) as client:
        resp = upload(client, (CORPUS / "sample1.pst").read_bytes(), accounts.endpoint(login), filename="sample1.pst")
    assert resp.status_code == 202, resp.text
    mid = resp.json()["id"]
    st = wait_final(pst_stack, mid, login)  # followed with the target login
    assert st["state"] == "completed", st
    assert st["items"]["emails"] == {"total": 1, "done": 1, "skipped": 0, "failed": 0,
                                     "bytes": st["items"]["emails"]["bytes"]}
    with accounts.client(login) as c:
        names = {name for _flags, _sep, name in c.list_folders()}
        assert {"Sample1", "Trash"} <= names, names
        c.select_folder("Sample1", readonly=True)
        uids = c.search("ALL")
        assert len(uids) == 1
        got = c.fetch(uids, ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])[uids[0]]
    assert set(got[b"FLAGS"]) - {b"\\Recent"} == {b"\\Seen", b"\\Flagged"}
    when = got[b"INTERNALDATE"]
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=datetime.now().astimezone().tzinfo)
    assert when.astimezone(UTC).replace(microsecond=0) == datetime(2010, 3, 15, 17, 12, 7, tzinfo=UTC)
    assert b"Subject: Here is a sample message" in got[b"BODY[]"]
    # The spool file is deleted at the final state.
    spool = Path(pst_stack.state_dir) / "spool" / "pst"
    deadline = time.monotonic() + 15
    while leftovers(spool) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leftovers(spool) == []



def test_a_third_upload_at_once_from_one_address_is_told_to_come_back(router: Router, accounts: Accounts) -> None:
    """Two uploads from one address are in progress (each held at its second piece): a third is answered 429 with
    Retry-After before a byte of it is written; once they have ended, the address may upload again."""
    target = accounts.endpoint(accounts.new("pst"))
    boundary = "c" + secrets.token_hex(8)
    body = multipart([("target", None, json.dumps(target).encode()), ("file", "x.pst", b"not a pst " * 5000)],
                     boundary)
    chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)]
    third: list[tuple[int, dict[str, Any]]] = []

    def start_third(i: int) -> None:
        if i == 1 and not third:
            third.append(asgi_post(router.app, chunks, boundary))

    def start_second(i: int) -> None:
        if i == 1:
            second.append(asgi_post(router.app, chunks, boundary, during=start_third))

    second: list[tuple[int, dict[str, Any]]] = []
    first = asgi_post(router.app, chunks, boundary, during=start_second)
    [(status, answer)] = third
    assert (status, answer["error"]["code"]) == (429, "rate_limited")
    assert [first[0], second[0][0]] == [422, 422]  # the two held ones went on to their own answer: not a PST
    assert first[1]["error"]["code"] == second[0][1]["error"]["code"] == "not_a_pst"
    assert asgi_post(router.app, chunks, boundary)[0] == 422  # counted down: not refused for being too many
    assert leftovers(router.spool) == []
