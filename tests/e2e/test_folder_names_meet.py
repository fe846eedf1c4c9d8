"""Source folders whose names meet on the target get a folder each, through the whole stack.

Real broker, Redis, the four services and Dovecot (a "." target keeping its folders below "INBOX.", with
localized special folders), and the EWS emulator (folder names compared without regard to case). Each target's
whole folder tree and every folder's messages are read back by small readers written here (imapclient, the
emulator's store), and compared with trees written out in the tests — never with mailferry's mapping. A delta
pass after a new colliding folder appears on the source must leave every earlier folder's mail where the first
pass put it; undo of both passes must leave the target as it was.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from imapclient import IMAPClient

from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate, wait_final
from tests.e2e.test_ews_mail import endpoint as ews_endpoint
from tests.e2e.test_ews_mail import new_mailbox
from tests.ews_emulator import EwsEmulator

PASSWORD = "pw-folder-names-1"
TARGET_SPECIALS = {"Sent Messages": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk",
                   "Archive": "\\Archive"}
MESSAGE_ID = re.compile(rb"Message-ID:\s*(<[^>]+>)", re.IGNORECASE)


def mime(tag: str) -> bytes:
    return (f"From: Bob <bob@example.test>\r\nTo: me@example.test\r\nSubject: {tag}\r\n"
            f"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{tag}@example.test>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody of {tag}\r\n").encode()


def fill(c: IMAPClient, folders: dict[str, list[str]]) -> None:
    """Each folder (created where missing) gets the messages tagged; a tag names its message's Message-ID."""
    for name, tags in folders.items():
        if not c.folder_exists(name):
            c.create_folder(name)
        for tag in tags:
            c.append(name, mime(tag), (), msg_time=datetime(2024, 1, 2, 10, 0, tzinfo=UTC))


