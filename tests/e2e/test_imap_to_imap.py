"""IMAP → IMAP through the whole stack: fidelity, delta passes, no duplicates.

Real broker, Redis, Dovecot and the four services as separate processes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailferry import seed, verify
from mailferry.dovecot import DovecotServer
from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate, same_names

FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects", "Projects/2024",
           "Projects/2024/Q1", "Données/Été 2024", "日本語/メール", "Ελληνικά", "Empty folder")
# Source and target are accounts of one Dovecot: every folder keeps its name (the parents "Données"
# and "日本語" are listed by Dovecot as \Noselect), and no other folder may appear on the target.
SAME_TREE = same_names(*FOLDERS, "Données", "日本語")


def test_migration_is_faithful_and_reruns_copy_only_what_is_new(running_stack: StackInfo, accounts: Accounts) -> None:
    src, dst = accounts.new("src"), accounts.new("dst")
    layout = seed.plan_mailbox(1000, folders=FOLDERS)
    corpus = len(seed.corpus_messages())
    with accounts.client(src) as c:
        seed.seed(c, layout)
    total = sum(len(v) for v in layout.values())
    assert total >= 1000 + corpus and corpus >= 100  # the real messages are among them

    # First pass: everything arrives, byte for byte, with flags and dates, in the same tree.
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert st["items"]["emails"] == {"total": total, "done": total, "skipped": 0, "failed": 0,
                                     "bytes": st["items"]["emails"]["bytes"]}
    assert st["items"]["emails"]["bytes"] > 0
    assert [h["state"] for h in st["history"]] == ["queued", "validating", "running", "completed"]
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, SAME_TREE)
        target_folders = {name for _f, _d, name in b.list_folders()}
    assert result.identical, result.problems()
    assert result.messages == total
    assert len(result.folders) >= 8
    assert {"Projects/2024/Q1", "Données/Été 2024", "日本語/メール", "Ελληνικά", "Empty folder"} <= target_folders

    # Second pass: nothing new, nothing copied, everything reported as skipped.
    _mid2, st2 = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st2["state"] == "completed", st2
    assert st2["items"]["emails"]["done"] == 0
    assert st2["items"]["emails"]["skipped"] == total
    with accounts.client(src) as a, accounts.client(dst) as b:
        assert verify.compare(a, b, SAME_TREE).identical

    # Ten new messages in two folders: exactly those ten are copied.
    rng = random.Random(99)
    with accounts.client(src) as c:
        for i in range(10):
            folder = "INBOX" if i % 2 else "Projects/2024/Q1"
            c.append(folder, seed.generated(50_000 + i, rng), flags=("\\Seen",),
                     msg_time=datetime(2024, 5, 1, 12, i, tzinfo=UTC))
    _mid3, st3 = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st3["state"] == "completed", st3
    assert st3["items"]["emails"]["done"] == 10
    assert st3["items"]["emails"]["skipped"] == total
    with accounts.client(src) as a, accounts.client(dst) as b:
        result = verify.compare(a, b, SAME_TREE)
    assert result.identical, result.problems()
    assert result.messages == total + 10


def test_special_use_folders_map_to_the_targets_own(running_stack: StackInfo, accounts: Accounts,
                                                   tmp_path: Path) -> None:
    """Sent, Drafts, Trash, Junk, Archive land in a German target's own special folders."""
    german = {"Gesendete Elemente": "\\Sent", "Entwürfe": "\\Drafts", "Gelöschte Elemente": "\\Trash",
              "Junk-E-Mail": "\\Junk", "Archiv": "\\Archive"}
    src = accounts.new("src")
    with accounts.client(src) as c:
        c.create_folder("Sent/2019")
        c.append("Sent", b"Subject: sent one\r\nMessage-ID: <s1@x>\r\n\r\nbody\r\n", flags=("\\Seen",))
        c.append("Sent/2019", b"Subject: sent old\r\nMessage-ID: <s2@x>\r\n\r\nbody\r\n")
        c.append("Junk", b"Subject: spam\r\nMessage-ID: <j1@x>\r\n\r\nbuy\r\n")
    with DovecotServer(tmp_path / "de", special_folders=german) as de:
        de.add_user("ziel@example.test", "ziel-pw-123")
        target = {"type": "imap", "host": "127.0.0.1", "port": de.imap_port, "security": "none",
                  "login": "ziel@example.test", "password": "ziel-pw-123"}
        _mid, st = migrate(running_stack, accounts.endpoint(src), target)
        assert st["state"] == "completed", st
        with accounts.client(src) as a, IMAPClient("127.0.0.1", port=de.imap_port, ssl=False) as b:
            b.login("ziel@example.test", "ziel-pw-123")
            result = verify.compare(a, b, {
                "INBOX": "INBOX", "Sent": "Gesendete Elemente", "Sent/2019": "Gesendete Elemente/2019",
                "Drafts": "Entwürfe", "Trash": "Gelöschte Elemente", "Junk": "Junk-E-Mail", "Archive": "Archiv"})
        de.destroy()
    assert result.identical, result.problems()
    assert result.messages == 3


