"""Mailboxes as other people's servers and clients leave them, migrated through the whole stack.

Real broker, Redis, the four services and Dovecot (configured as other servers are: "." and "INBOX.",
no SPECIAL-USE, a POP3 UIDL built from too little), and the EWS emulator. Sources are filled with
imapclient or exchangelib directly; where each folder lands, which flags each message has on the
target and what the report says are written out in each test, never computed by mailferry's mapping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from exchangelib import Message
from exchangelib.extended_properties import ExtendedProperty
from imapclient import IMAPClient

from mailferry import verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate
from tests.e2e.test_ews_fidelity import account as ews_account
from tests.e2e.test_ews_mail import endpoint, new_mailbox
from tests.ews_emulator import EwsEmulator

PASSWORD = "pw-other-people-1"


# The test reads Exchange's properties with classes of its own (not mailferry's): PR_LAST_VERB_EXECUTED (MS-OXOMSG:
# 102 replied to the sender, 103 to all, 104 forwarded) and PR_ICON_INDEX (261 replied, 262 forwarded).
for _name, _tag in (("seen_last_verb", 0x1081), ("seen_icon_index", 0x1080)):
    if _name not in {f.name for f in Message.FIELDS}:
        Message.register(_name, type(f"Tag{_tag:04X}", (ExtendedProperty,),
                                     {"property_tag": _tag, "property_type": "Integer"}))


def mime(subject: str, n: int = 0) -> bytes:
    mid = f"<{subject.replace(' ', '.')}.{n}@example.test>"
    return (f"From: Bob <bob@example.test>\r\nTo: me@example.test\r\nSubject: {subject}\r\n"
            f"Date: Tue, 02 Jan 2024 10:{n:02d}:00 +0000\r\nMessage-ID: {mid}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody {n}\r\n").encode()


def login_to(server: DovecotServer, login: str) -> IMAPClient:
    c = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=60)
    c.login(login, PASSWORD)
    c.normalise_times = False
    return c


def imap_endpoint(server: DovecotServer, login: str, kind: str = "imap") -> dict[str, object]:
    return {"type": kind, "host": "127.0.0.1", "port": server.pop3_port if kind == "pop3" else server.imap_port,
            "security": "none", "login": login, "password": PASSWORD}


def report(info: StackInfo, mid: str, login: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}/report", params={"login": login}, timeout=30)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


# -- a Courier/Cyrus-style source ("." and "INBOX.", no SPECIAL-USE) into a Dovecot with special folders ----

# Source folder (as the source names it, after the INBOX. prefix) -> target folder on a "/" server without prefix.
COURIER_TREE = {
    "INBOX": "INBOX",
    "INBOX.Sent Items": "Sent",  # well-known names on a source that flags nothing: the target's own folders
    "INBOX.Deleted Items": "Trash",
    "INBOX.Junk E-mail": "Junk",
    "INBOX.Drafts": "Drafts",
    "INBOX.R&D": "R&D",  # "&" is "&-" on the wire
    "INBOX.Ärger & Öl": "Ärger & Öl",
    "INBOX.Kunden": "Kunden",
    "INBOX.Kunden.Müller GmbH": "Kunden/Müller GmbH",
    "INBOX.Kunden.Müller GmbH.2023": "Kunden/Müller GmbH/2023",
    "INBOX.Work": "Work",
    "INBOX.work": "work",  # names differing only in case are two folders on both servers
    'INBOX.say "hi"': 'say "hi"',
    "INBOX.back\\slash": "back\\slash",
    "INBOX. leading and trailing ": " leading and trailing ",
    "INBOX.50% off*": "50% off*",  # LIST's wildcards, which Dovecot takes in a name
    "INBOX.Вложенные": "Вложенные",
    "INBOX.Вложенные.日本語": "Вложенные/日本語",
    "INBOX.Waise": "Waise",  # never created: listed \\NonExistent, as a parent of the folder below it
    "INBOX.Waise.Kind": "Waise/Kind",
    # twelve levels deep
    **{"INBOX." + ".".join(f"L{i}" for i in range(1, k + 1)): "/".join(f"L{i}" for i in range(1, k + 1))
       for k in range(1, 13)},
}
ZONES = (timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-9, minutes=-30)),
         timezone(timedelta(hours=12, minutes=45)), UTC, timezone(timedelta(hours=-3)))
NEVER_CREATED = {"INBOX.Waise"}
FLAG_SETS = ((), ("\\Seen",), ("\\Answered", "\\Seen", "$Forwarded"), ("\\Flagged", "$label1", "NonJunk"),
             ("\\Deleted", "\\Seen"), ("\\Draft",), ("$MDNSent", "$Junk", "Some_Odd-Atom.1+x"))


@pytest.fixture
def courier(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "courier", separator=".", prefix="INBOX.", special_folders={}) as server:
        server.add_user("quelle@example.test", PASSWORD)
        yield server
        server.destroy()


@pytest.fixture
def plain_target(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "target") as server:
        server.add_user("ziel@example.test", PASSWORD)
        yield server
        server.destroy()


def test_a_courier_style_mailbox_lands_in_a_slash_server_with_its_names_flags_and_dates(
        running_stack: StackInfo, courier: DovecotServer, plain_target: DovecotServer) -> None:
    with login_to(courier, "quelle@example.test") as c:
        assert not c.has_capability("SPECIAL-USE")
        assert c.namespace().personal[0] == ("INBOX.", ".")
        for name in COURIER_TREE:
            if name != "INBOX" and name not in NEVER_CREATED:
                c.create_folder(name)
        n = 0
        for name in [x for x in COURIER_TREE if x not in NEVER_CREATED]:
            for flags in FLAG_SETS[: 2 + n % 5]:
                when = datetime(2019, 1 + n % 12, 1 + n % 28, n % 24, n % 60, 7, tzinfo=ZONES[n % len(ZONES)])
                c.append(name, mime(f"m{n}", n % 60), flags=flags, msg_time=when)
                n += 1
        listed = {f for _fl, _d, f in c.list_folders()}
    assert set(COURIER_TREE) <= listed, set(COURIER_TREE) - listed
    with login_to(plain_target, "ziel@example.test") as t:
        before = verify.snapshot(t)
    mid, st = migrate(running_stack, imap_endpoint(courier, "quelle@example.test"),
                      imap_endpoint(plain_target, "ziel@example.test"))
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (n, 0), st
    with login_to(courier, "quelle@example.test") as a, login_to(plain_target, "ziel@example.test") as b:
        result = verify.compare(a, b, COURIER_TREE, before)
        subscribed = {name for _fl, _d, name in b.list_sub_folders()}
    assert result.identical, result.problems()
    assert result.messages == n
    assert set(COURIER_TREE.values()) - {"INBOX"} <= subscribed  # every folder created is subscribed
    assert report(running_stack, mid, "quelle@example.test") == []  # nothing left out


# -- a "/" source with names holding "." into a Cyrus-style target ("." and "INBOX.", localized specials) ----

CYRUS_SPECIALS = {"Sent Messages": "\\Sent", "Deleted Messages": "\\Trash", "Spam": "\\Junk", "Drafts": "\\Drafts"}
TO_CYRUS = {
    "INBOX": "INBOX",
    "Sent": "INBOX.Sent Messages",
    "Sent/2019": "INBOX.Sent Messages.2019",
    "Trash": "INBOX.Deleted Messages",
    "Junk": "INBOX.Spam",
    "Drafts": "INBOX.Drafts",
    "Archive": "INBOX.Archive",  # the target has no \\Archive: the folder keeps its name
    "v1.2": "INBOX.v1_2",  # the target's separator inside a name
    "Projects": "INBOX.Projects",
    "Projects/2024.Q1": "INBOX.Projects.2024_Q1",
    "INBOX/Sub": "INBOX.Sub",
    "Ελληνικά": "INBOX.Ελληνικά",
}


def test_a_slash_mailbox_lands_in_a_cyrus_style_server(running_stack: StackInfo, accounts: Accounts,
                                                      tmp_path: Path) -> None:
    src = accounts.new("to-cyrus")
    with accounts.client(src) as c:
        for name in TO_CYRUS:
            if not c.folder_exists(name):
                c.create_folder(name)
        for n, name in enumerate(TO_CYRUS):
            c.append(name, mime(f"c{n}", n), flags=("\\Seen", "$Work") if n % 2 else (),
                     msg_time=datetime(2020, 2, 1 + n, 9, 0, tzinfo=timezone(timedelta(hours=1))))
    with DovecotServer(tmp_path / "cyrus", separator=".", prefix="INBOX.", special_folders=CYRUS_SPECIALS) as cyrus:
        cyrus.add_user("ziel@example.test", PASSWORD)
        with login_to(cyrus, "ziel@example.test") as t:
            before = verify.snapshot(t)
            assert {"INBOX.Sent Messages", "INBOX.Spam"} <= set(before)
        _mid, st = migrate(running_stack, accounts.endpoint(src), imap_endpoint(cyrus, "ziel@example.test"))
        assert st["state"] == "completed", st
        with accounts.client(src) as a, login_to(cyrus, "ziel@example.test") as b:
            a.normalise_times = False
            result = verify.compare(a, b, TO_CYRUS, before)
        cyrus.destroy()
    assert result.identical, result.problems()
    assert result.messages == len(TO_CYRUS)


# -- a Gmail-style mailbox: its special folders below "[Gmail]", views of all mail beside them -------------------

GMAIL_SPECIALS = {"[Gmail]/Sent Mail": "\\Sent", "[Gmail]/Drafts": "\\Drafts", "[Gmail]/Trash": "\\Trash",
                  "[Gmail]/Spam": "\\Junk", "[Gmail]/All Mail": "\\All", "[Gmail]/Starred": "\\Flagged"}
FROM_GMAIL = {
    "INBOX": "INBOX",
    "[Gmail]": None,  # a \\Noselect parent none of whose folders stays below it
    "[Gmail]/Sent Mail": "Sent",
    "[Gmail]/Sent Mail/2019": "Sent/2019",
    "[Gmail]/Drafts": "Drafts",
    "[Gmail]/Trash": "Trash",
    "[Gmail]/Spam": "Junk",
    "[Gmail]/All Mail": None,  # views of mail kept elsewhere: copying them would copy it twice
    "[Gmail]/Starred": None,
    "Receipts": "Receipts",
    "Receipts/2024": "Receipts/2024",
}


def test_a_gmail_style_mailbox_fills_the_targets_special_folders(
        running_stack: StackInfo, tmp_path: Path, plain_target: DovecotServer) -> None:
    with DovecotServer(tmp_path / "gmail", special_folders=GMAIL_SPECIALS) as gmail:
        gmail.add_user("quelle@example.test", PASSWORD)
        with login_to(gmail, "quelle@example.test") as c:
            for name in FROM_GMAIL:
                if not c.folder_exists(name):
                    c.create_folder(name)
            assert not verify.list_folders(c)["[Gmail]"].selectable
            for n, name in enumerate(n for n, t in FROM_GMAIL.items() if t is not None):
                c.append(name, mime(f"g{n}", n), flags=("\\Seen",), msg_time=datetime(2023, 3, 1 + n, tzinfo=UTC))
        with login_to(plain_target, "ziel@example.test") as t:
            before = verify.snapshot(t)
        _mid, st = migrate(running_stack, imap_endpoint(gmail, "quelle@example.test"),
                           imap_endpoint(plain_target, "ziel@example.test"))
        assert st["state"] == "completed", st
        with login_to(gmail, "quelle@example.test") as a, login_to(plain_target, "ziel@example.test") as b:
            result = verify.compare(a, b, FROM_GMAIL, before)
        gmail.destroy()
    assert result.identical, result.problems()
    assert result.messages == sum(t is not None for t in FROM_GMAIL.values())


# -- messages as they come: dates at the edges, odd bytes, duplicates, one message in many folders ----------

NO_HEADERS = b"just a body line, no header at all\r\nand a second one\r\n"
EIGHT_BIT = "Subject: Grüße aus Köln\r\nFrom: Jürgen <j@example.test>\r\n\r\nÄÖÜ\r\n".encode("latin-1")
DUPLICATE = mime("same message-id", 1)
# Within what the source server can hold: Dovecot 2.3 keeps INTERNALDATE in its index as an unsigned 32-bit time
# (20-Jul-1969 reads back as 27-Aug-2105 once indexed), takes the time of the APPEND for any date in the future,
# and answers every date in UTC (Maildir keeps no zone). The instants are compared.
DATES = {
    "epoch-day": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
    "new-year-at-plus-14": datetime(2025, 1, 1, 0, 0, 0, tzinfo=timezone(timedelta(hours=14))),
    "half-hour-west": datetime(2021, 3, 14, 1, 59, 26, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
    "leap-day": datetime(2024, 2, 29, 12, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=45))),
}


def test_messages_at_the_edges_arrive_as_they_are(running_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("edges"), accounts.new("edges-dst")
    with accounts.client(src) as c:
        c.create_folder("Copies")
        for name, when in DATES.items():
            c.append("INBOX", mime(name), flags=("\\Seen",), msg_time=when)
        c.append("INBOX", NO_HEADERS, msg_time=datetime(2020, 1, 1, tzinfo=UTC))
        c.append("INBOX", EIGHT_BIT, flags=("$Forwarded",), msg_time=datetime(2020, 1, 2, tzinfo=UTC))
        for folder in ("INBOX", "INBOX", "Copies", "Sent", "Archive"):  # twice in one folder, and in three others
            c.append(folder, DUPLICATE, flags=("\\Seen",), msg_time=datetime(2020, 1, 3, 8, 0, tzinfo=UTC))
    expected_total = len(DATES) + 2 + 5
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (expected_total, 0), st
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, {n: n for n in ("INBOX", "Copies", "Sent", "Drafts", "Trash", "Junk",
                                                     "Archive")})
        b.normalise_times = False
        b.select_folder("INBOX", readonly=True)
        dates = {int(v[b"INTERNALDATE"].timestamp()) for v in b.fetch(b.search("ALL"), ["INTERNALDATE"]).values()}
    assert result.identical, result.problems()
    assert result.messages == expected_total
    assert {1, 1735639200, 1615721366, 1709187300} <= dates  # the four DATES as POSIX seconds


# -- a second pass after the source changed --------------------------------------------------------------

def test_a_delta_pass_copies_what_is_new_and_leaves_the_rest_as_the_first_pass_left_it(
        running_stack: StackInfo, accounts: Accounts) -> None:
    """Documented: a later pass copies new messages only; a message already copied keeps the flags it was copied
    with, and one deleted from the source stays on the target (as the hosted migrators do)."""
    src, dst = accounts.new("delta"), accounts.new("delta-dst")
    with accounts.client(src) as c:
        c.create_folder("Work")
        for n in range(6):
            c.append("INBOX" if n % 2 else "Work", mime(f"d{n}", n), msg_time=datetime(2024, 4, 1, 9, n, tzinfo=UTC))
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert (st["state"], st["items"]["emails"]["done"]) == ("completed", 6), st
    with accounts.client(src) as c:
        c.select_folder("INBOX")
        first, second, *_ = c.search("ALL")
        c.add_flags([first], ["\\Seen", "$Later"])
        c.delete_messages([second])
        c.expunge()
        c.append("INBOX", mime("d-new", 7), flags=("\\Flagged",), msg_time=datetime(2024, 4, 2, 9, 0, tzinfo=UTC))
        c.create_folder("Work/New")
        c.append("Work/New", mime("d-new-folder", 8), msg_time=datetime(2024, 4, 2, 9, 1, tzinfo=UTC))
    _mid2, st2 = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st2["state"] == "completed", st2
    assert (st2["items"]["emails"]["done"], st2["items"]["emails"]["skipped"]) == (2, 5), st2
    with accounts.client(dst) as b:
        b.select_folder("INBOX", readonly=True)
        got = b.fetch(b.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        inbox = sorted((bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip(),
                        frozenset(f.decode() for f in v[b"FLAGS"]) - {"\\Recent"}) for v in got.values())
        work_new = b.folder_status("Work/New", [b"MESSAGES"])[b"MESSAGES"]
    assert inbox == [("d-new", frozenset({"\\Flagged"})), ("d1", frozenset()), ("d3", frozenset()),
                     ("d5", frozenset())]
    assert work_new == 1


def test_a_folder_re_created_with_a_new_uidvalidity_is_not_copied_twice(running_stack: StackInfo,
                                                                       accounts: Accounts) -> None:
    """A folder deleted and made again with the same messages (a client's repair, a server's rebuilt index) gets
    a new UIDVALIDITY, so new UIDs: the next pass finds the copies the first one made instead of copying again."""
    src, dst = accounts.new("uidv"), accounts.new("uidv-dst")
    when = [datetime(2024, 6, 1, 9, n, tzinfo=UTC) for n in range(4)]
    with accounts.client(src) as c:
        c.create_folder("Projects")
        for n in range(3):
            c.append("Projects", mime(f"u{n}", n), msg_time=when[n])
        before = c.folder_status("Projects", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert (st["state"], st["items"]["emails"]["done"]) == ("completed", 3), st
    time.sleep(1.1)  # Dovecot's UIDVALIDITY is a time in seconds
    with accounts.client(src) as c:
        c.delete_folder("Projects")
        c.create_folder("Projects")
        for n in range(4):
            c.append("Projects", mime(f"u{n}", n), msg_time=when[n])
        assert c.folder_status("Projects", [b"UIDVALIDITY"])[b"UIDVALIDITY"] != before
    _mid2, again = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert again["state"] == "completed", again
    assert (again["items"]["emails"]["done"], again["items"]["emails"]["failed"]) == (4, 0), again
    _mid3, third = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert (third["items"]["emails"]["done"], third["items"]["emails"]["skipped"]) == (0, 4), third
    with accounts.client(dst) as b:
        b.select_folder("Projects", readonly=True)
        got = b.fetch(b.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subjects = sorted(bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip()
                      for v in got.values())
    assert subjects == ["u0", "u1", "u2", "u3"]  # once each: before, the three were there twice


# -- POP3: a server whose UIDL is not unique ----------------------------------------------------------------

def test_pop3_messages_sharing_one_uidl_all_arrive_once(running_stack: StackInfo, accounts: Accounts,
                                                        tmp_path: Path) -> None:
    dst = accounts.new("pop-dst")
    with DovecotServer(tmp_path / "pop", pop3_uidl_format="%v") as pop:
        pop.add_user("pop@example.test", PASSWORD)
        with login_to(pop, "pop@example.test") as c:
            for n in range(4):
                c.append("INBOX", mime(f"p{n}", n), msg_time=datetime(2024, 5, 1, 9, n, tzinfo=UTC))
        import poplib

        box = poplib.POP3("127.0.0.1", pop.pop3_port, timeout=30)
        box.user("pop@example.test")
        box.pass_(PASSWORD)
        uidls = {line.split()[1] for line in box.uidl()[1]}
        box.quit()
        assert len(uidls) == 1  # one UIDL for all four
        _mid, st = migrate(running_stack, imap_endpoint(pop, "pop@example.test", "pop3"), accounts.endpoint(dst))
        assert st["state"] == "completed", st
        assert (st["items"]["emails"]["total"], st["items"]["emails"]["done"]) == (4, 4), st
        _mid2, again = migrate(running_stack, imap_endpoint(pop, "pop@example.test", "pop3"), accounts.endpoint(dst))
        assert (again["items"]["emails"]["done"], again["items"]["emails"]["skipped"]) == (0, 4), again
        with login_to(pop, "pop@example.test") as c:
            c.append("INBOX", mime("p-new", 9), msg_time=datetime(2024, 5, 2, 9, 0, tzinfo=UTC))
        _mid3, third = migrate(running_stack, imap_endpoint(pop, "pop@example.test", "pop3"), accounts.endpoint(dst))
        assert (third["items"]["emails"]["done"], third["items"]["emails"]["skipped"]) == (1, 4), third
        pop.destroy()
    with accounts.client(dst) as b:
        b.select_folder("INBOX", readonly=True)
        got = b.fetch(b.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    subjects = sorted(bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip()
                      for v in got.values())
    assert subjects == ["p-new", "p0", "p1", "p2", "p3"]


# -- IMAP <-> Exchange: replied, forwarded, deleted, protocol keywords, folder names ----------------------

@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


# subject -> IMAP flags on the source
TO_EXCHANGE = {
    "replied": ("\\Seen", "\\Answered"),
    "forwarded": ("\\Seen", "$Forwarded"),
    "both": ("\\Answered", "$Forwarded", "Work"),
    "receipt": ("\\Seen", "$MDNSent", "NonJunk", "$label1"),
    "deleted": ("\\Deleted", "\\Seen"),
}
# subject -> (read, last verb, icon, categories) on Exchange
ON_EXCHANGE = {
    "replied": (True, 102, 261, []),
    "forwarded": (True, 104, 262, []),
    "both": (False, 102, 261, ["Work"]),
    "receipt": (True, None, None, ["$label1"]),
    "deleted": (True, None, None, []),
}
# subject -> what the report says the copy could not keep
NOT_KEPT = {
    "both": "copied without the flags the target cannot store: $Forwarded",
    "receipt": "copied without the flags the target cannot store: $MDNSent, NonJunk",
    "deleted": "copied without the flags the target cannot store: \\Deleted",
}
# IMAP folder -> Exchange folder path below the message folder root
EXCHANGE_TREE = {"INBOX": "Inbox", "R&D": "R&D", "a.b": "a.b", "Ärger/2023": "Ärger/2023"}


def test_imap_to_exchange_keeps_replied_forwarded_and_reports_what_exchange_cannot_hold(
        running_stack: StackInfo, accounts: Accounts, emulator: EwsEmulator) -> None:
    src = accounts.new("to-ews")
    with accounts.client(src) as c:
        for folder in EXCHANGE_TREE:
            if folder != "INBOX":
                c.create_folder(folder)
        for n, (subject, flags) in enumerate(TO_EXCHANGE.items()):
            c.append("INBOX", mime(subject, n), flags=flags, msg_time=datetime(2024, 1, 2, 10, n, tzinfo=UTC))
        for n, folder in enumerate(EXCHANGE_TREE):
            c.append(folder, mime(f"in {folder}", 30 + n), msg_time=datetime(2024, 1, 3, 10, n, tzinfo=UTC))
    login, password = new_mailbox(emulator, "ews-flags")
    mid, st = migrate(running_stack, accounts.endpoint(src), endpoint(emulator, login, password))
    assert st["state"] == "completed", st
    total = len(TO_EXCHANGE) + len(EXCHANGE_TREE)
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (total, 0), st
    acc = ews_account(emulator, login, password)
    got = {m.subject: (m.is_read, m.seen_last_verb, m.seen_icon_index, list(m.categories or []))
           for m in acc.inbox.all().only("subject", "is_read", "seen_last_verb", "seen_icon_index", "categories")
           if m.subject in TO_EXCHANGE}
    assert got == ON_EXCHANGE
    mailbox = emulator.mailbox(login)
    for folder, path in EXCHANGE_TREE.items():
        subjects = [i.subject for i in mailbox.items_in("inbox" if path == "Inbox" else tuple(path.split("/")))]
        assert f"in {folder}" in subjects, (folder, subjects)
    notes = {r["subject"]: r["reason"] for r in report(running_stack, mid, src) if r["item_type"] == "email"}
    assert notes == NOT_KEPT


def test_exchange_to_imap_carries_replied_and_forwarded(running_stack: StackInfo, accounts: Accounts,
                                                        emulator: EwsEmulator) -> None:
    login, password = new_mailbox(emulator, "ews-verbs")
    acc = ews_account(emulator, login, password)
    for n, (subject, verb, category) in enumerate((("r", 102, None), ("ra", 103, "Junk"), ("f", 104, None),
                                                   ("none", None, "$MDNSent"))):
        msg = Message(account=acc, folder=acc.inbox, mime_content=mime(subject, n), is_read=True,
                      categories=[category] if category else None)
        if verb is not None:
            msg.seen_last_verb = verb
        msg.save()
    dst = accounts.new("from-ews")
    _mid, st = migrate(running_stack, endpoint(emulator, login, password), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    with accounts.client(dst) as b:
        b.select_folder("INBOX", readonly=True)
        got = b.fetch(b.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    flags = {bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip():
             {f.decode() for f in v[b"FLAGS"]} - {"\\Recent"} for v in got.values()}
    # A user's categories named like keywords with a protocol meaning keep their name, their first letter encoded.
    assert flags == {"r": {"\\Seen", "\\Answered"}, "ra": {"\\Seen", "\\Answered", "&AEo-unk"},
                     "f": {"\\Seen", "$Forwarded"}, "none": {"\\Seen", "&ACQ-MDNSent"}}


# -- a folder name the target cannot take costs that folder's messages only -----------------------------------

LONG = ("Projektunterlagen der Abteilung Forschung und Entwicklung " * 2).strip()  # 115 bytes a level


def test_a_folder_the_target_refuses_is_reported_and_every_other_arrives(
        running_stack: StackInfo, accounts: Accounts, tmp_path: Path) -> None:
    """Deep, long names fit a "/" server (a directory a level) but not a Maildir++ one, where the whole path is one
    file name (at most 255 bytes): that folder's messages are reported failed with the target's words, the rest
    arrive as they are, in the same batches."""
    src = accounts.new("refused")
    deep = f"{LONG}/{LONG}/{LONG}"
    with accounts.client(src) as c:
        for name in (LONG, f"{LONG}/{LONG}", deep, "Fine", "Fine/Too"):
            c.create_folder(name)
        for n, name in enumerate(("INBOX", "Fine", deep, "Fine/Too", deep, LONG)):
            c.append(name, mime(f"r{n}", n), msg_time=datetime(2024, 6, 1, 9, n, tzinfo=UTC))
    with DovecotServer(tmp_path / "maildirpp", separator=".", prefix="INBOX.") as t_server:
        t_server.add_user("ziel@example.test", PASSWORD)
        mid, st = migrate(running_stack, accounts.endpoint(src), imap_endpoint(t_server, "ziel@example.test"))
        assert st["state"] == "completed_with_errors", st
        assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (4, 2), st
        with login_to(t_server, "ziel@example.test") as b:
            counts = {name: b.folder_status(name, [b"MESSAGES"])[b"MESSAGES"]
                      for name in ("INBOX", "INBOX.Fine", "INBOX.Fine.Too", f"INBOX.{LONG}")}
        t_server.destroy()
    assert counts == {"INBOX": 1, "INBOX.Fine": 1, "INBOX.Fine.Too": 1, f"INBOX.{LONG}": 1}
    failed = [(r["subject"], r["result"]) for r in report(running_stack, mid, src) if r["item_type"] == "email"]
    assert sorted(failed) == [("r2", "failed"), ("r4", "failed")]
    assert all("refused to create folder" in r["reason"] for r in report(running_stack, mid, src)
               if r["item_type"] == "email")