def imap_tree(c: IMAPClient) -> dict[str, list[str]]:
    """Every folder the server lists → the Message-IDs of its messages, sorted (selectable folders only hold any)."""
    out: dict[str, list[str]] = {}
    for flags, _delim, name in c.list_folders():
        if any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags):
            out[name] = []
            continue
        c.select_folder(name, readonly=True)
        uids = c.search("ALL")
        heads = c.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]) if uids else {}
        ids = []
        for data in heads.values():
            m = MESSAGE_ID.search(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"])
            ids.append(m.group(1).decode() if m else "?")
        out[name] = sorted(ids)
    return out


def report(info: StackInfo, mid: str, login: str) -> set[tuple[str, str]]:
    """The (folder, reason) of every folder the report names."""
    resp = httpx.get(f"{info.intake_url}/api/v1/migrations/{mid}/report", params={"login": login}, timeout=30)
    assert resp.status_code == 200, resp.text
    return {(r["folder"], r["reason"]) for r in resp.json()["items"] if r.get("item_type", r.get("type")) == "folder"}


def renamed(name: str) -> str:
    return f"named “{name}” on the target: its own name meets another folder's there"


def undo(info: StackInfo, mid: str, login: str, target_password: str) -> dict[str, Any]:
    resp = httpx.post(f"{info.intake_url}/api/v1/migrations/{mid}/undo",
                      json={"login": login, "target_password": target_password}, timeout=60)
    assert resp.status_code == 202, resp.text
    st = wait_final(info, mid, login)
    assert st["state"] == "undone", st
    return st


@pytest.fixture
def cyrus_like(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "cyrus", separator=".", prefix="INBOX.", special_folders=TARGET_SPECIALS) as server:
        server.add_user("ziel@example.test", PASSWORD)
        yield server
        server.destroy()


def test_folders_meeting_on_a_dot_server_below_inbox_get_one_each_and_keep_them_in_a_delta_pass(
        running_stack: StackInfo, accounts: Accounts, cyrus_like: DovecotServer) -> None:
    src = accounts.new("meet-imap")
    with accounts.client(src) as c:
        fill(c, {"INBOX": ["inbox-1"], "Sub": ["sub-1"], "INBOX/Sub": ["inbox-sub-1"], "a_b": ["a_b-1"],
                 "Sent": ["sent-1"], "Sent Messages": ["own-sent-1"], "Work": ["Work-1"], "work": ["work-1"],
                 "Work/2024": ["Work-2024-1"]})
    target = {"type": "imap", "host": "127.0.0.1", "port": cyrus_like.imap_port, "security": "none",
              "login": "ziel@example.test", "password": PASSWORD}
    with IMAPClient("127.0.0.1", port=cyrus_like.imap_port, ssl=False, timeout=60) as t:
        t.login("ziel@example.test", PASSWORD)
        before = imap_tree(t)
    assert before == {"INBOX": [], "INBOX.Sent Messages": [], "INBOX.Drafts": [], "INBOX.Trash": [],
                      "INBOX.Junk": [], "INBOX.Archive": []}

    first, st = migrate(running_stack, accounts.endpoint(src), target)
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 9, st
    after_first = {
        **before,
        "INBOX": ["<inbox-1@example.test>"],
        "INBOX.Sub": ["<sub-1@example.test>"],  # the top-level folder, shallower, keeps the name
        "INBOX.Sub (2)": ["<inbox-sub-1@example.test>"],  # INBOX/Sub would have landed there too
        "INBOX.a_b": ["<a_b-1@example.test>"],
        "INBOX.Sent Messages": ["<sent-1@example.test>"],  # the source's flagged Sent: the target's own
        "INBOX.Sent Messages (2)": ["<own-sent-1@example.test>"],  # the user's folder named like it stays apart
        "INBOX.Work": ["<Work-1@example.test>"],  # IMAP names are case-sensitive: both keep theirs
        "INBOX.work": ["<work-1@example.test>"],
        "INBOX.Work.2024": ["<Work-2024-1@example.test>"],
    }
    with IMAPClient("127.0.0.1", port=cyrus_like.imap_port, ssl=False, timeout=60) as t:
        t.login("ziel@example.test", PASSWORD)
        assert imap_tree(t) == after_first
    assert report(running_stack, first, src) == {("INBOX/Sub", renamed("INBOX/Sub (2)")),
                                                 ("Sent Messages", renamed("Sent Messages (2)"))}

    # A folder that sorts before a_b and meets it appears: a_b's new mail still goes where its first went.
    with accounts.client(src) as c:
        fill(c, {"a.b": ["a.b-1"], "a_b": ["a_b-2"], "INBOX/Sub": ["inbox-sub-2"]})
    second, st = migrate(running_stack, accounts.endpoint(src), target)
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["skipped"]) == (3, 9), st
    with IMAPClient("127.0.0.1", port=cyrus_like.imap_port, ssl=False, timeout=60) as t:
        t.login("ziel@example.test", PASSWORD)
        assert imap_tree(t) == {
            **after_first,
            "INBOX.a_b": ["<a_b-1@example.test>", "<a_b-2@example.test>"],
            "INBOX.a_b (2)": ["<a.b-1@example.test>"],
            "INBOX.Sub (2)": ["<inbox-sub-1@example.test>", "<inbox-sub-2@example.test>"],
        }
    # The report names folders as the source does (the target writes the "." inside a name as "_").
    assert ("a.b", renamed("a.b (2)")) in report(running_stack, second, src)

    undo(running_stack, second, src, PASSWORD)
    undo(running_stack, first, src, PASSWORD)
    with IMAPClient("127.0.0.1", port=cyrus_like.imap_port, ssl=False, timeout=60) as t:
        t.login("ziel@example.test", PASSWORD)
        assert imap_tree(t) == before


