"""The POP3 source against Dovecot's real POP3 server: security modes, errors by kind, UIDLs, exact bytes.

Dovecot's POP3 serves the INBOX, so messages are put there through IMAP and what POP3
returns is compared with IMAP's ``BODY[]`` of the same messages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailferry.dovecot import DovecotServer, free_port
from shared.adapters.net import ConnectOptions
from shared.adapters.pop3.connection import login_pop3, open_pop3
from shared.adapters.pop3.maildrop import Pop3Source, pop3_item_key, received_date
from shared.errors import AddressNotAllowed, AuthenticationFailed, ProtocolError, ServerUnreachable, TlsError
from shared.net_guard import AllowList
from tests.conftest import Accounts

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dovecot") is None, reason="dovecot not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Dovecot needs root"),
]

ROOT = Path(__file__).resolve().parents[2]


def options(dovecot: DovecotServer, **over: object) -> ConnectOptions:
    kw: dict[str, object] = {"allow": AllowList.parse("127.0.0.1"), "ca_file": str(dovecot.cert_path)}
    kw.update(over)
    return ConnectOptions(**kw)  # type: ignore[arg-type]


def fill(accounts: Accounts, login: str, messages: list[bytes]) -> list[bytes]:
    """Append to INBOX through IMAP; returns IMAP's BODY[] of each, in order."""
    client = accounts.client(login)
    try:
        for m in messages:
            client.append("INBOX", m)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
        return [bytes(fetched[u][b"BODY[]"]) for u in uids]
    finally:
        client.logout()


def source(dovecot: DovecotServer, accounts: Accounts, login: str, security: str = "none") -> Pop3Source:
    port = dovecot.pop3s_port if security == "tls" else dovecot.pop3_port
    return Pop3Source(login_pop3("127.0.0.1", port, security, True, login, accounts.passwords[login],
                                 options(dovecot)))


def small(i: int) -> bytes:
    return (f"From: a@example.test\r\nTo: b@example.test\r\nSubject: message {i}\r\n"
            f"Received: from mx by mx.example.test; Tue, 1 Jul 2003 10:52:{i % 60:02d} +0200\r\n"
            f"Message-ID: <{i}@example.test>\r\n\r\nbody {i}\r\n").encode()


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_each_security_mode_logs_in_and_lists(dovecot: DovecotServer, accounts: Accounts, security: str) -> None:
    login = accounts.new("pop")
    fill(accounts, login, [small(1), small(2)])
    src = source(dovecot, accounts, login, security)
    try:
        assert src.client.tls == (security != "none")
        uidls = src.uidls()
        assert [n for n, _ in uidls] == [1, 2]
        assert len({u for _, u in uidls}) == 2
        assert set(src.sizes()) == {1, 2}
    finally:
        src.close()


def test_implicit_tls_verifies_the_host_name_on_the_pinned_address(dovecot: DovecotServer,
                                                                   accounts: Accounts) -> None:
    login = accounts.new("pop")
    client = login_pop3("localhost", dovecot.pop3s_port, "tls", True, login, accounts.passwords[login],
                        options(dovecot))
    assert client.tls
    client.logout()


def test_wrong_password_is_authentication_failed_without_the_password(dovecot: DovecotServer,
                                                                      accounts: Accounts) -> None:
    login = accounts.new("pop")
    for security, port in (("none", dovecot.pop3_port), ("starttls", dovecot.pop3_port),
                           ("tls", dovecot.pop3s_port)):
        with pytest.raises(AuthenticationFailed) as err:
            login_pop3("127.0.0.1", port, security, True, login, "not-the-Secret-42", options(dovecot))
        assert "not-the-Secret-42" not in str(err.value)
        assert login in str(err.value)


def test_connection_errors_by_kind(dovecot: DovecotServer, accounts: Accounts) -> None:
    login = accounts.new("pop")
    pw = accounts.passwords[login]
    # Nobody listens.
    with pytest.raises(ServerUnreachable):
        login_pop3("127.0.0.1", free_port(), "none", True, login, pw, options(dovecot))
    # The certificate is not trusted without the test CA.
    for security, port in (("starttls", dovecot.pop3_port), ("tls", dovecot.pop3s_port)):
        with pytest.raises(TlsError, match="not trusted"):
            login_pop3("127.0.0.1", port, security, True, login, pw, options(dovecot, ca_file=""))
    # Implicit TLS to the plain port: the POP3 greeting is no TLS handshake.
    with pytest.raises(TlsError):
        open_pop3("127.0.0.1", dovecot.pop3_port, "tls", True, options(dovecot))
    # An IMAP server is no POP3 server.
    with pytest.raises(ProtocolError, match="POP3"):
        open_pop3("127.0.0.1", dovecot.imap_port, "none", True, options(dovecot))
    # Plain text to the TLS port: connected, but no greeting ever comes.
    with pytest.raises(ProtocolError, match="greeting"):
        open_pop3("127.0.0.1", dovecot.pop3s_port, "none", True, options(dovecot, timeout=1.0))
    # The network guard still applies.
    with pytest.raises(AddressNotAllowed):
        open_pop3("127.0.0.1", dovecot.pop3_port, "none", True, options(dovecot, allow=AllowList.parse("")))


def test_uidls_are_stable_across_sessions(dovecot: DovecotServer, accounts: Accounts) -> None:
    login = accounts.new("pop")
    fill(accounts, login, [small(i) for i in range(5)])
    first = source(dovecot, accounts, login)
    try:
        before = first.uidls()
    finally:
        first.close()
    fill(accounts, login, [small(99)])
    second = source(dovecot, accounts, login)
    try:
        after = second.uidls()
    finally:
        second.close()
    assert after[:5] == before
    assert len(after) == 6 and after[5][1] not in {u for _, u in before}
    keys = {pop3_item_key(u) for _, u in after}
    assert len(keys) == 6


