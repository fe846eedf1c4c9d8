"""The private Dovecot used by the other tests: it must behave like a real, fussy server."""

from __future__ import annotations

import datetime as dt
import os
import poplib
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailferry.dovecot import SPECIAL_USE_FOLDERS, DovecotServer, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dovecot") is None, reason="dovecot not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Dovecot needs root"),
]

ALICE = ("alice@example.test", "alice-secret")
BOB = ("bob@example.test", "bob-secret")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    srv = DovecotServer(tmp_path_factory.mktemp("dovecot"))
    with srv:
        srv.add_user(*ALICE)
        srv.add_user(*BOB)
        yield srv
    srv.destroy()
    assert not srv.data_dir.exists() or srv.data_dir == srv.base_dir


def tls_context(server: DovecotServer) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server.cert_path))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default; keep the cert future-proof
    return ctx


def imap(server: DovecotServer, *, mode: str = "plain") -> IMAPClient:
    if mode == "plain":
        return IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=10)
    if mode == "starttls":
        client = IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=10)
        client.starttls(tls_context(server))
        return client
    return IMAPClient(
        "localhost", port=server.imaps_port, ssl=True, ssl_context=tls_context(server), timeout=10
    )


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_certificate_names_localhost_and_loopback(server: DovecotServer) -> None:
    cert = x509.load_pem_x509_certificate(server.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


@pytest.mark.parametrize("mode", ["plain", "starttls", "implicit-tls"])
def test_login_over_every_transport(server: DovecotServer, mode: str) -> None:
    client = imap(server, mode=mode)
    try:
        client.login(*ALICE)
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] >= 0
    finally:
        client.logout()