def test_a_users_own_folder_named_like_the_targets_trash_is_not_filed_into_it(
        running_stack: StackInfo, cyrus_like: DovecotServer, tmp_path: Path) -> None:
    """The source flags only its Sent: its "Trash" is the user's own folder, by the server's word. It must not go
    into the target's Trash (which the target may empty): it gets a folder of its own, named in the report."""
    with DovecotServer(tmp_path / "source", special_folders={"Sent": "\\Sent"}) as source:
        source.add_user("quelle@example.test", PASSWORD)
        with IMAPClient("127.0.0.1", port=source.imap_port, ssl=False, timeout=60) as c:
            c.login("quelle@example.test", PASSWORD)
            fill(c, {"INBOX": ["in-1"], "Sent": ["sent-1"], "Trash": ["kept-1"], "Trash/2024": ["kept-2"]})
        src = {"type": "imap", "host": "127.0.0.1", "port": source.imap_port, "security": "none",
               "login": "quelle@example.test", "password": PASSWORD}
        target = {"type": "imap", "host": "127.0.0.1", "port": cyrus_like.imap_port, "security": "none",
                  "login": "ziel@example.test", "password": PASSWORD}
        mid, st = migrate(running_stack, src, target)
        assert st["state"] == "completed" and st["items"]["emails"]["done"] == 4, st
        with IMAPClient("127.0.0.1", port=cyrus_like.imap_port, ssl=False, timeout=60) as t:
            t.login("ziel@example.test", PASSWORD)
            assert imap_tree(t) == {
                "INBOX": ["<in-1@example.test>"], "INBOX.Sent Messages": ["<sent-1@example.test>"],
                "INBOX.Drafts": [], "INBOX.Trash": [], "INBOX.Junk": [], "INBOX.Archive": [],
                "INBOX.Trash (2)": ["<kept-1@example.test>"], "INBOX.Trash (2).2024": ["<kept-2@example.test>"]}
        assert report(running_stack, mid, "quelle@example.test") == {("Trash", renamed("Trash (2)"))}
        source.destroy()


# -- Exchange: names compared without regard to case ------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def exchange_tree(emu: EwsEmulator, login: str) -> dict[str, list[str]]:
    """Every folder below the message folder root by its path of display names → its messages' subjects, sorted."""
    mbx = emu.mailbox(login)
    out: dict[str, list[str]] = {}

    def walk(folder_id: str, prefix: str) -> None:
        for f in mbx.children(folder_id):
            out[prefix + f.name] = sorted(str(i.subject) for i in f.items.values())
            walk(f.id, prefix + f.name + "/")

    walk(mbx.distinguished("msgfolderroot").id, "")
    return out


def test_folders_differing_in_case_get_one_each_on_exchange_and_keep_them_in_a_delta_pass(
        running_stack: StackInfo, accounts: Accounts, emulator: EwsEmulator) -> None:
    src = accounts.new("meet-ews")
    with accounts.client(src) as c:
        fill(c, {"Work": ["Work-1"], "work": ["work-1"], "work/Sub": ["work-sub-1"], "Trash": ["trash-1"],
                 "deleted items": ["own-deleted-1"], "ΟΔΟΣ": ["odos-upper-1"], "οδος": ["odos-lower-1"]})
    login, password = new_mailbox(emulator, "meet")
    before = exchange_tree(emulator, login)
    assert before["Deleted Items"] == [] and "Work" not in before

    first, st = migrate(running_stack, accounts.endpoint(src), ews_endpoint(emulator, login, password))
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 7, st
    after_first = {
        **before,
        "Work": ["Work-1"],
        "work (2)": ["work-1"],
        "work (2)/Sub": ["work-sub-1"],
        "Deleted Items": ["trash-1"],  # the source's flagged Trash: Exchange's own
        "deleted items (2)": ["own-deleted-1"],  # the user's folder named like it stays apart
        "ΟΔΟΣ": ["odos-upper-1"],  # final and capital sigma fold alike
        "οδος (2)": ["odos-lower-1"],
    }
    assert exchange_tree(emulator, login) == after_first
    assert report(running_stack, first, src) == {("work", renamed("work (2)")),
                                                 ("deleted items", renamed("deleted items (2)")),
                                                 ("οδος", renamed("οδος (2)"))}

    # "WORK" sorts before both: it is the one that gets a new name, and work's new mail joins its first.
    with accounts.client(src) as c:
        fill(c, {"WORK": ["WORK-1"], "work": ["work-2"]})
    second, st = migrate(running_stack, accounts.endpoint(src), ews_endpoint(emulator, login, password))
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["skipped"]) == (2, 7), st
    assert exchange_tree(emulator, login) == {**after_first, "work (2)": ["work-1", "work-2"], "WORK (3)": ["WORK-1"]}
    assert ("WORK", renamed("WORK (3)")) in report(running_stack, second, src)

    undo(running_stack, second, src, password)
    undo(running_stack, first, src, password)
    assert exchange_tree(emulator, login) == before
