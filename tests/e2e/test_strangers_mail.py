"""Mail no one here wrote, and shapes real mailboxes have, through every mail path of the whole stack.

The messages are the shared corpus (``../shared/corpora/eml``: real-world mail from other projects'
test suites; ``MAILFERRY_EML_CORPUS`` points at another folder of such files) and the odd shapes
built below: one byte, bare LF and bare CR line ends, NUL bytes, lines over 998 bytes, raw UTF-8 and
8-bit headers, no Date, a Date past year 9999 in UTC, duplicate Message-IDs, a To field of 2,000
encoded words (what made MimeKit's parser overflow its stack), message/rfc822 five deep, S/MIME and
PGP signatures (a byte changed breaks them), a TNEF winmail.dat. They go into folders with names
servers and clients really make, with keywords and INTERNALDATEs at the edges.

Each path is checked with readers of the test's own: the standard library's ``imaplib`` for IMAP,
the EWS emulator's store (the MIME bytes it keeps) for Exchange, plain HTTP for Microsoft 365. What
the source holds is the expectation; every target folder and message is accounted for, not only
those the source names.
"""

from __future__ import annotations

import base64
import imaplib
import os
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from exchangelib import EWSDateTime, Message
from exchangelib.folders import Folder

from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests import graph_rig as rig
from tests.conftest import Accounts
from tests.e2e import test_graph_migrations as graph_e2e
from tests.e2e.flows import migrate
from tests.e2e.test_ews_mail import account as ews_account
from tests.e2e.test_ews_mail import endpoint as ews_endpoint
from tests.e2e.test_ews_mail import new_mailbox
from tests.ews_emulator import EwsEmulator
from tests.ews_emulator.itemtypes import _ext_value
from tests.graph_emulator import GraphEmulator

pytestmark = pytest.mark.e2e
# The Microsoft 365 stack and emulator, as the Graph tests start them.
clock, graph_emu, graph_stack, operator_app = (graph_e2e.clock, graph_e2e.graph_emu, graph_e2e.graph_stack,
                                               graph_e2e.operator_app)

CORPUS = Path(os.environ.get("MAILFERRY_EML_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpora/eml"))
CRLF = b"\r\n"


def _head(subject: str, *extra: bytes, date: bytes | None = b"Tue, 02 Jan 2024 10:00:00 +0100") -> bytes:
    lines = [b"From: Stranger <stranger@example.net>", b"To: me@example.test", b"Subject: " + subject.encode()]
    if date is not None:
        lines.append(b"Date: " + date)
    return CRLF.join([*lines, *extra]) + CRLF


def _nested(depth: int) -> bytes:
    """A message carrying a message carrying a message… ``depth`` deep."""
    inner = _head(f"level {depth}", b"Message-ID: <level.%d@example.net>" % depth) + CRLF + b"innermost\r\n"
    for level in range(depth - 1, 0, -1):
        inner = _head(f"level {level}", b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=\"n%d\""
                      % level) + CRLF + b"--n%d\r\nContent-Type: text/plain\r\n\r\nlevel %d\r\n--n%d\r\n" % (
            level, level, level) + b"Content-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--n%d--\r\n" % level
    return inner


SIGNED_BODY = (b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
               b"Signed text with trailing spaces   \r\n\tand a tab line\r\n-- \r\nsig\r\n")


