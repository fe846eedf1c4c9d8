"""The CLI's ``migrate`` accounts as the API takes them: a Microsoft 365 mailbox needs no server and, with the
operator's app, no password; the others keep their server, port and password. Expected bodies written out here."""

from __future__ import annotations

import pytest

from mailferry.cli import build_parser, endpoint


def parse(*argv: str) -> object:
    return build_parser().parse_args(["migrate", *argv])


def test_a_graph_source_with_the_operators_app_needs_no_server_and_no_password(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DST_PW", "target-secret")
    args = parse("--source-type", "graph", "--source-login", "ann@contoso.example", "--target-host", "imap.new.test",
                 "--target-login", "ann@new.test", "--target-password-env", "DST_PW")
    assert endpoint(args, "source") == {"type": "graph", "login": "ann@contoso.example", "auth": "app"}  # type: ignore[arg-type]
    assert endpoint(args, "target") == {"type": "imap", "login": "ann@new.test", "auth": "basic",  # type: ignore[arg-type]
                                        "host": "imap.new.test", "port": 993, "security": "tls",
                                        "password": "target-secret"}


def test_wrong_sign_in_ways_and_missing_servers_are_refused() -> None:
    with pytest.raises(SystemExit, match="Microsoft 365 / Exchange Online accounts sign in with app or oauth2"):
        endpoint(parse("--source-type", "graph", "--source-auth", "basic", "--source-login", "a@b.test",  # type: ignore[arg-type]
                       "--target-login", "x"), "source")
    with pytest.raises(SystemExit, match="--target-host is needed for IMAP accounts"):
        endpoint(parse("--source-login", "a", "--target-login", "x"), "target")  # type: ignore[arg-type]
