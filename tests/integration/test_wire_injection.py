"""Command injection through credentials and names, tried on the real servers (Dovecot, aiosmtpd).

Each attack is what a hostile request would carry: a login, password or Sieve script name with a line
break that, sent as it is, ends mailferry's command and starts the attacker's (issue 14). The servers
are real, so a test sees what the attack would have done to a victim's mailbox; a refusal must happen
before a single byte is sent, which a bare listening socket (``probe``) shows: nothing may connect.
"""

from __future__ import annotations

import functools
import secrets
import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller

from mailferry import stack
from mailferry.dovecot import DovecotServer
from services.tracker.notify import Notifier, compose
from shared.adapters.ews.connection import check_login
from shared.adapters.imap.connection import login_imap
from shared.adapters.net import ConnectOptions
from shared.adapters.pop3.connection import login_pop3
from shared.adapters.sieve.client import connect_sieve
from shared.config import SmtpSettings
from shared.errors import ConnectionCheckFailed, ItemRejected
from shared.net_guard import AllowList
from tests.conftest import Accounts

pytestmark = pytest.mark.integration

OPTS = ConnectOptions(AllowList.parse("127.0.0.1"), timeout=5)


@pytest.fixture
def probe() -> Iterator[socket.socket]:
    """A listening socket no test may reach: proof that a refusal came before connecting."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def nobody_connected(probe: socket.socket) -> bool:
    try:
        conn, _ = probe.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def refused_as_invalid(exc: pytest.ExceptionInfo[ConnectionCheckFailed], field: str) -> None:
    assert exc.value.code == "invalid_request", f"{type(exc.value).__name__}: {exc.value}"
    assert getattr(exc.value, "field", None) == field
    assert "\r" not in str(exc.value) and "\n" not in str(exc.value)


def folders(accounts: Accounts, login: str) -> set[str]:
    with accounts.client(login) as c:
        return {name for _flags, _sep, name in c.list_folders()}


def imap_attacks(victim: str, password: str) -> dict[str, tuple[str, str]]:
    """The issue's payload in the login, the same in the password, and one through LITERAL+."""
    return {
        "login": (f'x\r\nZ1 LOGIN {victim} "{password}"\r\nZ2 CREATE Injected', "anything"),
        "password": ("nobody@example.test", f"x\r\nZ1 LOGIN {victim} {password}\r\nZ2 CREATE Injected2\r\nZ3 NOOP"),
        "literal": ("nobody@example.test",
                    f"x\r\nZ1 LOGIN {victim} {{{len(password)}+}}\r\n{password}\r\nZ2 CREATE Injected3\r\nZ3 NOOP"),
    }


def test_an_imap_login_carrying_commands_creates_nothing_in_the_victims_mailbox(
        accounts: Accounts, dovecot: DovecotServer) -> None:
    victim = accounts.new("victim")
    before = folders(accounts, victim)
    refusals = []
    for name, (login, password) in imap_attacks(victim, accounts.passwords[victim]).items():
        with pytest.raises(ConnectionCheckFailed) as exc:
            login_imap("127.0.0.1", dovecot.imap_port, "none", True, login, password, OPTS).logout()
        refusals.append((exc, "login" if name == "login" else "password"))
    assert folders(accounts, victim) == before  # no Injected, Injected2, Injected3
    for exc, field in refusals:
        refused_as_invalid(exc, field)


def test_an_imap_login_with_a_control_character_is_refused_before_connecting(
        accounts: Accounts, probe: socket.socket) -> None:
    victim = accounts.new("victim")
    port = probe.getsockname()[1]
    for login, password in [*imap_attacks(victim, accounts.passwords[victim]).values(),
                            ("user\x00@example.test", "pw"), ("user@example.test", "tab\there"),
                            ("user@example.test", "del\x7f"), ("user@example.test", "nel\x85")]:
        with pytest.raises(ConnectionCheckFailed) as exc:
            login_imap("127.0.0.1", port, "none", True, login, password, OPTS)
        assert exc.value.code == "invalid_request", exc.value
    assert nobody_connected(probe)


def test_what_exchange_basic_authentication_cannot_carry_is_refused_before_connecting(probe: socket.socket) -> None:
    """Found in a hostile review: a password or login beyond Latin-1 failed inside the HTTP request, and the user
    read "does not answer like an Exchange (EWS) server: UnicodeEncodeError"; a colon in the login moved the rest
    of it into the password (RFC 7617)."""
    port = probe.getsockname()[1]
    for login, password, field in (("ann@example.test", "密码", "password"), ("ann@example.test", "pół", "password"),
                                   ("李@example.test", "pw", "login"), ("ann:x@example.test", "pw", "login")):
        with pytest.raises(ConnectionCheckFailed) as exc:
            check_login("127.0.0.1", port, "none", login, password, attempts=1)
        refused_as_invalid(exc, field)
        assert "basic authentication" in str(exc.value) and password not in str(exc.value)
    assert nobody_connected(probe)


