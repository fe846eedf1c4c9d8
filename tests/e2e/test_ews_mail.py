"""E-mail to and from Exchange through the whole stack, against the EWS emulator.

The emulator (tests/ews_emulator) is the one protocol-level test double: no
Exchange server can run here. Everything else is real: broker, Redis, Dovecot,
the four services, and exchangelib on both sides.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from exchangelib import Account, EWSDateTime, Message

from mailferry import seed, verify
from mailferry.stack import StackInfo
from shared.adapters.ews import connection as ews_connection
from shared.adapters.ews import fields  # noqa: F401 - registers the extended properties
from shared.adapters.ews.mail_source import EwsSource
from tests.conftest import Accounts
from tests.e2e.flows import migrate, start, wait_final
from tests.ews_emulator import EwsEmulator

FOLDERS = ("INBOX", "Sent", "Drafts", "Archive", "Projects", "Projects/2024", "Données/Été", "Empty folder")


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def new_mailbox(emu: EwsEmulator, name: str) -> tuple[str, str]:
    login = f"{name}-{random.randrange(10**9)}@example.test"
    password = "pw-" + hashlib.sha256(login.encode()).hexdigest()[:12]
    emu.add_mailbox(login, password)
    return login, password


def endpoint(emu: EwsEmulator, login: str, password: str) -> dict[str, object]:
    u = urlsplit(emu.url)
    return {"type": "ews", "host": "127.0.0.1", "port": u.port, "security": "none", "login": login,
            "password": password}


def account(emu: EwsEmulator, login: str, password: str) -> Account:
    u = urlsplit(emu.url)
    return ews_connection.connect_ews("127.0.0.1", int(u.port or 80), "none", login, password)


def ews_fingerprints(acc: Account) -> dict[str, Counter[tuple[str, frozenset[str], int]]]:
    """Per folder path: (sha256 of MIME, IMAP-style flags, received time), as the EWS source reads them."""
    source = EwsSource(acc)
    out: dict[str, Counter[tuple[str, frozenset[str], int]]] = {}
    for listed in source.list_folders():
        folder = source._folders[listed.name]
        got: Counter[tuple[str, frozenset[str], int]] = Counter()
        for m in folder.all().only("mime_content", "is_read", "flag", "is_draft", "categories", "datetime_received"):
            flags = {"\\Seen"} if m.is_read else set()
            if m.flag == 2:
                flags.add("\\Flagged")
            flags |= set(m.categories or ())
            got[(hashlib.sha256(m.mime_content).hexdigest(), frozenset(flags), int(m.datetime_received.timestamp()))] += 1
        out[listed.name.replace("\x1f", "/")] = got
    return out


def imap_fingerprints(client: Any, name: str) -> Counter[tuple[str, frozenset[str], int]]:
    """Exchange keeps the instant of the received date, not its zone: compared as a POSIX second."""
    keep = {"\\Seen", "\\Flagged", "$Label1", "$Important", "Work"}
    return Counter((sha, frozenset(f & keep), verify.instant(when))
                   for (sha, f, when), n in verify.snapshot_folder(client, name).items() for _ in range(n))


def test_imap_to_exchange_keeps_bytes_flags_dates_and_tree(running_stack: StackInfo, accounts: Accounts,
                                                          emulator: EwsEmulator) -> None:
    src = accounts.new("src")
    layout = seed.plan_mailbox(150, folders=FOLDERS, seed=21)
    with accounts.client(src) as c:
        seed.seed(c, layout)
    login, password = new_mailbox(emulator, "ews-dst")
    _mid, st = migrate(running_stack, accounts.endpoint(src), endpoint(emulator, login, password))
    assert st["state"] == "completed", st
    total = sum(len(v) for v in layout.values())
    assert st["items"]["emails"]["done"] == total
    got = ews_fingerprints(account(emulator, login, password))
    expected_paths = {"INBOX": "INBOX", "Sent": "Sent Items", "Drafts": "Drafts", "Archive": "Archive",
                      "Projects/2024": "Projects/2024", "Données/Été": "Données/Été", "Empty folder": "Empty folder"}
    with accounts.client(src) as c:
        for imap_name, ews_name in expected_paths.items():
            want = imap_fingerprints(c, imap_name)
            have = got[ews_name]
            assert {(s, w) for (s, _f, w) in have.elements()} == {(s, w) for (s, _f, w) in want.elements()}, imap_name
            assert have == want, f"{imap_name}: flags differ"
    assert emulator.mailbox(login).folder_paths()  # the tree exists on the Exchange side


def test_exchange_to_imap_and_a_delta_pass(running_stack: StackInfo, accounts: Accounts,
                                           emulator: EwsEmulator) -> None:
    login, password = new_mailbox(emulator, "ews-src")
    acc = account(emulator, login, password)
    rng = random.Random(5)
    from exchangelib.folders import Folder

    projects = Folder(parent=acc.msg_folder_root, name="Projekte / 2024")
    projects.save()
    items = []
    for i in range(30):
        folder = [acc.inbox, acc.sent, projects][i % 3]
        msg = Message(account=acc, folder=folder, mime_content=seed.generated(i, rng), is_read=bool(i % 2),
                      delivery_time=EWSDateTime.from_datetime(datetime(2023, 1, 1 + i % 28, 9, i, tzinfo=UTC)))
        if i % 5 == 0:
            msg.flag = 2
        items.append(msg)
    for m in items:
        m.save()
    dst = accounts.new("dst")
    _mid, st = migrate(running_stack, endpoint(emulator, login, password), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 30
    with accounts.client(dst) as c:
        names = {n for _f, _d, n in c.list_folders()}
        assert "Projekte _ 2024" in names  # "/" is the target's separator
        got = {**{k: v for k, v in ews_fingerprints(acc).items()}}
        assert imap_fingerprints(c, "INBOX") == got["INBOX"]
        assert imap_fingerprints(c, "Sent") == got["Sent Items"]
        assert imap_fingerprints(c, "Projekte _ 2024") == got["Projekte / 2024"]
    _mid2, again = migrate(running_stack, endpoint(emulator, login, password), accounts.endpoint(dst))
    assert again["state"] == "completed"
    assert again["items"]["emails"]["done"] == 0 and again["items"]["emails"]["skipped"] == 30


def test_exchange_to_exchange_survives_throttling_and_undo_removes_everything(
        running_stack: StackInfo, emulator: EwsEmulator) -> None:
    s_login, s_password = new_mailbox(emulator, "ews-a")
    t_login, t_password = new_mailbox(emulator, "ews-b")
    acc = account(emulator, s_login, s_password)
    rng = random.Random(8)
    for i in range(40):
        Message(account=acc, folder=acc.inbox, mime_content=seed.generated(i, rng), is_read=True).save()
    before_paths = set(emulator.mailbox(t_login).folder_paths())
    emulator.throttle(every_n=4, backoff_ms=100)
    try:
        mid = start(running_stack, endpoint(emulator, s_login, s_password), endpoint(emulator, t_login, t_password))
        st = wait_final(running_stack, mid, s_login)
    finally:
        emulator.throttle(every_n=0)
    assert st["state"] == "completed", st
    assert st["items"]["emails"]["done"] == 40
    assert emulator.busy_answers > 0
    assert len(emulator.mailbox(t_login).items_in("inbox")) == 40
    resp = httpx.post(f"{running_stack.intake_url}/api/v1/migrations/{mid}/undo",
                      json={"login": s_login, "target_password": t_password}, timeout=60)
    assert resp.status_code == 202, resp.text
    st = wait_final(running_stack, mid, s_login)
    assert st["state"] == "undone", st
    assert emulator.mailbox(t_login).items_in("inbox") == []
    assert set(emulator.mailbox(t_login).folder_paths()) == before_paths


def test_only_emails_between_imap_and_exchange(running_stack: StackInfo, accounts: Accounts,
                                              emulator: EwsEmulator) -> None:
    src = accounts.new("src")
    login, password = new_mailbox(emulator, "ews-x")
    body = {"source": accounts.endpoint(src), "target": endpoint(emulator, login, password),
            "options": ["emails", "contacts"]}
    resp = httpx.post(f"{running_stack.intake_url}/api/v1/migrations", json=body, timeout=60)
    assert resp.status_code == 422
    assert "only e-mails can be migrated" in resp.json()["error"]["message"]
    wrong = {**body, "options": ["emails"], "target": {**endpoint(emulator, login, "nope")}}
    err = httpx.post(f"{running_stack.intake_url}/api/v1/migrations", json=wrong, timeout=60).json()["error"]
    assert (err["code"], err["side"]) == ("authentication_failed", "target")


def test_a_german_exchange_mailbox_maps_to_the_imap_special_folders(running_stack: StackInfo, accounts: Accounts,
                                                                    emulator: EwsEmulator) -> None:
    login = f"de-{random.randrange(10**9)}@example.test"
    emulator.add_mailbox(login, "de-pw-123", locale="de")
    acc = account(emulator, login, "de-pw-123")
    acc.locale = "de_DE"
    assert acc.sent.name == "Gesendete Elemente" and acc.junk.name == "Junk-E-Mail"
    rng = random.Random(1)
    Message(account=acc, folder=acc.sent, mime_content=seed.generated(1, rng), is_read=True,
            delivery_time=EWSDateTime.from_datetime(datetime(2024, 2, 2, 12, 0, tzinfo=UTC))).save()
    Message(account=acc, folder=acc.junk, mime_content=seed.generated(2, rng),
            delivery_time=EWSDateTime.from_datetime(datetime(2024, 2, 3, 12, 0, tzinfo=UTC))).save()
    dst = accounts.new("dst")
    _mid, st = migrate(running_stack, endpoint(emulator, login, "de-pw-123"), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    with accounts.client(dst) as c:
        names = {n for _f, _d, n in c.list_folders()}
        assert not {"Gesendete Elemente", "Junk-E-Mail"} & names  # into the target's own \Sent and \Junk
        for folder in ("Sent", "Junk"):
            c.select_folder(folder, readonly=True)
            assert len(c.search("ALL")) == 1, folder


def test_oauth2_bearer_token_logs_in(emulator: EwsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exchange Online takes OAuth2 only: the access token is given where the password would be."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain http
    login, _password = new_mailbox(emulator, "oauth")
    emulator.add_token("token-abc", mailbox=login)
    port = int(urlsplit(emulator.url).port or 80)
    ews_connection.check_login("127.0.0.1", port, "none", login, "token-abc", auth="oauth2")
    acc = ews_connection.connect_ews("127.0.0.1", port, "none", login, "token-abc", auth="oauth2")
    assert acc.inbox.name == "Inbox"
    from shared.errors import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        ews_connection.check_login("127.0.0.1", port, "none", login, "wrong-token", auth="oauth2")
