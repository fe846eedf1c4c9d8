"""Who can reach the local stack, and whose address a login check is counted under (the running intake).

The stack believes forwarded addresses only from 127.0.0.2 (its ``MAILFERRY_TRUSTED_PROXIES``) and
allows 4 login checks a minute. Clients connect from chosen loopback addresses (all of 127.0.0.0/8 is
this machine), so the peer address is real, not a header: 127.0.0.1 plays a client forging
X-Forwarded-For, 127.0.0.2 the ingress proxy, 127.0.0.10 onwards separate clients.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mailferry import stack
from mailferry.stack import SERVICES, StackInfo
from tests.conftest import Accounts, stack_env
from tests.servers import Process

pytestmark = pytest.mark.e2e

LIMIT = 4
PROXY = "127.0.0.2"


@pytest.fixture(scope="module")
def exposed_stack(broker: Process, redis_server: Process,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    state = tmp_path_factory.mktemp("stack-exposure")
    env = stack_env(broker, redis_server, f"x{secrets.token_hex(4)}.", MAILFERRY_LOGIN_CHECKS_PER_MINUTE=str(LIMIT),
                    MAILFERRY_TRUSTED_PROXIES=PROXY)
    env.pop("MAILFERRY_BIND_HOST", None)  # the default is what is tested
    # Rate-limit counts are per address and login, whichever stack made them: a Redis database of its own
    # keeps other modules' requests from 127.0.0.1 out of this one's.
    env["MAILFERRY_REDIS_URL"] = redis_server.address.rsplit("/", 1)[0] + "/7"
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)


def client_from(info: StackInfo, address: str) -> httpx.Client:
    return httpx.Client(base_url=info.intake_url, timeout=60,
                        transport=httpx.HTTPTransport(local_address=address))


def unreachable_request() -> dict[str, Any]:
    """A login check that ends at the network guard (10.1.2.3 is refused): distinct logins each time, so
    only the client address is shared between requests."""
    def endpoint() -> dict[str, Any]:
        return {"type": "imap", "host": "10.1.2.3", "port": 143, "security": "none",
                "login": f"{secrets.token_hex(5)}@example.test", "password": "pw-1"}
    return {"source": endpoint(), "target": endpoint()}


def statuses(client: httpx.Client, count: int, forwarded_for: str | None = None,
             vary_forwarded_for: bool = False) -> list[int]:
    out = []
    for i in range(count):
        headers = {}
        if vary_forwarded_for:
            headers["X-Forwarded-For"] = f"203.0.113.{i + 1}"
        elif forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        out.append(client.post("/api/v1/migrations", json=unreachable_request(), headers=headers).status_code)
    return out


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(exposed_stack: StackInfo) -> None:
    with client_from(exposed_stack, "127.0.0.1") as forger:
        answers = statuses(forger, LIMIT + 2, vary_forwarded_for=True)
    assert answers == [422] * LIMIT + [429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(exposed_stack: StackInfo) -> None:
    with client_from(exposed_stack, PROXY) as proxy:
        first = statuses(proxy, LIMIT + 1, forwarded_for="198.51.100.1")
        second = statuses(proxy, LIMIT, forwarded_for="198.51.100.2")
        # a proxy that appends: the client is the last address the trusted proxy did not add itself
        chained = statuses(proxy, 1, forwarded_for=f"198.51.100.1, 198.51.100.3, {PROXY}")
    assert first == [422] * LIMIT + [429]
    assert second == [422] * LIMIT
    assert chained == [422]


def test_one_target_password_guessed_from_many_logins_and_addresses_is_refused(
        exposed_stack: StackInfo, accounts: Accounts) -> None:
    target = accounts.new("target")
    sources = [accounts.new("src") for _ in range(12)]
    answers = []
    for i, source in enumerate(sources):
        guess = {"source": accounts.endpoint(source), "target": accounts.endpoint(target, password=f"guess-{i}")}
        with client_from(exposed_stack, f"127.0.0.{10 + i}") as client:
            resp = client.post("/api/v1/migrations", json=guess)
        answers.append((resp.status_code, resp.json()["error"]["code"], resp.json()["error"]["side"]))
    assert answers == ([(422, "authentication_failed", "target")] * LIMIT
                       + [(429, "rate_limited", "target")] * (12 - LIMIT))
    with client_from(exposed_stack, "127.0.0.30") as client:  # the right password now tells nothing either
        right = client.post("/api/v1/migrations", json={"source": accounts.endpoint(sources[0]),
                                                        "target": accounts.endpoint(target)})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    # Checks that succeed are not counted: many sources may go into one target.
    merged = accounts.new("merged")
    for i in range(LIMIT + 2):
        wrong_source = accounts.endpoint(sources[i], password="wrong")
        with client_from(exposed_stack, f"127.0.0.{40 + i}") as client:
            resp = client.post("/api/v1/migrations", json={"source": wrong_source, "target": accounts.endpoint(merged)})
        assert (resp.status_code, resp.json()["error"]["side"]) == (422, "source"), resp.text


def listening(pid: int) -> list[str]:
    """The addresses (``ip:port``) a process listens on, from /proc: its socket inodes and the kernel's tables."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip)
            packed = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, len(raw), 4))
            out.append(f"{socket.inet_ntop(family, packed)}:{int(hex_port, 16)}")
    return out


def test_the_local_stack_listens_on_loopback_only(exposed_stack: StackInfo) -> None:
    seen = {}
    for name in SERVICES:
        for pid in exposed_stack.processes[name]:
            seen[f"{name}[{pid}]"] = listening(pid)
    assert all(seen.values()), seen  # intake's API, each worker's health and metrics
    assert all(addr.startswith("127.0.0.1:") for addrs in seen.values() for addr in addrs), seen
