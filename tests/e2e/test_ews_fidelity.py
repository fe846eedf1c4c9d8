"""What Exchange items keep through a migration, read back from the target field by field.

The whole stack runs (broker, Redis, the four services); Exchange is the EWS emulator, which keeps
values typed as Exchange does. Sources are filled through exchangelib directly, targets are read
through exchangelib (or IMAP), and every expectation is written out in the test: none is produced
by mailferry's own converters.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from exchangelib import DELEGATE, Account, Configuration, Credentials, EWSDateTime, EWSTimeZone, Message, Version
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.transport import BASIC
from exchangelib.version import EXCHANGE_2016

from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate
from tests.ews_emulator import EwsEmulator


class FollowUpStatus(ExtendedProperty):  # type: ignore[misc]
    """PR_FLAG_STATUS (MS-OXOFLAG): absent = not flagged, 1 = complete, 2 = flagged."""

    property_tag = 0x1090
    property_type = "Integer"


class Received(ExtendedProperty):  # type: ignore[misc]
    """PR_MESSAGE_DELIVERY_TIME."""

    property_tag = 0x0E06
    property_type = "SystemTime"


for _name, _cls in (("followup_status", FollowUpStatus), ("received_at", Received)):
    if _name not in {f.name for f in Message.FIELDS}:
        Message.register(_name, _cls)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EwsEmulator]:
    with EwsEmulator() as emu:
        yield emu


def new_mailbox(emu: EwsEmulator, name: str) -> tuple[str, str]:
    login = f"{name}-{random.randrange(10**9)}@example.test"
    emu.add_mailbox(login, "pw-" + login[:8])
    return login, "pw-" + login[:8]


def endpoint(emu: EwsEmulator, login: str, password: str) -> dict[str, object]:
    return {"type": "ews", "host": "127.0.0.1", "port": urlsplit(emu.url).port, "security": "none",
            "login": login, "password": password}


def account(emu: EwsEmulator, login: str, password: str) -> Account:
    config = Configuration(service_endpoint=emu.url, credentials=Credentials(login, password), auth_type=BASIC,
                           version=Version(build=EXCHANGE_2016))
    return Account(login, config=config, autodiscover=False, access_type=DELEGATE,
                   default_timezone=EWSTimeZone("UTC"))


def mime(subject: str, n: int) -> bytes:
    return (f"From: Bob <bob@example.test>\r\nTo: me@example.test\r\nSubject: {subject}\r\n"
            f"Date: Tue, 02 Jan 2024 10:{n:02d}:00 +0000\r\nMessage-ID: <{subject}@example.test>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nbody {n}\r\n").encode()


# subject -> (read, PR_FLAG_STATUS, categories) of the Exchange source's messages
EWS_MAIL = {
    "plain": (True, None, ["Red Category", "Work"]),
    "flagged": (False, 2, []),
    "completed": (True, 1, ["Büro (alt)"]),
}


def fill_ews_mail(acc: Account) -> None:
    for n, (subject, (read, status, categories)) in enumerate(EWS_MAIL.items()):
        msg = Message(account=acc, folder=acc.inbox, mime_content=mime(subject, n), is_read=read,
                      categories=categories or None,
                      received_at=EWSDateTime.from_datetime(datetime(2024, 1, 2, 10, n, tzinfo=UTC)))
        if status is not None:
            msg.followup_status = status
        msg.save()


def ews_mail_state(acc: Account) -> dict[str, tuple[bool, int | None, list[str]]]:
    return {m.subject: (m.is_read, m.followup_status, list(m.categories or []))
            for m in acc.inbox.all().only("subject", "is_read", "followup_status", "categories")}


def imap_flags(accounts: Accounts, login: str) -> dict[str, set[str]]:
    with accounts.client(login) as c:
        c.select_folder("INBOX", readonly=True)
        got = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {bytes(v[b"BODY[HEADER.FIELDS (SUBJECT)]"]).decode().split(":", 1)[1].strip():
            {f.decode() for f in v[b"FLAGS"]} - {"\\Recent"} for v in got.values()}


def test_follow_up_state_and_categories_exchange_to_exchange(running_stack: StackInfo,
                                                             emulator: EwsEmulator) -> None:
    src, src_pw = new_mailbox(emulator, "flags-a")
    dst, dst_pw = new_mailbox(emulator, "flags-b")
    fill_ews_mail(account(emulator, src, src_pw))
    _mid, st = migrate(running_stack, endpoint(emulator, src, src_pw), endpoint(emulator, dst, dst_pw))
    assert st["state"] == "completed", st
    assert ews_mail_state(account(emulator, dst, dst_pw)) == {
        "plain": (True, None, ["Red Category", "Work"]),
        "flagged": (False, 2, []),
        "completed": (True, 1, ["Büro (alt)"]),
    }


def test_follow_up_state_and_categories_exchange_to_imap(running_stack: StackInfo, accounts: Accounts,
                                                         emulator: EwsEmulator) -> None:
    src, src_pw = new_mailbox(emulator, "flags-c")
    fill_ews_mail(account(emulator, src, src_pw))
    dst = accounts.new("flags-d")
    _mid, st = migrate(running_stack, endpoint(emulator, src, src_pw), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert imap_flags(accounts, dst) == {
        "plain": {"\\Seen", "Red&ACA-Category", "Work"},
        "flagged": {"\\Flagged"},
        "completed": {"\\Seen", "$Completed", "B&APw-ro&ACAAKA-alt&ACk-"},
    }


def test_follow_up_state_and_categories_imap_to_exchange(running_stack: StackInfo, accounts: Accounts,
                                                         emulator: EwsEmulator) -> None:
    src = accounts.new("flags-e")
    with accounts.client(src) as c:
        for n, (subject, flags) in enumerate({
            "done": [b"\\Seen", b"$Completed", b"Red&ACA-Category"],
            "todo": [b"\\Flagged", b"R&D", b"$Label1"],
            "none": [],
        }.items()):
            c.append("INBOX", mime(subject, n), flags=flags, msg_time=datetime(2024, 1, 2, 10, n, tzinfo=UTC))
    dst, dst_pw = new_mailbox(emulator, "flags-f")
    _mid, st = migrate(running_stack, accounts.endpoint(src), endpoint(emulator, dst, dst_pw))
    assert st["state"] == "completed", st
    assert ews_mail_state(account(emulator, dst, dst_pw)) == {
        "done": (True, 1, ["Red Category"]),
        "todo": (False, 2, ["R&D", "$Label1"]),
        "none": (False, None, []),
    }