def test_tls_rejects_wrong_hostname(server: DovecotServer) -> None:
    with (
        socket.create_connection((server.host, server.imaps_port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        tls_context(server).wrap_socket(raw, server_hostname="mail.example.invalid")


def test_wrong_password_is_a_login_error(server: DovecotServer) -> None:
    client = imap(server)
    try:
        with pytest.raises(LoginError):
            client.login(ALICE[0], "wrong")
        with pytest.raises(LoginError):
            client.login("nobody@example.test", "x")
    finally:
        client.shutdown()


def test_user_added_while_running_can_log_in_and_removed_cannot(server: DovecotServer) -> None:
    client = imap(server)
    with pytest.raises(LoginError):  # a failed lookup must not be cached
        client.login("carol@example.test", "c1")
    client.shutdown()
    server.add_user("Carol@example.test", "c1")
    assert "carol@example.test" in server.users()
    with imap(server) as client:
        client.login("carol@example.test", "c1")
    server.add_user("carol@example.test", "c2")  # same length, same second: must still change
    with imap(server) as client:
        client.login("carol@example.test", "c2")
    server.remove_user("carol@example.test")
    client = imap(server)
    try:
        with pytest.raises(LoginError):
            client.login("carol@example.test", "c1")
    finally:
        client.shutdown()


def test_special_use_folders_exist_with_flags(server: DovecotServer) -> None:
    with imap(server) as client:
        client.login(*BOB)
        listed = {name: flags for flags, _sep, name in client.list_folders()}
        for name, flag in SPECIAL_USE_FOLDERS.items():
            assert flag.encode() in listed[name]
        assert {name for _flags, _sep, name in client.list_sub_folders()} >= set(SPECIAL_USE_FOLDERS)
        assert client.find_special_folder(b"\\Sent") == "Sent"


def test_nested_and_non_ascii_folders(server: DovecotServer) -> None:
    names = ["Données/Été 2024", "日本語", "Projects/new", "INBOX/Receipts", "a.b"]
    with imap(server) as client:
        client.login(*ALICE)
        assert client.namespace().personal[0][1] == "/"
        for name in names:
            client.create_folder(name)
        listed = {name: (flags, sep) for flags, sep, name in client.list_folders()}
        for name in names:
            assert listed[name][1] == b"/"
        assert b"\\HasChildren" in listed["Données"][0]
        client.select_folder("Données/Été 2024")
        client.select_folder("日本語")


def test_append_round_trips_bytes_flags_and_internaldate(server: DovecotServer) -> None:
    body = (
        b"From: Alice <alice@example.test>\r\n"
        b"To: bob@example.test\r\n"
        b"Subject: =?utf-8?q?Caf=C3=A9?=\r\n"
        b"Message-ID: <roundtrip-1@example.test>\r\n"
        b"\r\n"
        b"Line one\r\n\xc3\xa9t\xc3\xa9 in 8-bit\r\n"
    )
    when = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with imap(server) as client:
        client.login(*ALICE)
        folder = "Données/Été 2024"
        if not client.folder_exists(folder):
            client.create_folder(folder)
        response = client.append(folder, body, flags=[b"\\Seen", b"\\Flagged", b"$Label1"], msg_time=when)
        assert b"APPENDUID" in response
        uid = int(response.split(b"]")[0].split()[-1])
        client.select_folder(folder, readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE", "RFC822.SIZE"])[uid]
        assert data[b"BODY[]"] == body
        # \Recent is session state Dovecot adds for the first session to see the message.
        assert set(data[b"FLAGS"]) - {b"\\Recent"} == {b"\\Seen", b"\\Flagged", b"$Label1"}
        assert data[b"INTERNALDATE"].astimezone(dt.UTC) == when.astimezone(dt.UTC)
        assert data[b"RFC822.SIZE"] == len(body)


def test_lf_only_message_is_served_with_crlf(server: DovecotServer) -> None:
    """Dovecot stores LF and serves CRLF: LF-only input does not come back byte-identical."""
    lf_body = b"Subject: lf only\n\nline\n"
    with imap(server) as client:
        client.login(*BOB)
        uid = int(client.append("INBOX", lf_body).split(b"]")[0].split()[-1])
        client.select_folder("INBOX", readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]", "RFC822.SIZE"])[uid]
        assert data[b"BODY[]"] == lf_body.replace(b"\n", b"\r\n")
        assert data[b"RFC822.SIZE"] == len(lf_body.replace(b"\n", b"\r\n"))


def test_pop3_plain_and_tls(server: DovecotServer) -> None:
    pop = poplib.POP3(server.host, server.pop3_port, timeout=10)
    try:
        pop.stls(tls_context(server))
        pop.user(ALICE[0])
        pop.pass_(ALICE[1])
        count, _size = pop.stat()
        assert count >= 0
    finally:
        pop.quit()
    pops = poplib.POP3_SSL("localhost", server.pop3s_port, context=tls_context(server), timeout=10)
    try:
        pops.user(BOB[0])
        pops.pass_(BOB[1])
        with pytest.raises(poplib.error_proto):
            pops.user("x")  # already authenticated: proves the login took
    finally:
        pops.quit()


def test_managesieve_greets(server: DovecotServer) -> None:
    with socket.create_connection((server.host, server.sieve_port), timeout=10) as sock:
        greeting = b""
        while b"OK" not in greeting:
            chunk = sock.recv(4096)
            assert chunk
            greeting += chunk
    assert b'"IMPLEMENTATION"' in greeting
    assert b'"STARTTLS"' in greeting


def test_two_instances_run_at_once_and_stop_closes_ports(tmp_path: Path) -> None:
    first, second = DovecotServer(tmp_path / "one"), DovecotServer(tmp_path / "two")
    with first, second:
        assert first.instance_name != second.instance_name
        assert not set(first.ports) & set(second.ports)
        first.add_user("dave@example.test", "d1")
        second.add_user("erin@example.test", "e1")
        with imap(first) as client:
            client.login("dave@example.test", "d1")
        with imap(second) as client:
            client.login("erin@example.test", "e1")
        with imap(second) as client, pytest.raises(LoginError):
            client.login("dave@example.test", "d1")
        ports = first.ports
        first.stop()
        first.stop()  # idempotent
        for port in ports:
            with pytest.raises(OSError):
                socket.create_connection((first.host, port), timeout=1).close()
        with imap(second) as client:  # the other instance is unaffected
            client.login("erin@example.test", "e1")
    assert not second.running
    for srv in (first, second):
        srv.destroy()


def test_start_failure_is_fast_and_shows_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = DovecotServer(tmp_path / "broken")
    monkeypatch.setattr(broken, "_config", lambda *_args: "no_such_setting = 1\n")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="no_such_setting"):
        broken.start()
    assert time.monotonic() - started < 10
    assert not broken.running
    broken.destroy()
