"""Fixtures that start real servers on free ports and clean up after themselves."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from imapclient import IMAPClient

from mailferry import stack
from mailferry.dovecot import DovecotServer
from shared import redis_keys
from shared.adapters.ews import connection as ews_connection
from shared.adapters.net import ConnectOptions
from shared.credential_seal import generate_master_key
from shared.net_guard import AllowList
from shared.redis_view import run_id
from tests.servers import Process, start_broker, start_redis

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _ews_guard_allows_loopback() -> None:
    """Once shared.adapters.ews.connection is imported, every exchangelib connection in the process goes through
    the network guard, which must know the allowed hosts (the services get MAILFERRY_ALLOW_HOSTS). The
    EWS emulator listens on loopback: allowed once here, so no test depends on which module imported it first."""
    ews_connection.configure(ConnectOptions(AllowList.parse("127.0.0.1")))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("MAILFERRY_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    p = start_broker(tmp_path_factory.mktemp("broker") / "broker.log")
    yield p
    p.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    p = start_redis(tmp_path_factory.mktemp("redis"))
    yield p
    p.stop()


@pytest.fixture
def redis_client(redis_server: Process) -> redis_lib.Redis:
    """A client of the session's Redis, its view marked whole (tests that use the stores directly write
    into it without a rebuild from the topics)."""
    client = redis_lib.Redis.from_url(redis_server.address)
    client.set(redis_keys.VIEW, run_id(client))
    return client


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    server = DovecotServer(tmp_path_factory.mktemp("dovecot"))
    server.start()
    yield server
    server.destroy()


class Accounts:
    """Fresh mailboxes on the shared Dovecot: every test gets its own."""

    def __init__(self, server: DovecotServer) -> None:
        self.server = server
        self.passwords: dict[str, str] = {}

    def new(self, name: str = "user") -> str:
        login = f"{name}-{next(_counter)}-{secrets.token_hex(3)}@example.test"
        self.passwords[login] = "pw-" + secrets.token_urlsafe(12)
        self.server.add_user(login, self.passwords[login])
        return login

    def client(self, login: str) -> IMAPClient:
        c = IMAPClient(self.server.host, port=self.server.imap_port, ssl=False, timeout=120)
        c.login(login, self.passwords[login])
        return c

    def endpoint(self, login: str, **over: object) -> dict[str, object]:
        ep: dict[str, object] = {"type": "imap", "host": "127.0.0.1", "port": self.server.imap_port,
                                 "security": "none", "login": login, "password": self.passwords[login]}
        ep.update(over)
        return ep


@pytest.fixture
def accounts(dovecot: DovecotServer) -> Accounts:
    return Accounts(dovecot)


def stack_env(broker: Process, redis_server: Process, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFERRY_")}
    env.update({
        "MAILFERRY_KAFKA_BOOTSTRAP": broker.address,
        "MAILFERRY_REDIS_URL": redis_server.address,
        "MAILFERRY_TOPIC_PREFIX": prefix,
        "MAILFERRY_TOPIC_PARTITIONS": "4",
        "MAILFERRY_INTAKE_PORT": str(stack.free_port()),
        "MAILFERRY_ALLOW_HOSTS": "127.0.0.1",
        "MAILFERRY_SECRET_KEY": generate_master_key("test1"),
        "MAILFERRY_LOGIN_CHECKS_PER_MINUTE": "1000",
        "MAILFERRY_TASK_SIZE": "150",
    })
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def running_stack(broker: Process, redis_server: Process,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.StackInfo]:
    """The four services as separate processes, on their own topics (prefix) and consumer groups."""
    state = tmp_path_factory.mktemp("stack")
    env = stack_env(broker, redis_server, f"t{secrets.token_hex(4)}.")
    info = stack.up(state, env, timeout=120)
    yield info
    stack.down(state)