def test_fetch_returns_the_bytes_imap_serves(dovecot: DovecotServer, accounts: Accounts) -> None:
    login = accounts.new("pop")
    messages = [
        small(1),
        b"Subject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n...\r\nend\r\n",  # dot-stuffed on the wire
        b"Subject: long line\r\n\r\n" + b"x" * 20000 + b"\r\n",  # longer than poplib's 2048 limit
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n8bit body: Grüße, ☃\r\n".encode(),
        b"Subject: bare LF\n\nline one\nline two\n",  # Dovecot serves CRLF on both protocols
        b"Subject: binary-ish\r\n\r\n" + bytes(range(1, 10)) + bytes(range(14, 256)) + b"\r\n",
    ]
    imap_bodies = fill(accounts, login, messages)
    src = source(dovecot, accounts, login)
    try:
        numbers = [n for n, _ in src.uidls()]
        sizes = src.sizes()
        got = dict(src.fetch(numbers))
    finally:
        src.close()
    assert [got[n] for n in numbers] == imap_bodies
    assert all(sizes[n] == len(got[n]) for n in numbers)


def test_an_unterminated_last_line_gets_the_crlf_pop3_requires(dovecot: DovecotServer,
                                                               accounts: Accounts) -> None:
    login = accounts.new("pop")
    [imap_body] = fill(accounts, login, [b"Subject: no final newline\r\n\r\nlast line"])
    src = source(dovecot, accounts, login)
    try:
        [(_, data)] = list(src.fetch([1]))
    finally:
        src.close()
    assert data == imap_body + b"\r\n"


def test_stopping_a_pipelined_fetch_early_keeps_the_session_usable(dovecot: DovecotServer,
                                                                   accounts: Accounts) -> None:
    login = accounts.new("pop")
    bodies = fill(accounts, login, [small(i) for i in range(40)])
    src = source(dovecot, accounts, login)
    try:
        assert src.pipelining
        for n, _data in src.fetch(range(1, 41)):
            if n == 3:
                break
        assert len(src.uidls()) == 40
        assert [d for _, d in src.fetch([39, 40])] == bodies[38:40]
    finally:
        src.close()


def test_a_message_expunged_meanwhile_is_skipped(dovecot: DovecotServer, accounts: Accounts) -> None:
    login = accounts.new("pop")
    bodies = fill(accounts, login, [small(1), small(2), small(3)])
    src = source(dovecot, accounts, login)
    try:
        imap = accounts.client(login)
        imap.select_folder("INBOX")
        imap.delete_messages([min(imap.search("ALL"))])
        imap.expunge()
        imap.logout()
        assert list(src.fetch([1, 2, 3])) == [(2, bodies[1]), (3, bodies[2])]
        assert src.vanished == {1}
    finally:
        src.close()


def test_received_date_of_a_served_message(dovecot: DovecotServer, accounts: Accounts) -> None:
    login = accounts.new("pop")
    fill(accounts, login, [small(7)])
    src = source(dovecot, accounts, login)
    try:
        [(_, data)] = list(src.fetch([1]))
    finally:
        src.close()
    when = received_date(data)
    assert when is not None and when.isoformat() == "2003-07-01T10:52:07+02:00"


@pytest.fixture
def latency_proxy(dovecot: DovecotServer) -> Iterator[int]:
    """Dovecot's POP3 port behind 10 ms of round-trip time, as a remote server would be."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.latency_proxy", "--target-port", str(dovecot.pop3_port),
         "--rtt-ms", "10"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield int(line.split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _rate(src: Pop3Source, numbers: list[int], window: int, rounds: int = 3) -> tuple[float, list[bytes]]:
    src.window = window
    best = float("inf")
    out: list[bytes] = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = [d for _, d in src.fetch(numbers)]
        best = min(best, time.perf_counter() - start)
    return len(numbers) / best, out


def test_pipelined_fetch_of_300_equals_one_by_one_and_is_faster(
        dovecot: DovecotServer, accounts: Accounts, latency_proxy: int, artifacts: Path) -> None:
    login = accounts.new("pop")
    fill(accounts, login, [small(i) for i in range(300)])
    results: dict[str, dict[str, float]] = {}
    for route, port, rounds in (("direct", dovecot.pop3_port, 3), ("rtt_10ms", latency_proxy, 1)):
        src = Pop3Source(login_pop3("127.0.0.1", port, "none", True, login, accounts.passwords[login],
                                    options(dovecot)))
        try:
            assert src.pipelining  # Dovecot advertises PIPELINING in CAPA
            numbers = [n for n, _ in src.uidls()]
            assert len(numbers) == 300
            list(src.fetch(numbers))  # warm Dovecot's caches for a fair comparison
            one_rate, one = _rate(src, numbers, 1, rounds)
            pipe_rate, piped = _rate(src, numbers, 64, rounds)
        finally:
            src.close()
        assert piped == one
        assert len(piped) == 300 and all(b"Subject: message" in d for d in piped)
        results[route] = {"one_by_one_msgs_per_s": round(one_rate), "pipelined_msgs_per_s": round(pipe_rate)}
    (artifacts / "pop3_pipelining.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))
    assert results["direct"]["pipelined_msgs_per_s"] > results["direct"]["one_by_one_msgs_per_s"]
    assert results["rtt_10ms"]["pipelined_msgs_per_s"] > 5 * results["rtt_10ms"]["one_by_one_msgs_per_s"]
