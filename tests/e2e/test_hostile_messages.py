"""Hostile messages migrated IMAP → IMAP through the whole stack: each arrives byte-identical or is reported.

The messages are generated here (broken MIME boundaries, NUL bytes, 8-bit headers in charsets that do not
exist, a header folded over 2,000 lines, a single 100 KB line, bare CR line ends, a message with headers
only, a 20 MB attachment). They are appended to the source and read back from both accounts with a reader
of its own (the standard library's ``imaplib``, none of mailferry's code): what the source holds is the
expectation, and every one of its messages must be on the target with the same bytes, or in the
migration's report with a reason. Nothing may be on the target twice or be there without a source.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import random
import re

import httpx
import pytest

from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate

pytestmark = pytest.mark.e2e

CRLF = b"\r\n"


def headers(subject: bytes, *extra: bytes) -> bytes:
    return CRLF.join([b"From: Hostile <hostile@example.test>", b"To: victim@example.test",
                      b"Date: Mon, 02 Mar 2026 10:00:00 +0000", b"Subject: " + subject, *extra]) + CRLF


def hostile_messages() -> dict[str, bytes]:
    """Name → the message's bytes. Random parts come from a fixed seed: the same set every run."""
    rng = random.Random(16)
    attachment = base64.encodebytes(rng.randbytes(20 * 1024 * 1024)).replace(b"\n", CRLF)
    return {
        "broken-boundaries": headers(b"broken boundaries", b"MIME-Version: 1.0",
                                     b'Content-Type: multipart/mixed; boundary="declared"') + CRLF
        + b"--other\r\nContent-Type: text/plain\r\n\r\npart one\r\n--declared\r\nContent-Type: text/plain\r\n"
        + b"\r\nno closing boundary, a nested one never opened\r\n--declared-inner--\r\n",
        "nul-bytes": headers(b"nul bytes") + CRLF + b"before\x00after\r\n\x00\x00\x00\r\nend\r\n",
        "8bit-invalid-charset": headers(b"=?x-no-such-charset?Q?=FF=FE?= caf\xe9 \xff\xfe",
                                        b"X-Raw: \xc3\x28 \xa0\xa1 \xe2\x82",
                                        b'Content-Type: text/plain; charset="x-no-such-charset"')
        + CRLF + b"body in no charset: \xff\xfe\xfd\r\n",
        "2000-line-header": headers(b"a header of 2,000 lines",
                                    b"X-Folded: start" + b"".join(b"\r\n\tline %d" % i for i in range(1999)))
        + CRLF + b"body\r\n",
        "100kb-line": headers(b"a 100 KB line") + CRLF + bytes(rng.choice(b"abcdefghij") for _ in range(100_000))
        + CRLF,
        "bare-cr": b"From: cr@example.test\rTo: victim@example.test\rSubject: bare CR\r\rbody line 1\rline 2\r",
        "headers-only": headers(b"headers only, no body, no blank line"),
        "20mb-attachment": headers(b"a 20 MB attachment", b"MIME-Version: 1.0",
                                   b'Content-Type: multipart/mixed; boundary="b1"') + CRLF
        + b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: application/octet-stream"
        + b"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"
        + attachment + b"--b1--\r\n",
    }


class Reader:
    """A small IMAP reader of its own (imaplib): every message of every selectable folder, as bytes."""

    def __init__(self, server: DovecotServer, login: str, password: str) -> None:
        self.imap = imaplib.IMAP4(server.host, server.imap_port)
        self.imap.login(login, password)

    def folders(self) -> list[str]:
        typ, lines = self.imap.list()
        assert typ == "OK", lines
        out = []
        for line in lines:
            text = line.decode() if isinstance(line, bytes) else str(line)
            m = re.match(r'\((?P<flags>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.+)$', text)
            assert m, text
            if "\\Noselect" not in m["flags"]:
                out.append(m["name"])
        return out

    def messages(self, folder: str) -> list[bytes]:
        typ, _ = self.imap.select(folder, readonly=True)
        assert typ == "OK", folder
        typ, data = self.imap.uid("SEARCH", "ALL")
        out = []
        for uid in data[0].split():
            typ, parts = self.imap.uid("FETCH", uid, "(BODY.PEEK[])")
            assert typ == "OK", parts
            out.append(next(p[1] for p in parts if isinstance(p, tuple)))
        return out

    def append(self, folder: str, message: bytes) -> str:
        """The server's answer: OK, or why it refused (a server may refuse NUL or bare CR itself)."""
        try:
            typ, data = self.imap.append(folder, "", imaplib.Time2Internaldate(1_772_445_600), message)
        except imaplib.IMAP4.error as exc:
            return f"refused: {exc}"
        return "OK" if typ == "OK" else f"refused: {data}"

    def close(self) -> None:
        self.imap.logout()


def digest(message: bytes) -> str:
    return hashlib.sha256(message).hexdigest()


def test_hostile_messages_arrive_byte_identical_or_are_reported(running_stack: StackInfo, accounts: Accounts,
                                                                dovecot: DovecotServer) -> None:
    source, target = accounts.new("hostile-src"), accounts.new("hostile-dst")
    writer = Reader(dovecot, source, accounts.passwords[source])
    answers = {name: writer.append("INBOX", message) for name, message in hostile_messages().items()}
    held = writer.messages("INBOX")
    writer.close()
    # The source took every message (so each one really is put to the test below), some perhaps rewritten.
    assert set(answers.values()) == {"OK"}, answers
    assert len(held) == len(answers)

    _mid, final = migrate(running_stack, accounts.endpoint(source), accounts.endpoint(target), timeout=600)
    assert final["state"] in ("completed", "completed_with_errors"), final
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{_mid}/report",
                       params={"login": source}, timeout=60).json()["items"]
    not_copied = [r for r in report if r["item_type"] == "email" and r["result"] in ("failed", "skipped")]

    reader = Reader(dovecot, target, accounts.passwords[target])
    arrived = {folder: reader.messages(folder) for folder in reader.folders()}
    reader.close()
    on_target = [digest(m) for m in arrived.get("INBOX", [])]
    assert all(not msgs for folder, msgs in arrived.items() if folder != "INBOX"), list(arrived)
    assert len(on_target) == len(set(on_target)), "a message arrived twice"
    expected = {digest(m): m for m in held}
    missing = [m for d, m in expected.items() if d not in on_target]
    assert set(on_target) <= set(expected), "a message on the target that the source does not hold"
    # Each message not copied is in the report, one line each, with a reason.
    assert len(not_copied) == len(missing), (not_copied, [m[:200] for m in missing])
    assert all(r["reason"] for r in not_copied), not_copied
    assert sorted(int(r["bytes"]) for r in not_copied) == sorted(len(m) for m in missing), not_copied
    assert final["items"]["emails"]["done"] == len(on_target), final
