"""What Exchange items keep through a migration, read back from the target field by field.

The whole stack runs (broker, Redis, the four services); Exchange is the EWS emulator, which keeps
values typed as Exchange does. Sources are filled through exchangelib directly, targets are read
through exchangelib (or IMAP), and every expectation is written out in the test: none is produced
by mailferry's own converters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from exchangelib import Account, EWSDateTime, EWSTimeZone, Message
from exchangelib.extended_properties import ExtendedProperty

from mailferry.stack import StackInfo
from tests.conftest import Accounts
from tests.e2e.flows import migrate, start, wait_final
from tests.e2e.test_ews_mail import endpoint, new_mailbox
from tests.ews_client import emulator_account
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


def account(emu: EwsEmulator, login: str, password: str) -> Account:
    return emulator_account(emu.url, login, password, timezone=EWSTimeZone("UTC"))


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


LONG_CATEGORY = "Quarterly-review-of-the-project-Alpha-follow-up-actions-2024"  # 60 characters, an IMAP atom


def test_a_category_too_long_for_the_imap_target_is_reported_and_the_message_copied(
        running_stack: StackInfo, accounts: Accounts, emulator: EwsEmulator) -> None:
    """Dovecot refuses keywords longer than 50 bytes: the message arrives without that one, and says so."""
    src, src_pw = new_mailbox(emulator, "kw-a")
    acc = account(emulator, src, src_pw)
    for n, (subject, categories) in enumerate({"long": [LONG_CATEGORY], "normal": ["Red Category"],
                                               "both": [LONG_CATEGORY, "Work"]}.items()):
        Message(account=acc, folder=acc.inbox, mime_content=mime(subject, n), is_read=True,
                categories=categories).save()
    dst = accounts.new("kw-b")
    mid, st = migrate(running_stack, endpoint(emulator, src, src_pw), accounts.endpoint(dst))
    assert st["state"] == "completed", st
    assert (st["items"]["emails"]["done"], st["items"]["emails"]["failed"]) == (3, 0), st
    assert imap_flags(accounts, dst) == {
        "long": {"\\Seen"},
        "normal": {"\\Seen", "Red&ACA-Category"},
        "both": {"\\Seen", "Work"},
    }
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src},
                       timeout=30).json()["items"]
    lost = f"copied without the flags the target cannot store: {LONG_CATEGORY}"
    assert sorted((r["subject"], r["result"], r["reason"]) for r in report if r["item_type"] == "email") == [
        ("both", "done", lost), ("long", "done", lost)]


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


# -- contacts, groups, calendar, tasks, rules and the auto-reply, Exchange to Exchange ---------------------

BERLIN = EWSTimeZone("Europe/Berlin")
UTC_TZ = EWSTimeZone("UTC")
PHOTO = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + bytes(range(64)) + b"\xff\xd9"
PIM = ["contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"]


def fill_pim(acc: Account) -> None:
    """One of each, with every field mailferry says it carries, made with exchangelib alone."""
    from exchangelib import CalendarItem, Contact, DistributionList, EWSDate, OofSettings, Task
    from exchangelib.attachments import FileAttachment
    from exchangelib.folders import Folder
    from exchangelib.indexed_properties import EmailAddress, ImAddress, PhoneNumber, PhysicalAddress
    from exchangelib.properties import Actions, Address, Attendee, Conditions, Exceptions, Mailbox, Member, Rule
    from exchangelib.recurrence import NumberedPattern, Recurrence, TaskRecurrence, WeeklyPattern

    ann = Contact(
        account=acc, folder=acc.contacts, display_name="Ann Lee", given_name="Ann", middle_name="Marie",
        surname="Lee", generation="Jr.", nickname="Annie", company_name="Example GmbH", department="R&D",
        job_title="Engineer", assistant_name="Bea Assist", manager="Carl Boss", spouse_name="Dan Lee",
        office="Building 7", profession="Physicist", business_homepage="https://example.test/ann",
        initials="A.M.L.", children=["Eve"],  # Exchange fields mailferry does not carry: reported
        body="Met at the fair.\nSecond line.", categories=["Red Category", "Kunden"],
        birthday=EWSDate(1980, 5, 17), wedding_anniversary=EWSDate(2005, 6, 1), postal_address_index="Business",
        email_addresses=[EmailAddress(email="ann@work.example", label="EmailAddress1"),
                         EmailAddress(email="ann@home.example", label="EmailAddress2"),
                         EmailAddress(email="ann.lee@other.example", label="EmailAddress3")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+49 30 1234"),
                       PhoneNumber(label="HomePhone", phone_number="+49 30 5678"),
                       PhoneNumber(label="MobilePhone", phone_number="+49 170 999"),
                       PhoneNumber(label="BusinessFax", phone_number="+49 30 1235"),
                       PhoneNumber(label="Pager", phone_number="555")],
        physical_addresses=[PhysicalAddress(label="Business", street="Hauptstr. 1", city="Berlin", state="BE",
                                            zipcode="10115", country="Germany"),
                            PhysicalAddress(label="Home", street="Gartenweg 2", city="Potsdam", state="BB",
                                            zipcode="14467", country="Germany")],
        im_addresses=[ImAddress(label="ImAddress1", im_address="xmpp:ann@chat.example")])
    ann.save()
    ann.attach(FileAttachment(name="ContactPicture.jpg", content=PHOTO, content_type="image/jpeg",
                              is_contact_photo=True))

    DistributionList(account=acc, folder=acc.contacts, display_name="Team Süd", members=[
        Member(mailbox=Mailbox(name="Ann Lee", email_address="ann@work.example", routing_type="SMTP")),
        Member(mailbox=Mailbox(name="Bob", email_address="bob@example.test", routing_type="SMTP"))]).save()

    people = {"required_attendees": [Attendee(mailbox=Mailbox(name="Bob", email_address="bob@example.test"))],
              "optional_attendees": [Attendee(mailbox=Mailbox(name="Cem", email_address="cem@example.test"))],
              "resources": [Attendee(mailbox=Mailbox(name="Room 7", email_address="room7@example.test"))]}
    for n, status in enumerate(("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")):
        CalendarItem(account=acc, folder=acc.calendar, subject=f"show as {status}", body=f"about {status}",
                     location="Room 7", start=EWSDateTime(2026, 3, 2 + n, 9, 0, tzinfo=BERLIN),
                     end=EWSDateTime(2026, 3, 2 + n, 10, 30, tzinfo=BERLIN), legacy_free_busy_status=status,
                     categories=["Blue Category"], reminder_is_set=True, reminder_minutes_before_start=15,
                     importance="High", sensitivity="Private", **(people if n == 0 else {})).save()
    CalendarItem(account=acc, folder=acc.calendar, subject="Holiday", start=EWSDate(2026, 5, 1),
                 end=EWSDate(2026, 5, 1), is_all_day=True, legacy_free_busy_status="Free",
                 reminder_is_set=False).save()
    series = CalendarItem(account=acc, folder=acc.calendar, subject="Standup", location="Room 1",
                          start=EWSDateTime(2026, 1, 5, 9, 0, tzinfo=BERLIN),
                          end=EWSDateTime(2026, 1, 5, 9, 15, tzinfo=BERLIN), legacy_free_busy_status="Tentative",
                          reminder_is_set=False,
                          recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1]),
                                                boundary=NumberedPattern(start=EWSDate(2026, 1, 5), number=10)))
    series.save()
    moved = series.occurrence(index=2)  # 12 January
    moved.refresh()
    moved.subject, moved.start, moved.end = ("Standup (moved)", EWSDateTime(2026, 1, 12, 10, 0, tzinfo=BERLIN),
                                             EWSDateTime(2026, 1, 12, 10, 15, tzinfo=BERLIN))
    moved.save(update_fields=["subject", "start", "end"])
    series.occurrence(index=3).delete()  # 19 January

    Task(account=acc, folder=acc.tasks, subject="File the report", body="Numbers from Q1", importance="High",
         sensitivity="Personal", categories=["Green Category"], start_date=EWSDate(2026, 6, 1),
         due_date=EWSDate(2026, 6, 10), status="InProgress", percent_complete=Decimal(40), reminder_is_set=True,
         reminder_due_by=EWSDateTime(2026, 6, 9, 8, 0, tzinfo=UTC_TZ)).save()
    Task(account=acc, folder=acc.tasks, subject="Done already", status="Completed", percent_complete=Decimal(100),
         importance="Low").save()
    Task(account=acc, folder=acc.tasks, subject="Water the plants", start_date=EWSDate(2026, 6, 1),
         due_date=EWSDate(2026, 6, 1), status="NotStarted",
         recurrence=TaskRecurrence(pattern=WeeklyPattern(interval=2, weekdays=[1, 4]),
                                   boundary=NumberedPattern(start=EWSDate(2026, 6, 1), number=6))).save()

    news = Folder(parent=acc.msg_folder_root, name="Newsletters")
    news.save()
    acc.create_rule(Rule(display_name="boss", priority=1, is_enabled=True,
                         conditions=Conditions(from_addresses=[Address(email_address="boss@example.test")],
                                               importance="High"),
                         actions=Actions(forward_to_recipients=[Address(email_address="me@mobile.example")],
                                         mark_as_read=True, assign_categories=["Red Category"])))
    acc.create_rule(Rule(display_name="news", priority=2, is_enabled=False,
                         conditions=Conditions(contains_subject_strings=["newsletter"]),
                         exceptions=Exceptions(sent_to_addresses=[Address(email_address="me@example.test")]),
                         actions=Actions(move_to_folder=news, stop_processing_rules=True)))
    acc.oof_settings = OofSettings(state=OofSettings.SCHEDULED, external_audience="Known",
                                   start=EWSDateTime(2099, 7, 1, 0, 0, tzinfo=UTC_TZ),
                                   end=EWSDateTime(2099, 7, 15, 0, 0, tzinfo=UTC_TZ),
                                   internal_reply="Bin im Urlaub", external_reply="Out of office")


def utc(dt: object) -> str:
    return datetime.fromtimestamp(dt.timestamp(), UTC).strftime("%Y-%m-%d %H:%M")  # type: ignore[attr-defined]


def test_every_field_of_every_item_type_exchange_to_exchange(running_stack: StackInfo,
                                                             emulator: EwsEmulator) -> None:
    from exchangelib import CalendarItem, Contact, DistributionList

    src, src_pw = new_mailbox(emulator, "pim-a")
    dst, dst_pw = new_mailbox(emulator, "pim-b")
    fill_pim(account(emulator, src, src_pw))
    mid = start(running_stack, endpoint(emulator, src, src_pw), endpoint(emulator, dst, dst_pw), options=PIM)
    st = wait_final(running_stack, mid, src)
    assert st["state"] == "completed", json.dumps(st)
    assert {op: (st["items"][op]["done"], st["items"][op]["failed"]) for op in PIM} == {
        "contacts": (1, 0), "contact_groups": (1, 0), "calendars": (8, 0), "tasks": (3, 0), "rules": (2, 0),
        "auto_reply": (1, 0)}
    report = httpx.get(f"{running_stack.intake_url}/api/v1/migrations/{mid}/report", params={"login": src},
                       timeout=30).json()["items"]
    assert [(r["item_type"], r["result"], r["subject"], r["reason"]) for r in report] == [
        ("contact", "done", "Ann Lee", "children ['Eve']; initials 'A.M.L.'")]  # and nothing else lost
    acc = account(emulator, dst, dst_pw)

    [c] = [x for x in acc.contacts.all() if type(x) is Contact]
    assert (c.display_name, c.given_name, c.middle_name, c.surname, c.generation, c.nickname) == (
        "Ann Lee", "Ann", "Marie", "Lee", "Jr.", "Annie")
    assert (c.company_name, c.department, c.job_title) == ("Example GmbH", "R&D", "Engineer")
    assert (c.assistant_name, c.manager, c.spouse_name, c.office, c.profession) == (
        "Bea Assist", "Carl Boss", "Dan Lee", "Building 7", "Physicist")
    assert c.business_homepage == "https://example.test/ann"
    assert str(c.body) == "Met at the fair.\nSecond line."
    assert c.categories == ["Red Category", "Kunden"]
    assert (str(c.birthday)[:10], str(c.wedding_anniversary)[:10]) == ("1980-05-17", "2005-06-01")
    assert sorted(e.email for e in c.email_addresses) == ["ann.lee@other.example", "ann@home.example",
                                                          "ann@work.example"]
    assert {p.label: p.phone_number for p in c.phone_numbers} == {
        "BusinessPhone": "+49 30 1234", "HomePhone": "+49 30 5678", "MobilePhone": "+49 170 999",
        "BusinessFax": "+49 30 1235", "Pager": "555"}
    assert {a.label: (a.street, a.city, a.state, a.zipcode, a.country) for a in c.physical_addresses} == {
        "Business": ("Hauptstr. 1", "Berlin", "BE", "10115", "Germany"),
        "Home": ("Gartenweg 2", "Potsdam", "BB", "14467", "Germany")}
    assert c.postal_address_index == "Business"
    assert [i.im_address for i in c.im_addresses] == ["xmpp:ann@chat.example"]
    [photo] = [a for a in c.attachments if a.is_contact_photo]
    assert photo.content == PHOTO

    [dl] = [x for x in acc.contacts.all() if type(x) is DistributionList]
    assert dl.display_name == "Team Süd"
    assert sorted((m.mailbox.name, m.mailbox.email_address) for m in dl.members) == [
        ("Ann Lee", "ann@work.example"), ("Bob", "bob@example.test")]

    events = {e.subject: e for e in acc.calendar.all() if type(e) is CalendarItem}
    source_uids = {e.subject: e.uid for e in account(emulator, src, src_pw).calendar.all()}
    assert {subject: e.uid for subject, e in events.items()} == source_uids  # meetings stay correlated
    assert sorted(events) == sorted(["Holiday", "Standup", *(f"show as {s}" for s in (
        "Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"))])
    for n, status in enumerate(("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")):
        e = events[f"show as {status}"]
        assert e.legacy_free_busy_status == status
        assert (str(e.body), e.location, e.categories) == (f"about {status}", "Room 7", ["Blue Category"])
        assert (utc(e.start), utc(e.end)) == (f"2026-03-0{2 + n} 08:00", f"2026-03-0{2 + n} 09:30")
        assert e._start_timezone.key == "Europe/Berlin"
        assert (e.reminder_is_set, e.reminder_minutes_before_start) == (True, 15)
        assert (e.importance, e.sensitivity, e.is_all_day) == ("High", "Private", False)
    first = events["show as Free"]
    assert [(a.mailbox.name, a.mailbox.email_address) for a in first.required_attendees] == [
        ("Bob", "bob@example.test")]
    assert [(a.mailbox.name, a.mailbox.email_address) for a in first.optional_attendees] == [
        ("Cem", "cem@example.test")]
    assert [(a.mailbox.name, a.mailbox.email_address) for a in first.resources] == [
        ("Room 7", "room7@example.test")]
    holiday = events["Holiday"]
    assert (holiday.is_all_day, str(holiday.start)[:10], str(holiday.end)[:10]) == (True, "2026-05-01",
                                                                                   "2026-05-01")
    assert (holiday.legacy_free_busy_status, holiday.reminder_is_set) == ("Free", False)
    standup = events["Standup"]
    assert (standup.location, standup.legacy_free_busy_status, standup.reminder_is_set) == (
        "Room 1", "Tentative", False)
    assert (utc(standup.start), utc(standup.end)) == ("2026-01-05 08:00", "2026-01-05 08:15")
    pattern, boundary = standup.recurrence.pattern, standup.recurrence.boundary
    assert (type(pattern).__name__, pattern.interval, [int(d) for d in pattern.weekdays]) == (
        "WeeklyPattern", 1, [1])
    assert (type(boundary).__name__, str(boundary.start)[:10], boundary.number) == (
        "NumberedPattern", "2026-01-05", 10)
    [moved_ref] = standup.modified_occurrences
    [moved] = list(acc.fetch(ids=[moved_ref.to_id()]))
    assert (moved.subject, utc(moved.start), utc(moved.end)) == ("Standup (moved)", "2026-01-12 09:00",
                                                                "2026-01-12 09:15")
    assert [utc(d.start) for d in standup.deleted_occurrences] == ["2026-01-19 08:00"]

    tasks = {t.subject: t for t in acc.tasks.all()}
    assert sorted(tasks) == ["Done already", "File the report", "Water the plants"]
    plants = tasks["Water the plants"]
    assert (str(plants.start_date), str(plants.due_date), plants.status) == ("2026-06-01", "2026-06-01",
                                                                            "NotStarted")
    pattern, boundary = plants.recurrence.pattern, plants.recurrence.boundary
    assert (type(pattern).__name__, pattern.interval, [int(d) for d in pattern.weekdays]) == (
        "WeeklyPattern", 2, [1, 4])
    assert (type(boundary).__name__, str(boundary.start)[:10], boundary.number) == (
        "NumberedPattern", "2026-06-01", 6)
    t = tasks["File the report"]
    assert (str(t.body), t.importance, t.sensitivity, t.categories) == (
        "Numbers from Q1", "High", "Personal", ["Green Category"])
    assert (str(t.start_date), str(t.due_date)) == ("2026-06-01", "2026-06-10")
    assert (t.status, int(t.percent_complete)) == ("InProgress", 40)
    assert (t.reminder_is_set, utc(t.reminder_due_by)) == (True, "2026-06-09 08:00")
    done = tasks["Done already"]
    assert (done.status, int(done.percent_complete), done.importance) == ("Completed", 100, "Low")

    rules = {r.display_name: r for r in acc.rules}
    assert sorted(rules) == ["boss", "news"]
    boss, news = rules["boss"], rules["news"]
    assert (boss.priority, boss.is_enabled, news.priority, news.is_enabled) == (1, True, 2, False)
    assert [a.email_address for a in boss.conditions.from_addresses] == ["boss@example.test"]
    assert boss.conditions.importance == "High"
    assert [a.email_address for a in boss.actions.forward_to_recipients] == ["me@mobile.example"]
    assert (boss.actions.mark_as_read, boss.actions.assign_categories) == (True, ["Red Category"])
    assert news.conditions.contains_subject_strings == ["newsletter"]
    assert [a.email_address for a in news.exceptions.sent_to_addresses] == ["me@example.test"]
    assert news.actions.stop_processing_rules is True
    [target] = [f for f in acc.msg_folder_root.walk() if f.id == news.actions.move_to_folder.folder_id.id]
    assert (target.name, target.parent_folder_id.id) == ("Newsletters", acc.msg_folder_root.id)

    oof = acc.oof_settings
    assert (oof.state, oof.external_audience, oof.internal_reply, oof.external_reply) == (
        "Scheduled", "Known", "Bin im Urlaub", "Out of office")
    assert (utc(oof.start), utc(oof.end)) == ("2099-07-01 00:00", "2099-07-15 00:00")
