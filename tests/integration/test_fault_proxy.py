"""The chaos runner's IMAP fault proxy against the real Dovecot: an injected ``NO`` answers exactly the
command it swallowed (the server never sees it, the connection stays in step, pipelined LITERAL+ commands
included), an injected ``BYE`` ends the connection between two responses."""

from __future__ import annotations

import imaplib
import random
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from shared.adapters.imap.connection import login_imap
from shared.adapters.imap.target import ImapTarget
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import Outgoing, Placed
from shared.errors import ServerUnreachable, Throttled
from shared.net_guard import AllowList
from tests.chaos.fault_proxy import FaultProxy
from tests.conftest import Accounts


@pytest.fixture
def proxy(accounts: Accounts) -> Iterator[FaultProxy]:
    p = FaultProxy(accounts.server.imap_port, imap=True)
    yield p
    p.close()


def through(proxy: FaultProxy, accounts: Accounts, login: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", port=proxy.port, ssl=False, timeout=30)
    c.login(login, accounts.passwords[login])
    return c


def test_an_injected_no_answers_the_append_it_swallowed(proxy: FaultProxy, accounts: Accounts) -> None:
    login = accounts.new("proxy")
    with through(proxy, accounts, login) as c:
        c.append("INBOX", b"Subject: first\r\n\r\none\r\n")
        proxy.inject(("no",), ("APPEND",), times=1, chance=1.0, rng=random.Random(1))
        with pytest.raises(IMAPClientError, match="UNAVAILABLE"):
            c.append("INBOX", b"Subject: refused\r\n\r\ntwo\r\n")
        c.append("INBOX", b"Subject: third\r\n\r\nthree\r\n")  # in step: the next command is the server's
        c.select_folder("INBOX", readonly=True)
        subjects = sorted(d[b"BODY[HEADER.FIELDS (SUBJECT)]"].strip()
                          for d in c.fetch(c.search(), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]).values())
    assert subjects == [b"Subject: first", b"Subject: third"]
    assert proxy.injected == ["no to APPEND"]


def test_pipelined_literal_plus_appends_keep_in_step_around_an_injected_no(proxy: FaultProxy,
                                                                         accounts: Accounts) -> None:
    login = accounts.new("proxy")
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(f'a LOGIN "{login}" "{accounts.passwords[login]}"\r\n'.encode())
    while not reader.readline().startswith(b"a OK"):
        pass
    proxy.inject(("no",), ("APPEND",), times=1, chance=1.0, rng=random.Random(1))
    cmds = b"".join(f"b{i} APPEND INBOX {{{len(body)}+}}\r\n".encode() + body + b"\r\n"
                    for i, body in enumerate([b"Subject: x0\r\n\r\n0\r\n", b"Subject: x1\r\n\r\n1\r\n",
                                              b"Subject: x2\r\n\r\n2\r\n"]))
    sock.sendall(cmds + b"z LOGOUT\r\n")
    tagged = {}
    while (line := reader.readline()) and not line.startswith(b"z "):
        if line[:1] == b"b":
            tagged[line.split(b" ")[0]] = line.split(b" ")[1]
    sock.close()
    assert tagged == {b"b0": b"NO", b"b1": b"OK", b"b2": b"OK"}
    with accounts.client(login) as c:
        assert c.select_folder("INBOX")[b"EXISTS"] == 2


def test_an_injected_bye_closes_the_connection_mid_fetch(proxy: FaultProxy, accounts: Accounts) -> None:
    login = accounts.new("proxy")
    with accounts.client(login) as c:
        c.append("INBOX", b"Subject: one\r\n\r\none\r\n")
    c = through(proxy, accounts, login)
    c.select_folder("INBOX", readonly=True)
    proxy.inject(("bye",), ("FETCH",), times=1, chance=1.0, rng=random.Random(1))
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        c.fetch(c.search(), ["BODY.PEEK[]"])
    assert proxy.injected == ["bye to FETCH"]
    with through(proxy, accounts, login) as again:  # a new connection is the server's again
        again.select_folder("INBOX", readonly=True)
        assert len(again.fetch(again.search(), ["BODY.PEEK[]"])) == 1


def test_the_imap_target_takes_no_unavailable_to_an_append_for_not_now(
        proxy: FaultProxy, accounts: Accounts) -> None:
    """Through the proxy, the adapter's pipelined APPEND answered ``NO [UNAVAILABLE]`` raises Throttled (the
    batch goes again after a back-off), not a refusal of the message."""
    login = accounts.new("proxy")
    opts = ConnectOptions(allow=AllowList.parse("127.0.0.1"), timeout=30)
    target = ImapTarget(login_imap("127.0.0.1", proxy.port, "none", False, login, accounts.passwords[login], opts))
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    msgs = [Outgoing(f"Subject: t{i}\r\n\r\n{i}\r\n".encode(), (), when) for i in range(3)]
    proxy.inject(("no",), ("APPEND",), times=1, chance=1.0, rng=random.Random(1))
    with pytest.raises(Throttled, match="UNAVAILABLE"):
        target.append_pipelined([("INBOX", msgs[:2]), ("INBOX", msgs[2:])])
    placed = target.append_pipelined([("INBOX", msgs)])  # the next answers are the server's again
    assert all(isinstance(p, Placed) for p in placed[0]) and len(placed[0]) == 3


def test_a_connection_dropped_during_the_login_is_unreachable_for_now_not_a_protocol_error(
        proxy: FaultProxy, accounts: Accounts) -> None:
    """A BYE and a closed connection in answer to LOGIN says nothing about the credentials or the protocol:
    ServerUnreachable (retryable), not ProtocolError, which would fail the whole migration."""
    login = accounts.new("proxy")
    opts = ConnectOptions(allow=AllowList.parse("127.0.0.1"), timeout=30)
    proxy.inject(("bye",), ("LOGIN",), times=1, chance=1.0, rng=random.Random(1))
    with pytest.raises(ServerUnreachable) as dropped:
        login_imap("127.0.0.1", proxy.port, "none", False, login, accounts.passwords[login], opts)
    assert dropped.value.retryable
    login_imap("127.0.0.1", proxy.port, "none", False, login, accounts.passwords[login], opts).logout()
