"""The EWS emulator (tests/ews_emulator) against the real exchangelib client."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

exchangelib = pytest.importorskip("exchangelib")

from exchangelib import (  # noqa: E402
    DELEGATE,
    OAUTH2,
    Account,
    CalendarItem,
    Configuration,
    Contact,
    Credentials,
    DistributionList,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    FaultTolerance,
    FileAttachment,
    Folder,
    Message,
    OAuth2AuthorizationCodeCredentials,
    OofSettings,
    Task,
    Version,
)
from exchangelib.errors import (  # noqa: E402
    ErrorDeleteDistinguishedFolder,
    ErrorFolderExists,
    ErrorFolderNotFound,
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorSchemaValidation,
    UnauthorizedError,
)
from exchangelib.extended_properties import ExtendedProperty, Flag  # noqa: E402
from exchangelib.indexed_properties import EmailAddress, PhoneNumber  # noqa: E402
from exchangelib.properties import (  # noqa: E402
    Actions,
    Attendee,
    Conditions,
    DLMailbox,
    ItemId,
    Mailbox,
    Member,
    Rule,
)
from exchangelib.recurrence import AbsoluteMonthlyPattern, DailyPattern, Recurrence, WeeklyPattern  # noqa: E402
from exchangelib.transport import BASIC  # noqa: E402
from exchangelib.version import EXCHANGE_2016  # noqa: E402

try:
    from tests.ews_emulator import EwsEmulator
except ModuleNotFoundError:  # pytest without the repo root on sys.path (no pythonpath setting yet)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

ALICE, PW = "alice@example.test", "s3cret"
PROJ = "Projekte \u2013 \u00c4rger"  # en dash + umlaut
UTC = EWSTimeZone("UTC")


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(ALICE, PW)
        yield e


def account(emu: EwsEmulator, password: str = PW, retry_policy: object = None) -> Account:
    config = Configuration(
        service_endpoint=emu.url,
        credentials=Credentials(ALICE, password),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        **({"retry_policy": retry_policy} if retry_policy else {}),
    )
    return Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE, default_timezone=UTC)


def mime(n: int) -> bytes:
    return (
        f"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: message {n} \u00fcml\r\n"
        f"Date: Tue, 02 Jan 2024 10:{n % 60:02d}:00 +0100\r\nMessage-ID: <m{n}@example.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Body {n} with trailing spaces   \r\n\r\n"
    ).encode()


# -- auth -------------------------------------------------------------------------


def test_basic_auth_ok_and_wrong_password_is_unauthorized(emu: EwsEmulator) -> None:
    assert account(emu).inbox.name == "Inbox"
    with pytest.raises(UnauthorizedError):
        _ = account(emu, password="wrong").inbox
    assert emu.unauthorized_answers >= 1


def test_oauth_bearer_token(emu: EwsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain http
    emu.add_token("tok-123", mailbox=ALICE)
    token = {
        "access_token": "tok-123",
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": time.time() + 3600,
    }
    config = Configuration(
        service_endpoint=emu.url,
        credentials=OAuth2AuthorizationCodeCredentials(access_token=token),
        auth_type=OAUTH2,
        version=Version(build=EXCHANGE_2016),
    )
    acc = Account(ALICE, config=config, autodiscover=False, access_type=DELEGATE, default_timezone=UTC)
    assert acc.inbox.name == "Inbox"
    bad = {**token, "access_token": "nope"}
    config2 = Configuration(
        service_endpoint=emu.url,
        credentials=OAuth2AuthorizationCodeCredentials(access_token=bad),
        auth_type=OAUTH2,
        version=Version(build=EXCHANGE_2016),
    )
    with pytest.raises(UnauthorizedError):
        _ = Account(ALICE, config=config2, autodiscover=False, access_type=DELEGATE).inbox


# -- folders -------------------------------------------------------------------------


def test_folder_create_find_get_delete_nested_and_non_ascii(emu: EwsEmulator) -> None:
    acc = account(emu)
    parent = Folder(parent=acc.inbox, name=PROJ)
    parent.save()
    child = Folder(parent=parent, name="日本語 / sub")
    child.save()
    assert emu.mailbox(ALICE).folder(("Inbox", PROJ, "日本語 / sub")).id == child.id

    acc.root.refresh()
    names = {f.name for f in acc.inbox.walk()}
    assert {PROJ, "日本語 / sub"} <= names
    fetched = acc.inbox / PROJ / "日本語 / sub"
    assert fetched.id == child.id
    assert [f.name for f in parent.children] == ["日本語 / sub"]

    with pytest.raises(ErrorFolderExists):
        Folder(parent=acc.inbox, name=PROJ.lower()).save()
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        acc.inbox.delete()

    parent_id = parent.id
    parent.delete()
    assert "Inbox/" + PROJ not in emu.mailbox(ALICE).folder_paths()
    with pytest.raises(ErrorFolderNotFound):
        Folder(root=acc.root, id=parent_id).refresh()


def test_german_locale_folder_names() -> None:
    with EwsEmulator(locale="de") as emu:
        emu.add_mailbox(ALICE, PW)
        acc = account(emu)
        acc.locale = "de_DE"
        assert acc.inbox.name == "Posteingang"
        assert acc.sent.name == "Gesendete Elemente"
        assert acc.drafts.name == "Entwürfe"
        assert acc.trash.name == "Gelöschte Elemente"
        assert acc.junk.name == "Junk-E-Mail"
        assert acc.calendar.name == "Kalender"
        assert acc.contacts.name == "Kontakte"
        assert acc.tasks.name == "Aufgaben"
        assert "Archiv" in emu.mailbox(ALICE).folder_paths()


# -- messages -------------------------------------------------------------------------


def test_250_mime_messages_round_trip_byte_identical_with_paging(emu: EwsEmulator) -> None:
    acc = account(emu)
    folder = Folder(parent=acc.inbox, name="bulk")
    folder.save()
    sent = [mime(n) for n in range(250)]
    results = acc.bulk_create(folder=folder, items=[Message(account=acc, mime_content=m) for m in sent])
    assert all(not isinstance(r, Exception) for r in results)
    before = emu.operations_served["FindItem"]

    qs = folder.all().only("mime_content", "subject", "datetime_sent")
    qs.page_size = 100
    got = list(qs)

    assert emu.operations_served["FindItem"] - before == 3  # 100 + 100 + 50
    assert sorted(m.mime_content for m in got) == sorted(sent)
    assert {m.subject for m in got} == {f"message {n} \u00fcml" for n in range(250)}
    assert all(m.datetime_sent is not None for m in got)
    assert folder.all().count() == 250
    stored = emu.mailbox(ALICE).items_in("Inbox/bulk")
    assert sorted(i.mime_bytes or b"" for i in stored) == sorted(sent)


def test_find_item_page_size_is_capped_at_1000(emu: EwsEmulator) -> None:
    acc = account(emu)
    folder = Folder(parent=acc.inbox, name="big")
    folder.save()
    acc.bulk_create(folder=folder, items=[Message(account=acc, subject=f"s{n}") for n in range(1005)])
    before = emu.operations_served["FindItem"]
    qs = folder.all().only("subject")
    qs.page_size = 5000
    assert len(list(qs)) == 1005
    assert emu.operations_served["FindItem"] - before == 2


def test_find_item_restriction_and_sort(emu: EwsEmulator) -> None:
    acc = account(emu)
    acc.bulk_create(folder=acc.inbox, items=[Message(account=acc, mime_content=mime(n)) for n in range(5)])
    assert [m.subject for m in acc.inbox.filter(subject="message 3 \u00fcml")] == ["message 3 \u00fcml"]
    assert acc.inbox.filter(subject__contains="message").count() == 5
    assert acc.inbox.filter(is_read=False).count() == 5
    subjects = [m.subject for m in acc.inbox.all().order_by("-subject").only("subject")]
    assert subjects == sorted(subjects, reverse=True)


def test_is_read_flag_and_attachment_round_trip(emu: EwsEmulator) -> None:
    # mailferry's EWS adapters register the same property when they are imported in this process.
    registered_here = "flag" not in {f.name for f in Message.FIELDS}
    if registered_here:
        Message.register("flag", Flag)
    try:
        acc = account(emu)
        msg = Message(account=acc, folder=acc.inbox, mime_content=mime(1), is_read=False)
        msg.save()
        msg.is_read = True
        msg.flag = 2
        msg.save(update_fields=["is_read", "flag"])
        msg.attach(FileAttachment(name="r\u00e9sum\u00e9.pdf", content=b"%PDF-1.4\x00\xff"))
        [back] = list(acc.fetch(ids=[msg]))
        assert back.is_read is True
        assert back.flag == 2
        assert back.mime_content == mime(1)
        assert [a.name for a in back.attachments] == ["r\u00e9sum\u00e9.pdf"]
        assert back.attachments[0].content == b"%PDF-1.4\x00\xff"
        stored = emu.mailbox(ALICE).items_in("inbox")[0]
        assert stored.text("IsRead") == "true"
    finally:
        if registered_here:
            Message.deregister("flag")


def test_change_key_and_unknown_ids(emu: EwsEmulator) -> None:
    acc = account(emu)
    msg = Message(account=acc, folder=acc.inbox, subject="v1")
    msg.save()
    stale = msg.changekey
    msg.subject = "v2"
    msg.save(update_fields=["subject"])
    assert msg.changekey != stale
    old = Message(account=acc, folder=acc.inbox, id=msg.id, changekey=stale, subject="v3", is_read=True)
    with pytest.raises(ErrorIrresolvableConflict):
        acc.bulk_update([(old, ["is_read"])], conflict_resolution="NeverOverwrite")
    with pytest.raises(ErrorIrresolvableConflict):  # the subject changed since 'stale'
        acc.bulk_update([(old, ["subject"])], conflict_resolution="AutoResolve")
    # AutoResolve merges a stale update of a property nobody else changed, as Exchange does
    [res] = acc.bulk_update([(old, ["is_read"])], conflict_resolution="AutoResolve")
    assert not isinstance(res, Exception)
    [res] = acc.bulk_update([(old, ["subject"])], conflict_resolution="AlwaysOverwrite")
    assert not isinstance(res, Exception)
    assert emu.mailbox(ALICE).items_in("inbox")[0].subject == "v3"

    msg_id = msg.id
    msg.delete()
    [missing] = list(acc.fetch(ids=[(msg_id, None)]))
    assert isinstance(missing, ErrorItemNotFound)
    with pytest.raises(ErrorItemNotFound):
        Message(account=acc, folder=acc.inbox, id=msg_id).refresh()


# -- contacts, lists, tasks -------------------------------------------------------------------


def test_contact_and_distribution_list_round_trip(emu: EwsEmulator) -> None:
    acc = account(emu)
    contact = Contact(
        account=acc,
        folder=acc.contacts,
        given_name="Jürgen",
        surname="Müller",
        display_name="Jürgen Müller",
        company_name="ACME GmbH",
        email_addresses=[EmailAddress(email="j@example.test", label="EmailAddress1")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+49 170 1234567")],
    )
    contact.save()
    [c] = list(acc.contacts.all())
    assert (c.given_name, c.surname, c.company_name) == ("Jürgen", "Müller", "ACME GmbH")
    assert [e.email for e in c.email_addresses] == ["j@example.test"]
    assert [p.phone_number for p in c.phone_numbers] == ["+49 170 1234567"]

    dl = DistributionList(
        account=acc,
        folder=acc.contacts,
        display_name="Team",
        members=[
            Member(mailbox=Mailbox(email_address="a@example.test", name="A")),
            Member(mailbox=Mailbox(email_address="b@example.test", name="B")),
        ],
    )
    dl.save()
    [back] = [i for i in acc.contacts.all() if isinstance(i, DistributionList)]
    assert back.display_name == "Team"
    assert sorted(m.mailbox.email_address for m in back.members) == ["a@example.test", "b@example.test"]
    expanded = acc.protocol.expand_dl(DLMailbox(item_id=ItemId(back.id, back.changekey)))
    assert sorted(m.email_address for m in expanded) == ["a@example.test", "b@example.test"]

    emu.add_distribution_list("all@example.test", [ALICE, "ext@other.test"])
    assert sorted(m.email_address for m in acc.protocol.expand_dl("all@example.test")) == [
        ALICE,
        "ext@other.test",
    ]


def test_task_round_trip(emu: EwsEmulator) -> None:
    acc = account(emu)
    due = EWSDate(2024, 3, 1)
    Task(
        account=acc,
        folder=acc.tasks,
        subject="Steuer",
        due_date=due,
        status="InProgress",
        percent_complete=Decimal(40),
        body="Belege sammeln",
    ).save()
    [t] = list(acc.tasks.all())
    assert (t.subject, t.status, t.percent_complete, t.body) == ("Steuer", "InProgress", 40, "Belege sammeln")
    assert t.due_date == due
    t.delete()
    assert emu.mailbox(ALICE).items_in("tasks") == []


# -- OOF and rules ------------------------------------------------------------------------------


def test_oof_set_get_round_trip(emu: EwsEmulator) -> None:
    acc = account(emu)
    assert acc.oof_settings.state == OofSettings.DISABLED
    start = EWSDateTime(2099, 7, 1, 0, 0, tzinfo=UTC)
    acc.oof_settings = OofSettings(
        state=OofSettings.SCHEDULED,
        external_audience="Known",
        start=start,
        end=start + timedelta(days=14),
        internal_reply="Bin im Urlaub",
        external_reply="Out of office",
    )
    got = acc.oof_settings
    assert (got.state, got.external_audience) == (OofSettings.SCHEDULED, "Known")
    assert (got.start, got.end) == (start, start + timedelta(days=14))
    assert (got.internal_reply, got.external_reply) == ("Bin im Urlaub", "Out of office")


def test_inbox_rules_create_get_set_delete(emu: EwsEmulator) -> None:
    acc = account(emu)
    target = Folder(parent=acc.inbox, name="Newsletters")
    target.save()
    rule = Rule(
        display_name="news",
        priority=1,
        is_enabled=True,
        conditions=Conditions(contains_subject_strings=["newsletter"]),
        actions=Actions(move_to_folder=target),
    )
    acc.create_rule(rule)
    assert rule.id
    [got] = acc.rules
    assert got.display_name == "news"
    assert got.conditions.contains_subject_strings == ["newsletter"]
    assert got.actions.move_to_folder.folder_id.id == target.id
    got.is_enabled = False
    acc.set_rule(got)
    assert acc.rules[0].is_enabled is False
    acc.delete_rule(got)
    assert acc.rules == []


# -- throttling and strictness ----------------------------------------------------------------


def test_throttling_is_survived_by_exchangelib_retry_policy(emu: EwsEmulator) -> None:
    emu.throttle(every_n=2, backoff_ms=50)
    acc = account(emu, retry_policy=FaultTolerance(max_wait=30))
    folder = Folder(parent=acc.inbox, name="throttled")
    folder.save()
    for n in range(5):
        Message(account=acc, folder=folder, mime_content=mime(n)).save()
    assert len(list(folder.all().only("subject"))) == 5
    assert emu.busy_answers > 0
    assert len(emu.mailbox(ALICE).items_in("Inbox/throttled")) == 5


def test_busy_answer_carries_back_off_hint(emu: EwsEmulator) -> None:
    import requests

    emu.throttle(every_n=1, backoff_ms=1234)
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
        "<m:GetInboxRules/></s:Body></s:Envelope>"
    )
    r = requests.post(emu.url, data=body, auth=(ALICE, PW), timeout=10)
    assert r.status_code == 500
    assert b"ErrorServerBusy" in r.content and b'Name="BackOffMilliseconds">1234<' in r.content


def test_unknown_operation_and_element_are_rejected(emu: EwsEmulator) -> None:
    import requests

    acc = account(emu)
    with pytest.raises(ErrorSchemaValidation, match="GetRoomLists"):
        list(acc.protocol.get_roomlists())
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
        '<m:CreateItem MessageDisposition="SaveOnly"><m:Items><t:Message><t:Subject>x</t:Subject>'
        "<t:Frobnicate>1</t:Frobnicate></t:Message></m:Items></m:CreateItem></s:Body></s:Envelope>"
    )
    r = requests.post(emu.url, data=body, auth=(ALICE, PW), timeout=10)
    assert r.status_code == 500
    assert b"ErrorSchemaValidation" in r.content and b"Frobnicate" in r.content
    assert emu.mailbox(ALICE).items_in("drafts") == []


def test_pox_autodiscover(emu: EwsEmulator) -> None:
    import requests

    req = (
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{ALICE}</EMailAddress><AcceptableResponseSchema>"
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    )
    r = requests.post(emu.base_url + "/autodiscover/autodiscover.xml", data=req, auth=(ALICE, PW), timeout=10)
    assert r.status_code == 200
    assert f"<EwsUrl>{emu.url}</EwsUrl>".encode() in r.content


# -- calendar ---------------------------------------------------------------------------------


def test_calendar_item_with_recurrence_and_modified_occurrence(emu: EwsEmulator) -> None:
    acc = account(emu)
    tz = EWSTimeZone("Europe/Berlin")
    start = EWSDateTime(2024, 5, 6, 9, 0, tzinfo=tz)
    master = CalendarItem(
        account=acc,
        folder=acc.calendar,
        subject="Standup",
        start=start,
        end=start + timedelta(minutes=15),
        location="Raum 1",
        body="täglich",
        recurrence=Recurrence(pattern=DailyPattern(interval=1), start=date(2024, 5, 6), number=5),
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address="bob@example.test"), response_type="Unknown")
        ],
    )
    master.save()
    third = master.occurrence(index=3)
    third.refresh()
    assert third.start == start + timedelta(days=2)
    third.start += timedelta(hours=1)
    third.end += timedelta(hours=1)
    third.subject = "Standup (verschoben)"
    third.save(update_fields=["start", "end", "subject"])
    master.occurrence(index=5).delete()

    master.refresh()
    assert master.type == "RecurringMaster"
    assert master.recurrence.pattern.interval == 1 and master.recurrence.boundary.number == 5
    assert [o.start for o in master.modified_occurrences] == [start + timedelta(days=2, hours=1)]
    assert [o.start for o in master.deleted_occurrences] == [start + timedelta(days=4)]
    assert master.location == "Raum 1" and master.body == "täglich"
    assert [a.mailbox.email_address for a in master.required_attendees] == ["bob@example.test"]
    [exc] = list(acc.fetch(ids=[master.modified_occurrences[0].to_id()]))
    assert exc.subject == "Standup (verschoben)" and exc.type == "Exception"

    allday = CalendarItem(
        account=acc,
        folder=acc.calendar,
        subject="Feiertag",
        is_all_day=True,
        start=date(2024, 5, 9),
        end=date(2024, 5, 10),
    )
    allday.save()
    allday.refresh()
    assert allday.is_all_day is True
    assert (allday.start, allday.end) == (date(2024, 5, 9), date(2024, 5, 10))


# -- extended properties ------------------------------------------------------------------------


class _Stamp(ExtendedProperty):
    property_set_id = "2b9f6a10-5c3e-4e8d-a1f7-0c6d4e8b9a21"
    property_name = "EmulatorTestStamp"
    property_type = "String"


@pytest.fixture
def stamped() -> Iterator[None]:
    classes = (Contact, DistributionList, CalendarItem, Task)
    for cls in classes:
        cls.register("test_stamp", _Stamp)
    yield
    for cls in classes:
        cls.deregister("test_stamp")


def test_named_extended_property_on_contacts_events_and_tasks(emu: EwsEmulator, stamped: None) -> None:
    import requests

    acc = account(emu)
    start = EWSDateTime(2024, 5, 6, 9, 0, tzinfo=UTC)
    Contact(account=acc, folder=acc.contacts, display_name="Ann", test_stamp="c1").save()
    DistributionList(account=acc, folder=acc.contacts, display_name="Team", test_stamp="g1").save()
    CalendarItem(account=acc, folder=acc.calendar, subject="Standup", start=start, end=start + timedelta(minutes=15),
                 test_stamp="e1").save()
    Task(account=acc, folder=acc.tasks, subject="Report", test_stamp="t1").save()
    Contact(account=acc, folder=acc.contacts, display_name="Unstamped").save()

    found = {i.test_stamp: type(i).__name__ for i in acc.contacts.filter(test_stamp__in=["c1", "g1", "x"])
             .only("test_stamp")}
    assert found == {"c1": "Contact", "g1": "DistributionList"}
    assert [i.test_stamp for i in acc.calendar.filter(test_stamp="e1").only("test_stamp")] == ["e1"]
    assert [i.test_stamp for i in acc.tasks.filter(test_stamp="t1").only("test_stamp")] == ["t1"]
    assert acc.tasks.filter(test_stamp="e1").count() == 0
    # The same property named with the GUID in capitals (exchangelib always sends lower case).
    upper = _create_contact(GUID_ATTR.upper().replace("PROPERTYSETID", "PropertySetId")
                            + ' PropertyName="EmulatorTestStamp" PropertyType="String"', "<t:Value>c2</t:Value>")
    assert b"NoError" in requests.post(emu.url, data=upper.encode(), auth=(ALICE, PW), timeout=10).content
    assert [i.test_stamp for i in acc.contacts.filter(test_stamp="c2").only("test_stamp")] == ["c2"]


def _soap(body: str) -> str:
    return ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header>'
            '<t:RequestServerVersion Version="Exchange2016"/></s:Header><s:Body>' + body + "</s:Body></s:Envelope>")


def _create_contact(uri: str, value: str = "<t:Value>x</t:Value>") -> str:
    return _soap('<m:CreateItem><m:Items><t:Contact><t:ExtendedProperty><t:ExtendedFieldURI ' + uri + "/>"
                 + value + "</t:ExtendedProperty><t:DisplayName>Ann</t:DisplayName></t:Contact></m:Items>"
                 "</m:CreateItem>")


GUID_ATTR = 'PropertySetId="2b9f6a10-5c3e-4e8d-a1f7-0c6d4e8b9a21"'


@pytest.mark.parametrize(("uri", "value", "code"), [
    ('PropertyTag="0x8001" PropertyType="String"', "<t:Value>x</t:Value>", b"ErrorInvalidExtendedProperty"),
    ('PropertyName="Stamp" PropertyType="String"', "<t:Value>x</t:Value>", b"ErrorInvalidExtendedProperty"),
    (GUID_ATTR + ' PropertyTag="0x0E06" PropertyType="String"', "<t:Value>x</t:Value>",
     b"ErrorInvalidExtendedProperty"),
    (GUID_ATTR + ' PropertyName="Stamp" PropertyId="5" PropertyType="String"', "<t:Value>x</t:Value>",
     b"ErrorInvalidExtendedProperty"),
    (GUID_ATTR + ' PropertyName="Stamp"', "<t:Value>x</t:Value>", b"ErrorSchemaValidation"),
    ('PropertySetId="not-a-guid" PropertyName="Stamp" PropertyType="String"', "<t:Value>x</t:Value>",
     b"ErrorSchemaValidation"),
    (GUID_ATTR + ' PropertyName="Stamp" PropertyType="Integer"', "<t:Value>abc</t:Value>",
     b"ErrorInvalidExtendedPropertyValue"),
    (GUID_ATTR + ' PropertyName="Stamp" PropertyType="String"', "<t:Values><t:Value>x</t:Value></t:Values>",
     b"ErrorInvalidExtendedPropertyValue"),
    (GUID_ATTR + ' PropertyName="Stamp" PropertyType="Object"', "<t:Value>x</t:Value>",
     b"ErrorInvalidExtendedProperty"),
])
def test_extended_property_that_exchange_refuses_is_refused(emu: EwsEmulator, uri: str, value: str,
                                                            code: bytes) -> None:
    import requests

    r = requests.post(emu.url, data=_create_contact(uri, value).encode(), auth=(ALICE, PW), timeout=10)
    assert code in r.content and b"NoError" not in r.content
    assert emu.mailbox(ALICE).items_in("contacts") == []


def test_restriction_constant_must_fit_the_property_type(emu: EwsEmulator) -> None:
    import requests

    body = _soap('<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>'
                 '<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI ' + GUID_ATTR + ' PropertyName="Stamp" '
                 'PropertyType="Integer"/><t:FieldURIOrConstant><t:Constant Value="abc"/></t:FieldURIOrConstant>'
                 '</t:IsEqualTo></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/>'
                 "</m:ParentFolderIds></m:FindItem>")
    r = requests.post(emu.url, data=body.encode(), auth=(ALICE, PW), timeout=10)
    assert b"ErrorInvalidValueForProperty" in r.content


def occurrence_days(master: CalendarItem, count: int) -> list[date]:
    days = []
    for index in range(1, count + 1):
        occurrence = master.occurrence(index=index)
        occurrence.refresh()
        days.append(occurrence.start.date())
    return days


def test_occurrences_follow_exchange_week_and_month_rules(emu: EwsEmulator) -> None:
    """Every other week counts weeks from the pattern's first day of the week, and day 31 of the month falls on
    the last day of a shorter month (Outlook's "some months have fewer than 31 days"). The emulator counted
    weeks from Monday and left shorter months out, so occurrence N was another day than on Exchange."""
    acc = account(emu)
    utc = EWSTimeZone("UTC")
    start = EWSDateTime(2024, 1, 7, 9, 0, tzinfo=utc)  # a Sunday
    biweekly = CalendarItem(account=acc, folder=acc.calendar, subject="w", start=start, end=start + timedelta(hours=1),
                            recurrence=Recurrence(pattern=WeeklyPattern(interval=2, weekdays=[1, 7],
                                                                        first_day_of_week=7),
                                                  start=date(2024, 1, 7), number=4))
    biweekly.save()
    days = occurrence_days(biweekly, 4)
    # weeks Sun 7 - Sat 13 and Sun 21 - Sat 27: Sunday 7, Monday 8, Sunday 21, Monday 22
    assert days == [date(2024, 1, 7), date(2024, 1, 8), date(2024, 1, 21), date(2024, 1, 22)]
    start = EWSDateTime(2024, 1, 31, 9, 0, tzinfo=utc)
    monthly = CalendarItem(account=acc, folder=acc.calendar, subject="m", start=start, end=start + timedelta(hours=1),
                           recurrence=Recurrence(pattern=AbsoluteMonthlyPattern(interval=1, day_of_month=31),
                                                 start=date(2024, 1, 31), number=4))
    monthly.save()
    days = occurrence_days(monthly, 4)
    assert days == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]
