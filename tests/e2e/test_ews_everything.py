"""Exchange → Exchange with every option, then undo: against the EWS emulator (the one test double).

Contacts from the real corpus vCards, a contact group with members, a recurring
event with a modified and a deleted occurrence, an all-day event, a task, an
inbox rule and the auto-reply. Undo removes what was created and puts the
target's own rules and auto-reply back.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from exchangelib import EWSDateTime, EWSTimeZone, Message, OofSettings
from exchangelib.properties import Actions, Conditions, Rule

from mailferry import seed
from mailferry.stack import StackInfo
from shared.adapters.ews import connection as ews_connection
from shared.adapters.ews import fields  # noqa: F401 - registers the extended properties
from shared.adapters.ews.mapping import contact_to_ews
from shared.formats import FormatError
from shared.formats.vcard import parse_vcard
from tests.e2e.flows import start, wait_final
from tests.ews_emulator import EwsEmulator
from tests.ews_emulator.pim_seed import WEEKLY_STANDUP, add_news_rule, save_calendar, save_group

CORPUS_VCF = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "vcf"
ALL = ["emails", "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"]
BERLIN = EWSTimeZone("Europe/Berlin")

ALL_DAY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:holiday@test\r
DTSTART;VALUE=DATE:20260501\r
DTEND;VALUE=DATE:20260502\r
SUMMARY:Holiday\r
END:VEVENT\r
BEGIN:VTODO\r
UID:task@test\r
SUMMARY:File the report\r
DUE;VALUE=DATE:20260610\r
PERCENT-COMPLETE:40\r
STATUS:IN-PROCESS\r
END:VTODO\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module")
def emulator() -> EwsEmulator:
    emu = EwsEmulator()
    emu.start()
    yield emu  # type: ignore[misc]
    emu.stop()


def endpoint(emu: EwsEmulator, login: str, password: str) -> dict[str, object]:
    return {"type": "ews", "host": "127.0.0.1", "port": urlsplit(emu.url).port, "security": "none",
            "login": login, "password": password}


def account(emu: EwsEmulator, login: str, password: str):  # type: ignore[no-untyped-def]
    acc = ews_connection.connect_ews("127.0.0.1", int(urlsplit(emu.url).port or 80), "none", login, password)
    acc.default_timezone = BERLIN
    return acc


def fill_source(acc) -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for path in sorted(CORPUS_VCF.rglob("*.vcf"))[:12]:
        try:
            card = parse_vcard(path.read_bytes())
        except FormatError:
            continue  # broken on purpose, or several cards in one file
        mapped = contact_to_ews(card, account=acc, folder=acc.contacts)
        mapped.value.save()
        names.append(mapped.value.display_name)
    save_group(acc, "Team", [("Ann", "ann@example.test"), ("Bob", "bob@example.test"), ("Cem", "cem@example.test")])
    for text in (WEEKLY_STANDUP, ALL_DAY):
        save_calendar(acc, text)
    add_news_rule(acc)
    start_at = EWSDateTime(2099, 7, 1, 0, 0, tzinfo=EWSTimeZone("UTC"))
    acc.oof_settings = OofSettings(state=OofSettings.SCHEDULED, external_audience="Known", start=start_at,
                                   end=start_at + timedelta(days=14), internal_reply="Bin im Urlaub",
                                   external_reply="Out of office")
    rng = random.Random(2)
    for i in range(5):
        Message(account=acc, folder=acc.inbox, mime_content=seed.generated(i, rng)).save()
    return names


def test_exchange_to_exchange_every_option_then_undo(running_stack: StackInfo, emulator: EwsEmulator) -> None:
    emulator.add_mailbox("boss@old.test", "old-pw-1")
    emulator.add_mailbox("boss@new.test", "new-pw-1")
    src = account(emulator, "boss@old.test", "old-pw-1")
    dst = account(emulator, "boss@new.test", "new-pw-1")
    names = fill_source(src)
    assert len(names) >= 3
    dst.create_rule(Rule(display_name="mine", priority=1, is_enabled=True,
                         conditions=Conditions(contains_sender_strings=["boss"]), actions=Actions(mark_as_read=True)))
    dst.oof_settings = OofSettings(state=OofSettings.DISABLED, external_audience="All",
                                   internal_reply="old internal", external_reply="old external")
    folders_before = {f.name for f in account(emulator, "boss@new.test", "new-pw-1").msg_folder_root.children}

    mid = start(running_stack, endpoint(emulator, "boss@old.test", "old-pw-1"),
                endpoint(emulator, "boss@new.test", "new-pw-1"), options=ALL)
    st = wait_final(running_stack, mid, "boss@old.test")
    assert st["state"] == "completed", st
    items = st["items"]
    assert items["emails"]["done"] == 5
    assert items["contacts"]["done"] == len(names)
    assert items["contact_groups"]["done"] == 1 and items["tasks"]["done"] == 1
    assert items["calendars"]["done"] == 2 and items["rules"]["done"] == 1 and items["auto_reply"]["done"] == 1

    got_names = sorted(c.display_name for c in dst.contacts.all() if c.__class__.__name__ == "Contact")
    assert got_names == sorted(names)
    [team] = [d for d in dst.contacts.all() if d.__class__.__name__ == "DistributionList"]
    assert sorted(m.mailbox.email_address for m in team.members) == ["ann@example.test", "bob@example.test",
                                                                     "cem@example.test"]
    events = {e.subject: e for e in dst.calendar.all()}
    assert set(events) == {"Standup", "Holiday"}
    standup = events["Standup"]
    assert standup.recurrence is not None and standup.recurrence.boundary.number == 10
    assert len(standup.modified_occurrences or []) == 1 and len(standup.deleted_occurrences or []) == 1
    assert events["Holiday"].is_all_day
    [task] = list(dst.tasks.all())
    assert task.subject == "File the report" and int(task.percent_complete) == 40
    rules = {r.display_name: r for r in dst.rules}
    assert set(rules) == {"mine", "news"}
    assert rules["news"].conditions.contains_subject_strings == ["newsletter"]
    oof = dst.oof_settings
    assert (oof.state, oof.internal_reply) == (OofSettings.SCHEDULED, "Bin im Urlaub")

    resp = httpx.post(f"{running_stack.intake_url}/api/v1/migrations/{mid}/undo",
                      json={"login": "boss@old.test", "target_password": "new-pw-1"}, timeout=60)
    assert resp.status_code == 202, resp.text
    st = wait_final(running_stack, mid, "boss@old.test")
    assert st["state"] == "undone", st
    assert list(dst.contacts.all()) == []
    assert list(dst.calendar.all()) == [] and list(dst.tasks.all()) == []
    assert [r.display_name for r in dst.rules] == ["mine"]
    oof = dst.oof_settings
    assert (oof.state, oof.internal_reply, oof.external_reply) == (OofSettings.DISABLED, "old internal",
                                                                  "old external")
    assert list(dst.inbox.all()) == []
    assert st["undo"]["done"] == st["undo"]["total"] and st["undo"]["kept"] == [], st["undo"]
    # The folder the rule moves mail into was created by the migration: undo removes it too.
    assert {f.name for f in account(emulator, "boss@new.test", "new-pw-1").msg_folder_root.children} == folders_before


def test_ews_to_imap_refuses_other_item_types(running_stack: StackInfo, emulator: EwsEmulator) -> None:
    emulator.add_mailbox("x@old.test", "x-pw-1")
    body = {"source": endpoint(emulator, "x@old.test", "x-pw-1"),
            "target": {"type": "imap", "host": "127.0.0.1", "port": 1, "security": "none", "login": "y@example.test",
                       "password": "pw"},
            "options": ["emails", "calendars"]}
    resp = httpx.post(f"{running_stack.intake_url}/api/v1/migrations", json=body, timeout=60)
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "options" and "only e-mails" in resp.json()["error"]["message"]


def test_pst_file_into_exchange_with_contacts_calendar_and_lists(running_stack: StackInfo,
                                                                 emulator: EwsEmulator) -> None:
    pst = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "pst" / "dist-list.pst"
    emulator.add_mailbox("pst@new.test", "pst-pw-1")
    target = {**endpoint(emulator, "pst@new.test", "pst-pw-1")}
    with pst.open("rb") as fh:
        resp = httpx.post(f"{running_stack.intake_url}/api/v1/pst-migrations",
                          data={"target": __import__("json").dumps(target),
                                "options": '["emails", "contacts", "contact_groups", "calendars", "tasks"]'},
                          files={"file": ("dist-list.pst", fh, "application/octet-stream")}, timeout=120)
    assert resp.status_code == 202, resp.text
    st = wait_final(running_stack, resp.json()["id"], "pst@new.test")
    assert st["state"] in ("completed", "completed_with_errors"), st
    items = st["items"]
    assert items["contacts"]["done"] >= 1 and items["contact_groups"]["done"] >= 1
    assert items["calendars"]["done"] >= 1
    dst = account(emulator, "pst@new.test", "pst-pw-1")
    kinds = {c.__class__.__name__ for c in dst.contacts.all()}
    assert {"Contact", "DistributionList"} <= kinds
    [group] = [d for d in dst.contacts.all() if d.__class__.__name__ == "DistributionList"]
    assert group.members
    # The weekly series: its 15-minute reminder, and each moved occurrence with its own body (pffexport shows
    # the series' PidLidReminderDelta 15 and the bodies of the two exception attachments).
    [series] = [e for e in dst.calendar.all() if e.subject == "Test appointment"]
    assert (series.reminder_is_set, series.reminder_minutes_before_start) == (True, 15)
    moved = list(dst.fetch(ids=[o.to_id() for o in series.modified_occurrences or []]))
    assert sorted(str(m.body).strip() for m in moved) == ["This is the appointment at 9", "This is the one at 10"]