def test_a_rerun_with_the_servers_spelled_otherwise_copies_nothing(running_stack: StackInfo,
                                                                   accounts: Accounts) -> None:
    """The ledger belongs to the accounts, not to how their server and login were typed."""
    src, dst = accounts.new("src"), accounts.new("dst")
    with accounts.client(src) as c:
        c.create_folder("Projekte")
        for i in range(6):
            c.append("INBOX" if i % 2 else "Projekte", seed.generated(70_000 + i, random.Random(i)),
                     flags=("\\Seen",), msg_time=datetime(2024, 6, 1, 9, i, tzinfo=UTC))
    _mid, st = migrate(running_stack, accounts.endpoint(src), accounts.endpoint(dst))
    assert st["state"] == "completed" and st["items"]["emails"]["done"] == 6, st
    for source_host, target_host, login_case in (("localhost", "localhost", str.lower),
                                                 ("LocalHost", "127.0.0.1", str.upper)):
        source = {**accounts.endpoint(src, host=source_host), "login": login_case(src)}
        _mid2, again = migrate(running_stack, source, accounts.endpoint(dst, host=target_host))
        assert again["state"] == "completed", again
        assert again["items"]["emails"]["done"] == 0 and again["items"]["emails"]["skipped"] == 6, again
    with accounts.client(dst) as b:
        counts = {name: b.folder_status(name, [b"MESSAGES"])[b"MESSAGES"] for name in ("INBOX", "Projekte")}
    assert counts == {"INBOX": 3, "Projekte": 3}


NO_ARCHIVE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
# (source server's flagged folders, target server's, folders the user fills on the source, expected target names)
FOLDER_CASES = {
    "a user's Archiv on a SPECIAL-USE source, target without \\Archive": (
        NO_ARCHIVE, NO_ARCHIVE, ("INBOX", "Archiv", "Archiv/2019", "Archiv/2019/Q1"),
        {"INBOX": "INBOX", "Sent": "Sent", "Drafts": "Drafts", "Trash": "Trash", "Junk": "Junk",
         "Archiv": "Archiv", "Archiv/2019": "Archiv/2019", "Archiv/2019/Q1": "Archiv/2019/Q1"}),
    "a flagged \\Archive Archiv, target without \\Archive": (
        {"Archiv": "\\Archive"}, {"Sent": "\\Sent"}, ("Archiv", "Archiv/2019"),
        {"INBOX": "INBOX", "Archiv": "Archiv", "Archiv/2019": "Archiv/2019"}),
    "flagged Gesendet onto flagged Sent Items": (
        {"Gesendet": "\\Sent"}, {"Sent Items": "\\Sent"}, ("INBOX", "Gesendet", "Gesendet/2020"),
        {"INBOX": "INBOX", "Gesendet": "Sent Items", "Gesendet/2020": "Sent Items/2020"}),
    "a target with no special folders": (
        {"Gesendet": "\\Sent", "Entwürfe": "\\Drafts", "Papierkorb": "\\Trash", "Spam": "\\Junk",
         "Archiv": "\\Archive"}, {}, ("Gesendet", "Entwürfe", "Papierkorb", "Spam", "Archiv", "Archiv/Alt"),
        {"INBOX": "INBOX", "Gesendet": "Gesendet", "Entwürfe": "Entwürfe", "Papierkorb": "Papierkorb", "Spam": "Spam",
         "Archiv": "Archiv", "Archiv/Alt": "Archiv/Alt"}),
}


def _fill(client: IMAPClient, folders: tuple[str, ...]) -> int:
    rng = random.Random(17)
    for n, folder in enumerate(folders):
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.append(folder, seed.generated(80_000 + n, rng), flags=("\\Seen", "$Work"),
                      msg_time=datetime(2019, 3, 1 + n, 8, 30, tzinfo=timezone(timedelta(hours=-5))))
    return len(folders)


@pytest.mark.parametrize("case", list(FOLDER_CASES))
def test_folders_keep_their_names_unless_the_target_has_one_for_their_use(
        running_stack: StackInfo, tmp_path: Path, case: str) -> None:
    source_specials, target_specials, filled, expected = FOLDER_CASES[case]
    with DovecotServer(tmp_path / "src", special_folders=source_specials) as s_server, \
            DovecotServer(tmp_path / "dst", special_folders=target_specials) as t_server:
        for server, login in ((s_server, "quelle@example.test"), (t_server, "ziel@example.test")):
            server.add_user(login, "pw-folders-1")

        def client(server: DovecotServer, login: str) -> IMAPClient:
            c = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False)
            c.login(login, "pw-folders-1")
            return c

        with client(s_server, "quelle@example.test") as c, client(t_server, "ziel@example.test") as t:
            assert c.has_capability("SPECIAL-USE")  # (a Dovecot without special folders does not announce it)
            count = _fill(c, filled)
            before = verify.snapshot(t)  # the target server's own special folders, empty
        source, target = ({"type": "imap", "host": "127.0.0.1", "port": server.imap_port, "security": "none",
                           "login": login, "password": "pw-folders-1"}
                          for server, login in ((s_server, "quelle@example.test"), (t_server, "ziel@example.test")))
        _mid, st = migrate(running_stack, source, target)
        assert st["state"] == "completed", st
        with client(s_server, "quelle@example.test") as a, client(t_server, "ziel@example.test") as b:
            result = verify.compare(a, b, expected, before)
        s_server.destroy()
        t_server.destroy()
    assert result.identical, result.problems()
    assert result.messages == count