def shapes() -> dict[str, bytes]:
    """Odd shapes, by name. Written here byte by byte: what a server or client really leaves."""
    tnef = b"\x78\x9f\x3e\x22" + bytes(range(256)) * 8
    return {
        "one-byte": b"x",
        "bare-lf": b"From: lf@example.net\nSubject: bare LF\nDate: Wed, 03 Jan 2024 08:00:00 +0000\n\nline 1\nline 2\n",
        "bare-cr": b"From: cr@example.net\rSubject: bare CR\r\rbody\r",
        "mixed-ends": b"From: mix@example.net\r\nSubject: mixed\n\r\nlf\ncr\rcrlf\r\n\n",
        "nul": _head("NUL bytes") + CRLF + b"a\x00b\r\n\x00\r\n",
        "long-line": _head("a 5,000-byte line") + CRLF + b"y" * 5000 + CRLF,
        "utf8-headers": _head("Grüße, 日本語, emoji 📨", "X-Name: Zoë Ångström".encode()) + CRLF + "Ünïcödé\r\n".encode(),
        "latin1-headers": _head("x", b"X-Latin: caf\xe9 \xe0 la cr\xe8me") + CRLF + b"\xe9t\xe9\r\n",
        "no-date": _head("no Date header", b"Message-ID: <no-date@example.net>", date=None) + CRLF + b"body\r\n",
        "date-past-9999": _head("a Date past 9999 in UTC", date=b"Fri, 31 Dec 9999 23:59:59 -1400") + CRLF + b"x\r\n",
        "date-year-1": _head("a Date in year 1", date=b"Mon, 01 Jan 0001 00:00:00 +1400") + CRLF + b"x\r\n",
        "duplicate-id-1": _head("same id, first", b"Message-ID: <dup@example.net>") + CRLF + b"first\r\n",
        "duplicate-id-2": _head("same id, second", b"Message-ID: <dup@example.net>") + CRLF + b"second\r\n",
        "huge-to": b"From: \"t\" <t@example.net>\r\nTo: \"t\" <t@example.net>,\r\n"
        + b"".join(b"\t=?utf-8?Q?date=3E2017-08-20T10:08:%02d.617=3C/pr?=\r\n" % (i % 60) for i in range(2000))
        + b"Subject: a To field of 2,000 encoded words\r\n\r\nbody\r\n",
        "many-recipients": _head("3,000 recipients", b"Cc: " + b",\r\n ".join(
            b"r%d@example.net" % i for i in range(3000))) + CRLF + b"body\r\n",
        "nested-rfc822": _nested(5),
        "smime-signed": _head("S/MIME signed", b"MIME-Version: 1.0", b'Content-Type: multipart/signed; '
                              b'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig"') + CRLF
        + b"This is an S/MIME signed message\r\n\r\n--sig\r\n" + SIGNED_BODY + b"\r\n--sig\r\n"
        + b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n"
        + b"Content-Disposition: attachment; filename=smime.p7s\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgB\r\n"
        + b"ZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMIIDVzCCAj+gAwIBAgIJAOn+\r\n\r\n--sig--\r\n",
        "pgp-signed": _head("PGP/MIME signed", b"MIME-Version: 1.0", b'Content-Type: multipart/signed; '
                            b'micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="pgp"') + CRLF
        + b"--pgp\r\n" + SIGNED_BODY + b"\r\n--pgp\r\nContent-Type: application/pgp-signature; name=signature.asc\r\n"
        + b"\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\niHUEARYIAB0WIQ\r\n=abcd\r\n-----END PGP SIGNATURE-----\r\n"
        + b"\r\n--pgp--\r\n",
        "tnef": _head("TNEF", b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="t"') + CRLF
        + b"--t\r\nContent-Type: text/plain\r\n\r\nsee winmail.dat\r\n--t\r\nContent-Type: application/ms-tnef; "
        + b'name="winmail.dat"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; '
        + b'filename="winmail.dat"\r\n\r\n' + base64.encodebytes(tnef).replace(b"\n", CRLF)
        + b"--t--\r\n",
        "unclosed-boundary": _head("boundary never closed", b"MIME-Version: 1.0",
                                   b'Content-Type: multipart/mixed; boundary="open"') + CRLF
        + b"--open\r\nContent-Type: text/plain\r\n\r\nnever closed\r\n",
        "empty-multipart": _head("empty multipart", b"MIME-Version: 1.0",
                                 b'Content-Type: multipart/mixed; boundary="e"') + CRLF + b"--e--\r\n",
        "headers-only": _head("headers only"),
        "nul-charset": _head("a NUL in the charset's name", b"Content-Type: text/plain; charset=\"utf-8\x00\"") + CRLF
        + "déjà\r\n".encode(),
        "dot-lines": _head("lines of dots") + CRLF + b".\r\n..\r\n.hidden\r\nFrom the mbox\r\n>From quoted\r\n.\r\n",
    }


def corpus() -> dict[str, bytes]:
    return {str(p.relative_to(CORPUS)): p.read_bytes() for p in sorted(CORPUS.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def all_messages() -> dict[str, bytes]:
    """Every message an IMAP server can hold: Dovecot refuses to APPEND an empty one (the corpus has one)."""
    return {name: data for name, data in {**corpus(), **shapes()}.items() if data}


# Folder names as servers and clients really make them; "/" is the source's separator. All differ in more than
# case, and none has a special use, so each keeps its name on every target (a collision is another test's matter).
FOLDERS = ("INBOX", "INBOX/Child", "R&D", "Ärger & Öl", 'say "hi"', "back\\slash", "50% off*", " padded ",
           "Вложенные/日本語", "Deep/L2/L3/L4/L5/L6/L7/L8", "Empty")
ZONES = (timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)), timezone(timedelta(hours=5, minutes=45)),
         UTC, timezone(timedelta(hours=-9, minutes=-30)))
MANY = tuple(f"kw{i}" for i in range(40))
FLAG_SETS = ((), ("\\Seen",), ("\\Seen", "\\Answered", "$Forwarded"), ("\\Flagged", "$MDNSent", "$Junk"),
             ("\\Seen", "\\Draft"), ("Work", "x-y.z_1+~!", "&-amp"), MANY)
# What Exchange and Microsoft 365 hold of each flag set: (read, follow-up flag, categories). "&-amp" is how
# "&amp" is written in modified UTF-7; protocol keywords ($MDNSent, $Junk) are no categories.
EXCHANGE_STATE = ((False, "notFlagged", ()), (True, "notFlagged", ()), (True, "notFlagged", ()),
                  (False, "flagged", ()), (True, "notFlagged", ()), (False, "notFlagged", ("Work", "x-y.z_1+~!", "&amp")),
                  (False, "notFlagged", MANY))


class Placed(NamedTuple):
    name: str
    folder: str
    flags: tuple[str, ...]
    when: datetime
    state: tuple[bool, str, tuple[str, ...]]  # on Exchange and Microsoft 365: EXCHANGE_STATE


def placement(messages: dict[str, bytes]) -> list[Placed]:
    """Where each message goes, with which flags and INTERNALDATE: spread over every folder but "Empty"."""
    out = []
    folders = [f for f in FOLDERS if f != "Empty"]
    for n, name in enumerate(messages):
        when = datetime(1971 + n % 55, 1 + n % 12, 1 + n % 28, n % 24, n % 60, n % 60, tzinfo=ZONES[n % len(ZONES)])
        k = n % len(FLAG_SETS)
        out.append(Placed(name, folders[n % len(folders)], FLAG_SETS[k], when, EXCHANGE_STATE[k]))
    return out


# -- a reader of the test's own ---------------------------------------------------------------------------

def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mutf7(name: str) -> str:
    """RFC 3501 modified UTF-7, written here (not mailferry's)."""
    out, run = [], ""
    for ch in name + "\x00":
        if ch != "\x00" and not (0x20 <= ord(ch) <= 0x7E):
            run += ch
            continue
        if run:
            out.append("&" + base64.b64encode(run.encode("utf-16-be")).decode().rstrip("=").replace("/", ",") + "-")
            run = ""
        if ch != "\x00":
            out.append("&-" if ch == "&" else ch)
    return "".join(out)


Fingerprint = tuple[bytes, frozenset[str], str]


class Reader:
    """imaplib: every folder, and each message's bytes, flags and INTERNALDATE."""

    def __init__(self, host: str, port: int, login: str, password: str) -> None:
        self.imap = imaplib.IMAP4(host, port)
        self.imap.login(login, password)

    def folders(self) -> dict[str, bool]:
        """Every listed folder (wire name) and whether it can hold messages."""
        typ, lines = self.imap.list('""', "*")
        assert typ == "OK", lines
        out = {}
        for line in lines:
            text = line.decode() if isinstance(line, bytes) else f"{line[0].decode()}{line[1].decode()}"
            m = re.match(r'\((?P<f>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<n>.+)$', text, re.S)
            assert m, text
            name = m["n"]
            if name.startswith('"'):
                name = re.sub(r"\\(.)", r"\1", name[1:-1])
            elif "{" in name:
                name = name.split("}", 1)[1]
            out[name] = not {"\\noselect", "\\nonexistent"} & {f.lower() for f in m["f"].split()}
        return out

    def messages(self, wire: str) -> Counter[Fingerprint]:
        typ, data = self.imap.select(_quote(wire), readonly=True)
        assert typ == "OK", (wire, data)
        typ, data = self.imap.uid("SEARCH", "ALL")
        out: Counter[Fingerprint] = Counter()
        for uid in data[0].split():
            typ, parts = self.imap.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            assert typ == "OK", parts
            meta, body = next((p[0], p[1]) for p in parts if isinstance(p, tuple))
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
            date = re.search(rb'INTERNALDATE "([^"]+)"', meta)
            assert flags and date, meta
            out[(body, frozenset(flags[1].decode().split()) - {"\\Recent"}, date[1].decode())] += 1
        return out

    def bodies(self, wire: str) -> list[bytes]:
        """Every message's bytes in UID order."""
        typ, data = self.imap.select(_quote(wire), readonly=True)
        assert typ == "OK", (wire, data)
        typ, data = self.imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        return [p[1] for p in data if isinstance(p, tuple)]

    def append(self, wire: str, message: bytes, flags: tuple[str, ...], when: datetime) -> bool:
        """APPEND the bytes as they are: imaplib's own ``append`` would turn bare CR and LF into CRLF first."""
        self.imap.literal = message
        typ, _ = self.imap._simple_command("APPEND", _quote(wire), f"({' '.join(flags)})",
                                           imaplib.Time2Internaldate(when))
        return typ == "OK"

    def create(self, wire: str) -> None:
        typ, data = self.imap.create(_quote(wire))
        assert typ == "OK", (wire, data)

    def close(self) -> None:
        self.imap.logout()


def seed_source(accounts: Accounts, login: str) -> dict[str, Counter[Fingerprint]]:
    """Fill the source; what it holds, per folder (wire name), as read back."""
    r = Reader(accounts.server.host, accounts.server.imap_port, login, accounts.passwords[login])
    for folder in FOLDERS:
        if folder != "INBOX":
            r.create(_mutf7(folder))
    refused = [p.name for p in placement(all_messages()) if not r.append(_mutf7(p.folder), all_messages()[p.name],
                                                                          p.flags, p.when)]
    assert refused == [], refused
    held = {w: r.messages(w) for w, sel in r.folders().items() if sel}
    r.close()
    return held


def report(info: StackInfo, mid: str, login: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}/report", params={"login": login}, timeout=60)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def _instant(date: str) -> int:
    return int(datetime.strptime(date, "%d-%b-%Y %H:%M:%S %z").timestamp())


# -- IMAP -> IMAP ---------------------------------------------------------------------------------------------

def test_imap_to_imap_every_message_byte_identical_with_flags_and_dates(running_stack: StackInfo,
                                                                        accounts: Accounts) -> None:
    src, dst = accounts.new("strangers"), accounts.new("strangers-dst")
    held = seed_source(accounts, src)
    assert set(held) >= {_mutf7(f) for f in FOLDERS}
    mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst), timeout=600)
    total = sum(sum(c.values()) for c in held.values())
    assert (st["state"], st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == ("completed", total, 0), st
    r = Reader(accounts.server.host, accounts.server.imap_port, dst, accounts.passwords[dst])
    listed = r.folders()
    got = {w: r.messages(w) for w, sel in listed.items() if sel}
    r.close()
    parents = {w.rsplit("/", i)[0] for w in held for i in range(1, w.count("/") + 1)}
    assert set(held) <= set(listed) <= set(held) | parents | {"Sent", "Drafts", "Trash", "Junk", "Archive"}
    for wire, want in held.items():
        assert got[wire] == want, (wire, [m[0][:120] for m in (want - got[wire])], [m[0][:120] for m in (got[wire] - want)])
    assert all(not got[w] for w in set(got) - set(held))
    assert report(running_stack, mid, src) == []


# -- POP3 -> IMAP ---------------------------------------------------------------------------------------------

def test_pop3_to_imap_every_message_byte_identical(running_stack: StackInfo, accounts: Accounts,
                                                   dovecot: DovecotServer) -> None:
    src, dst = accounts.new("strangers-pop"), accounts.new("strangers-pop-dst")
    r = Reader(dovecot.host, dovecot.imap_port, src, accounts.passwords[src])
    for n, (name, data) in enumerate(all_messages().items()):
        assert r.append("INBOX", data, (), datetime(2024, 1, 1, 0, n % 60, tzinfo=UTC)), name
    held = r.messages("INBOX")
    r.close()
    pop = accounts.endpoint(src, type="pop3", port=dovecot.pop3_port)
    mid, st = migrate(running_stack, pop, accounts.endpoint(dst), timeout=600)
    assert (st["state"], st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == \
        ("completed", len(all_messages()), 0), st
    r = Reader(dovecot.host, dovecot.imap_port, dst, accounts.passwords[dst])
    got = r.messages("INBOX")
    others = {w: r.messages(w) for w, sel in r.folders().items() if sel and w != "INBOX"}
    r.close()
    assert Counter(m[0] for m in got.elements()) == Counter(m[0] for m in held.elements())
    assert all(not c for c in others.values()), others
    assert report(running_stack, mid, src) == []


# -- IMAP -> Exchange (EWS) and back --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def _ews_path(folder: str) -> str | tuple[str, ...]:
    return "inbox" if folder == "INBOX" else ("Inbox", "Child") if folder == "INBOX/Child" else tuple(folder.split("/"))


def test_imap_to_exchange_keeps_every_message_s_bytes_read_state_categories_and_date(
        running_stack: StackInfo, accounts: Accounts, emulator: EwsEmulator) -> None:
    src = accounts.new("strangers-ews")
    held = seed_source(accounts, src)
    login, password = new_mailbox(emulator, "strangers-ews")
    mid, st = migrate(running_stack, accounts.endpoint(src), ews_endpoint(emulator, login, password), timeout=600)
    placed = placement(all_messages())
    assert (st["state"], st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == \
        ("completed", len(placed), 0), st
    mailbox = emulator.mailbox(login)
    state = {frozenset(flags): st for flags, st in zip(FLAG_SETS, EXCHANGE_STATE, strict=True)}
    for folder in FOLDERS:
        want = Counter((body, *state[flags][:2], frozenset(state[flags][2]), _instant(date))
                       for body, flags, date in held[_mutf7(folder)].elements())
        have = Counter((item.mime_bytes, item.text("IsRead") == "true", _ews_flag(item), frozenset(_ews_categories(item)),
                        int(datetime.fromisoformat(str(item.text("DateTimeReceived")).replace("Z", "+00:00"))
                            .timestamp()))
                       for item in mailbox.items_in(_ews_path(folder)))
        assert have == want, (folder, [m[0][:100] for m in want - have], [m[0][:100] for m in have - want])
    paths = set(mailbox.folder_paths())
    assert {"/".join(p) if isinstance(p, tuple) else p for p in map(_ews_path, FOLDERS)} - {"inbox"} <= paths
    notes = [r for r in report(running_stack, mid, src) if r["result"] != "done"]
    assert all("copied without the flags" in r["reason"] for r in notes), notes


def _ews_flag(item: Any) -> str:
    """PR_FLAG_STATUS (0x1090) as the emulator stores it, in Graph's words."""
    return {None: "notFlagged", "1": "complete", "2": "flagged"}[_ext_value(item.elem, "0x1090")]


def _ews_categories(item: Any) -> list[str]:
    return [c.text or "" for c in item.elem.findall("./{*}Categories/{*}String")]


def test_exchange_to_imap_keeps_every_message_s_bytes(running_stack: StackInfo, accounts: Accounts,
                                                      emulator: EwsEmulator) -> None:
    login, password = new_mailbox(emulator, "strangers-from-ews")
    acc = ews_account(emulator, login, password)
    odd = Folder(parent=acc.msg_folder_root, name='R&D "50%" \\ Ärger')
    odd.save()
    messages = all_messages()
    for n, data in enumerate(messages.values()):
        Message(account=acc, folder=acc.inbox if n % 2 else odd, mime_content=data, is_read=bool(n % 3),
                delivery_time=EWSDateTime.from_datetime(datetime(2023, 1 + n % 12, 1, 9, 0, tzinfo=UTC))).save()
    mailbox = emulator.mailbox(login)
    stored = {"INBOX": Counter(i.mime_bytes for i in mailbox.items_in("inbox")),
              'R&D "50%" \\ Ärger': Counter(i.mime_bytes for i in mailbox.items_in(('R&D "50%" \\ Ärger',)))}
    control = accounts.new("strangers-from-ews-control")  # the same bytes appended by the test: how Dovecot serves them
    r = Reader(accounts.server.host, accounts.server.imap_port, control, accounts.passwords[control])
    distinct = sorted({d for c in stored.values() for d in c})
    assert all(r.append("INBOX", data, (), datetime(2024, 1, 1, tzinfo=UTC)) for data in distinct)
    served = dict(zip(distinct, r.bodies("INBOX"), strict=True))
    r.close()
    dst = accounts.new("strangers-from-ews-dst")
    mid, st = migrate(running_stack, ews_endpoint(emulator, login, password), accounts.endpoint(dst), timeout=600)
    assert (st["state"], st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == \
        ("completed", len(messages), 0), st
    r = Reader(accounts.server.host, accounts.server.imap_port, dst, accounts.passwords[dst])
    listed = r.folders()
    got = {w: Counter(m[0] for m in r.messages(w).elements()) for w, sel in listed.items() if sel}
    r.close()
    for folder, wire in (("INBOX", "INBOX"), ('R&D "50%" \\ Ärger', _mutf7('R&D "50%" \\ Ärger'))):
        assert got.pop(wire) == Counter(served[d] for d in stored[folder].elements()), folder
    assert all(not c for c in got.values()), got  # the target's own special folders, untouched
    assert report(running_stack, mid, login) == []


# -- IMAP -> Microsoft 365 (Graph) ----------------------------------------------------------------------------

def test_imap_to_graph_every_message_arrives_with_its_state(graph_stack: StackInfo, accounts: Accounts,
                                                            graph_emu: GraphEmulator) -> None:
    src = accounts.new("strangers-graph")
    seed_source(accounts, src)
    login = f"strangers-{os.getpid()}@example.test"
    graph_emu.add_user(login)
    _mid, st = migrate(graph_stack, accounts.endpoint(src), {"type": "graph", "login": login}, timeout=600)
    placed = placement(all_messages())
    assert (st["state"], st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == \
        ("completed", len(placed), 0), st
    fields = "isRead,receivedDateTime,flag,categories"
    with rig.seeding(graph_emu, login) as g:
        tree = graph_e2e.graph_tree(g)
        got = {path: Counter((m["isRead"], m["flag"]["flagStatus"], frozenset(m["categories"]), m["receivedDateTime"])
                             for m in g.get(f"/mailFolders/{fid}/messages",
                                            params={"$top": "1000", "$select": fields}).json()["value"])
               for path, fid in tree.items()}
    for folder in FOLDERS:
        path = {"INBOX": "Inbox", "INBOX/Child": "Inbox/Child"}.get(folder, folder)
        want = Counter((p.state[0], p.state[1], frozenset(p.state[2]), p.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                       for p in placed if p.folder == folder)
        assert got.pop(path) == want, folder
    assert all(not c for c in got.values()), got
