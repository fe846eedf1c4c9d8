"""An Exchange account given without a server: intake finds it by POX autodiscover.

A real DNS server (dnslib) answers for autodiscover.<domain>; the EWS emulator
(the one test double) answers the autodiscover POST and serves the mailbox.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from mailferry import stack
from mailferry.stack import StackInfo
from tests.conftest import Accounts, stack_env
from tests.e2e.flows import PST_CORPUS, wait_final
from tests.ews_emulator import EwsEmulator
from tests.servers import Process


class Zone(BaseResolver):  # type: ignore[misc]
    """autodiscover.auto.test → 127.0.0.1; everything else does not exist."""

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).lower()
        if name == "autodiscover.auto.test." and QTYPE[request.q.qtype] == "A":
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=A("127.0.0.1"), ttl=60))
        elif name not in ("autodiscover.auto.test.", "auto.test."):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def discovery_stack(broker: Process, redis_server: Process, emulator: EwsEmulator,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    dns = DNSServer(Zone(), address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated,-error,"
                                                                              "-recv,-send,-data", prefix=False))
    dns.start_thread()
    state = tmp_path_factory.mktemp("stack-autodiscover")
    env = stack_env(broker, redis_server, f"a{secrets.token_hex(4)}.",
                    MAILFERRY_AUTODETECT_NAMESERVERS="127.0.0.1",
                    MAILFERRY_AUTODETECT_DNS_PORT=str(dns.server.server_address[1]),
                    MAILFERRY_AUTODETECT_HTTP_SCHEME="http",
                    MAILFERRY_AUTODETECT_HTTP_PORT=str(urlsplit(emulator.url).port))
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)
    dns.stop()


def test_exchange_without_a_server_is_found_by_autodiscover(discovery_stack: StackInfo, emulator: EwsEmulator,
                                                            accounts: Accounts) -> None:
    emulator.add_mailbox("ceo@auto.test", "ceo-pw-1")
    src = accounts.new("src")
    with accounts.client(src) as c:
        c.append("INBOX", b"Subject: to exchange\r\nMessage-ID: <ad1@x>\r\n\r\nbody\r\n")
    body = {"source": accounts.endpoint(src),
            "target": {"type": "ews", "login": "ceo@auto.test", "password": "ceo-pw-1"}}
    resp = httpx.post(f"{discovery_stack.intake_url}/api/v1/migrations", json=body, timeout=120)
    assert resp.status_code == 202, resp.text
    st = wait_final(discovery_stack, resp.json()["id"], src)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 1
    assert len(emulator.mailbox("ceo@auto.test").items_in("inbox")) == 1
    nowhere = {**body, "target": {"type": "ews", "login": "ceo@nowhere.test", "password": "x"}}
    err = httpx.post(f"{discovery_stack.intake_url}/api/v1/migrations", json=nowhere, timeout=120).json()["error"]
    assert (err["code"], err["side"]) == ("host_not_found", "target")
    assert "autodiscover found no Exchange server" in err["message"]


def test_a_pst_upload_into_exchange_without_a_server_is_found_by_autodiscover(
        discovery_stack: StackInfo, emulator: EwsEmulator) -> None:
    emulator.add_mailbox("cfo@auto.test", "cfo-pw-1")
    with (PST_CORPUS / "sample1.pst").open("rb") as fh:
        resp = httpx.post(f"{discovery_stack.intake_url}/api/v1/pst-migrations", timeout=120, data={
            "target": json.dumps({"type": "ews", "login": "cfo@auto.test", "password": "cfo-pw-1"}),
            "options": json.dumps(["emails"])}, files={"file": ("sample1.pst", fh, "application/octet-stream")})
    assert resp.status_code == 202, resp.text
    st = wait_final(discovery_stack, resp.json()["id"], "cfo@auto.test")
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 1, st
    mailbox = emulator.mailbox("cfo@auto.test")
    assert {p: len(mailbox.items_in(p)) for p in mailbox.folder_paths() if mailbox.items_in(p)} == {"Sample1": 1}
    with (PST_CORPUS / "sample1.pst").open("rb") as fh:
        err = httpx.post(f"{discovery_stack.intake_url}/api/v1/pst-migrations", timeout=120, data={
            "target": json.dumps({"type": "ews", "login": "cfo@nowhere.test", "password": "x"})},
            files={"file": ("sample1.pst", fh, "application/octet-stream")}).json()["error"]
    assert (err["code"], err["side"]) == ("host_not_found", "target")
