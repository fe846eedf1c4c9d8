"""A target that announces APPENDLIMIT (RFC 7889): a larger message is refused before it is sent, the others of
its batch are written. Real Dovecot, told to announce its size limit, read back with imapclient."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailferry.dovecot import DovecotServer
from shared import net_guard
from shared.adapters.imap.connection import login_imap
from shared.adapters.imap.target import ImapTarget
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import Outgoing, Placed
from shared.errors import ItemRejected

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dovecot") is None, reason="dovecot not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Dovecot needs root"),
]

LIMIT = 4096
PASSWORD = "pw-append-limit"
WHEN = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)


class LimitedDovecot(DovecotServer):
    """Dovecot refusing messages above LIMIT bytes (its quota plugin) and saying so in its capabilities."""

    def _config(self, cert_pem: Path, key_pem: Path) -> str:
        return super()._config(cert_pem, key_pem) + f"imap_capability = +APPENDLIMIT={LIMIT}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LimitedDovecot]:
    srv = LimitedDovecot(tmp_path_factory.mktemp("dovecot-limit"), max_message_size=LIMIT)
    with srv:
        srv.add_user("limit@example.test", PASSWORD)
        yield srv
    srv.destroy()


def message(n: int, size: int = 0) -> Outgoing:
    head = f"From: a@example.test\r\nMessage-ID: <l{n}@example.test>\r\nSubject: l{n}\r\n\r\n".encode()
    return Outgoing(head + b"x" * size + b"\r\n", ("\\Seen",), WHEN, f"<l{n}@example.test>")


@pytest.mark.parametrize("literal_plus", [True, False], ids=["pipelined", "one-by-one"])
def test_a_message_above_the_appendlimit_is_refused_unsent_and_the_rest_written(
        server: LimitedDovecot, literal_plus: bool) -> None:
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)
    dst = ImapTarget(login_imap("127.0.0.1", server.imap_port, "none", False, "limit@example.test", PASSWORD, opts))
    assert dst.append_limit == LIMIT
    dst.literal_plus = literal_plus
    base = 10 if literal_plus else 20
    try:
        results = dst.append_jobs([("INBOX", [message(base), message(base + 1, 2 * LIMIT), message(base + 2)]),
                                   ("INBOX", [message(base + 3, 3 * LIMIT)])])
    finally:
        dst.close()
    assert [[type(r) for r in job] for job in results] == [[Placed, ItemRejected, Placed], [ItemRejected]]
    assert str(results[0][1]) == f"not sent: larger than the target's APPENDLIMIT of {LIMIT} bytes"
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login("limit@example.test", PASSWORD)
        c.select_folder("INBOX", readonly=True)
        got = c.fetch(c.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subjects = {bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip() for v in got.values()}
    assert {f"l{base}", f"l{base + 2}"} <= subjects
    assert not {f"l{base + 1}", f"l{base + 3}"} & subjects