def test_imap_logins_are_quoted_and_non_ascii_passwords_still_log_in(dovecot: DovecotServer) -> None:
    """Quotes and backslashes arrive escaped, and a password beyond ASCII (which LOGIN cannot carry:
    imaplib failed with UnicodeEncodeError) goes base64-encoded in AUTHENTICATE PLAIN. (Dovecot admits
    only letters, digits and ``.-_@`` in user names, so the login's quoting is shown by the refusals.)"""
    tag = secrets.token_hex(3)
    users = {f"quote-{tag}@example.test": 'say "hi" \\o/ p "a\\ b',
             f"umlaut{tag}@example.test": "pässwörd-€-" + tag}
    for login, password in users.items():
        dovecot.add_user(login, password)
    for login, password in users.items():
        client = login_imap("127.0.0.1", dovecot.imap_port, "none", True, login, password, OPTS)
        try:
            assert "INBOX" in {name for _f, _s, name in client.list_folders()}
        finally:
            client.logout()


def test_a_pop3_login_carrying_commands_deletes_nothing(accounts: Accounts, dovecot: DovecotServer,
                                                         probe: socket.socket) -> None:
    victim = accounts.new("victim")
    with accounts.client(victim) as c:
        c.append("INBOX", b"Subject: keep me\r\n\r\nbody\r\n")
    password = accounts.passwords[victim]
    attacks = [(f"x\r\nUSER {victim}\r\nPASS {password}\r\nDELE 1\r\nQUIT", "anything"),
               ("nobody@example.test", f"x\r\nUSER {victim}\r\nPASS {password}\r\nDELE 1\r\nQUIT"),
               ("nobody@example.test", "esc\x1b[2J"), ("nul\x00@example.test", "pw"), ("tab\t@example.test", "pw")]
    for port in (dovecot.pop3_port, probe.getsockname()[1]):
        for login, pw in attacks:
            with pytest.raises(ConnectionCheckFailed) as exc:
                login_pop3("127.0.0.1", port, "none", True, login, pw, OPTS).logout()
            assert exc.value.code == "invalid_request", exc.value
    assert nobody_connected(probe)
    with accounts.client(victim) as c:
        assert c.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1


def test_a_sieve_script_name_carrying_commands_deletes_no_script(accounts: Accounts, dovecot: DovecotServer,
                                                                 probe: socket.socket) -> None:
    owner = accounts.new("sieve")
    password = accounts.passwords[owner]
    sieve = connect_sieve("127.0.0.1", dovecot.sieve_port, "none", True, owner, password, OPTS)
    try:
        sieve.put_script("keep", "keep;\r\n")
        outcomes = []
        for name in ("x\r\nDELETESCRIPT {4+}\r\nkeep\r\nNOOP", 'x"\r\nDELETESCRIPT "keep', "a\x00b"):
            for attempt in (functools.partial(sieve.put_script, name, "keep;\r\n"),
                            functools.partial(sieve.delete_script, name)):
                try:
                    attempt()
                    outcomes.append(None)
                except ItemRejected as exc:
                    outcomes.append(exc)
        assert sieve.list_scripts() == {"keep": False}
        assert all(isinstance(o, ItemRejected) and "control character" in str(o) for o in outcomes), outcomes
        long_name = "n" * 1100  # beyond a quoted string: sent as a literal, refused by the server as too long
        with pytest.raises(ItemRejected):
            sieve.put_script(long_name, "keep;\r\n")
        sieve.set_active("keep")
        assert sieve.list_scripts() == {"keep": True}
        sieve.set_active("")  # the empty name is SETACTIVE's "none active" (undo uses it)
        assert sieve.list_scripts() == {"keep": False}
    finally:
        sieve.logout()
    for login, pw in ((f"x\r\nLOGOUT\r\n{owner}", password), (owner, f"{password}\r\nDELETESCRIPT \"keep\"")):
        with pytest.raises(ConnectionCheckFailed) as exc:
            connect_sieve("127.0.0.1", probe.getsockname()[1], "none", True, login, pw, OPTS)
        assert exc.value.code == "invalid_request", exc.value
    assert nobody_connected(probe)


class Envelopes:
    """An aiosmtpd handler that records every RCPT it is given and every message."""

    def __init__(self) -> None:
        self.rcpts: list[str] = []
        self.delivered: list[list[str]] = []

    async def handle_RCPT(self, _server: object, _session: object, envelope: Any, address: str,
                          _options: list[str]) -> str:
        self.rcpts.append(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.delivered.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Envelopes, int]]:
    handler = Envelopes()
    port = stack.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def test_the_notification_goes_to_one_recipient_only(relay: tuple[Envelopes, int],
                                                     redis_client: redis_lib.Redis) -> None:
    handler, port = relay
    notifier = Notifier(redis_client, SmtpSettings(host="127.0.0.1", port=port, sender="mf@ops.test"),
                        lambda _mid, _kind: None)
    fields = {"state": "completed", "options": '["emails"]'}
    for to in ("me,victim@evil.test", "me@customer.test,victim@evil.test",
               "friends: me@customer.test, victim@evil.test;", "Me <me@customer.test>, victim@evil.test"):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            notifier.send(compose("m1", "migration", fields, [], "mf@ops.test", to))
    assert handler.rcpts == [] and handler.delivered == []
    notifier.send(compose("m1", "migration", fields, [], "mf@ops.test", "me@customer.test"))
    assert handler.delivered == [["me@customer.test"]]
