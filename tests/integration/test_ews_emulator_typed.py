"""The EWS emulator keeps values typed as Exchange does, and refuses what Exchange's schema refuses.

exchangelib writes xs:boolean as ``1``/``0`` and reads back only ``true``/``false``: an emulator that
answers what it was sent hides a lost field (a rule's "mark as read" read back as empty). These
tests write through exchangelib and read back through exchangelib, and send raw SOAP with values
the schema does not allow, expecting Exchange's error codes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from exchangelib import (
    Account,
    CalendarItem,
    EWSDateTime,
    EWSTimeZone,
    Message,
)
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.properties import Actions, Conditions, Rule

from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

ALICE, PW = "alice@example.test", "s3cret"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


class Reviewed(ExtendedProperty):  # type: ignore[misc]
    """A Boolean named property, as any application may stamp on a message."""

    property_set_id = "0a3e1f52-6b5d-4c77-9e1b-2f4f8d6c1a90"
    property_name = "Reviewed"
    property_type = "Boolean"


if "reviewed" not in {f.name for f in Message.FIELDS}:
    Message.register("reviewed", Reviewed)


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(ALICE, PW)
        yield e


def account(emu: EwsEmulator) -> Account:
    return emulator_account(emu.url, ALICE, PW, timezone=EWSTimeZone("UTC"))


def soap(emu: EwsEmulator, body: str) -> tuple[int, str]:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        f'xmlns:t="{T}"><s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>")
    auth = base64.b64encode(f"{ALICE}:{PW}".encode()).decode()
    resp = httpx.post(emu.url, content=envelope.encode(), timeout=30,
                      headers={"Authorization": f"Basic {auth}", "Content-Type": "text/xml; charset=utf-8"})
    return resp.status_code, resp.text


def create(emu: EwsEmulator, folder: str, item: str) -> tuple[int, str]:
    return soap(emu, f'<m:CreateItem MessageDisposition="SaveOnly" SendMeetingInvitations="SendToNone">'
                     f'<m:SavedItemFolderId><t:DistinguishedFolderId Id="{folder}"/></m:SavedItemFolderId>'
                     f"<m:Items>{item}</m:Items></m:CreateItem>")


def test_a_rules_booleans_come_back_as_booleans(emu: EwsEmulator) -> None:
    acc = account(emu)
    acc.create_rule(Rule(display_name="read it", priority=1, is_enabled=True,
                         conditions=Conditions(contains_sender_strings=["boss"], has_attachments=False),
                         actions=Actions(mark_as_read=True, stop_processing_rules=False)))
    [rule] = acc.rules
    assert rule.is_enabled is True
    assert rule.actions.mark_as_read is True
    assert rule.actions.stop_processing_rules is False
    assert rule.conditions.has_attachments is False
    assert rule.priority == 1


def test_a_boolean_extended_property_comes_back_as_a_boolean(emu: EwsEmulator) -> None:
    acc = account(emu)
    yes = Message(account=acc, folder=acc.inbox, subject="yes", reviewed=True)
    no = Message(account=acc, folder=acc.inbox, subject="no", reviewed=False)
    yes.save()
    no.save()
    got = {m.subject: m.reviewed for m in acc.inbox.all().only("subject", "reviewed")}
    assert got == {"yes": True, "no": False}


def test_date_times_are_kept_in_utc_and_answered_with_z(emu: EwsEmulator) -> None:
    acc = account(emu)
    berlin = EWSTimeZone("Europe/Berlin")
    CalendarItem(account=acc, folder=acc.calendar, subject="standup",
                 start=EWSDateTime(2026, 1, 5, 9, 0, tzinfo=berlin),
                 end=EWSDateTime(2026, 1, 5, 9, 15, tzinfo=berlin)).save()
    [item] = emu.mailbox(ALICE).items_in("calendar")
    assert (item.text("Start"), item.text("End")) == ("2026-01-05T08:00:00Z", "2026-01-05T08:15:00Z")
    assert item.text("IsAllDayEvent") == "false"
    [ev] = acc.calendar.all()
    assert ev.start == EWSDateTime(2026, 1, 5, 8, 0, tzinfo=EWSTimeZone("UTC"))


@pytest.mark.parametrize(("item", "element", "datatype"), [
    ("<t:Message><t:Subject>x</t:Subject><t:IsRead>yes</t:IsRead></t:Message>", "IsRead", "boolean"),
    ("<t:Message><t:Subject>x</t:Subject><t:Importance>Urgent</t:Importance></t:Message>", "Importance",
     "ImportanceChoicesType"),
    ("<t:Message><t:Subject>x</t:Subject><t:Body BodyType='Markdown'>b</t:Body></t:Message>", "Body/@BodyType",
     "BodyTypeType"),
    ("<t:Message><t:Subject>x</t:Subject><t:ReminderMinutesBeforeStart>soon</t:ReminderMinutesBeforeStart>"
     "</t:Message>", "ReminderMinutesBeforeStart", "int"),
    ("<t:Message><t:Subject>x</t:Subject><t:ReminderDueBy>tomorrow</t:ReminderDueBy></t:Message>", "ReminderDueBy",
     "dateTime"),
])
def test_values_outside_their_schema_type_are_refused(emu: EwsEmulator, item: str, element: str,
                                                      datatype: str) -> None:
    status, text = create(emu, "inbox", item)
    assert status == 500
    assert "ErrorSchemaValidation" in text
    assert f"{T}:{element}' element is invalid" in text and datatype in text
    assert emu.mailbox(ALICE).items_in("inbox") == []


def test_every_free_busy_value_is_accepted_and_others_are_refused(emu: EwsEmulator) -> None:
    for n, status in enumerate(("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")):
        code, text = create(emu, "calendar", f"<t:CalendarItem><t:Subject>{status}</t:Subject>"
                                             f"<t:Start>2026-02-0{n + 1}T10:00:00Z</t:Start>"
                                             f"<t:End>2026-02-0{n + 1}T11:00:00Z</t:End>"
                                             f"<t:LegacyFreeBusyStatus>{status}</t:LegacyFreeBusyStatus>"
                                             "</t:CalendarItem>")
        assert code == 200 and 'ResponseClass="Success"' in text, text
    code, text = create(emu, "calendar", "<t:CalendarItem><t:Subject>away</t:Subject>"
                                         "<t:Start>2026-02-09T10:00:00Z</t:Start><t:End>2026-02-09T11:00:00Z</t:End>"
                                         "<t:LegacyFreeBusyStatus>Away</t:LegacyFreeBusyStatus></t:CalendarItem>")
    assert code == 500 and "ErrorSchemaValidation" in text and "LegacyFreeBusyType" in text
    got = {i.subject: i.text("LegacyFreeBusyStatus") for i in emu.mailbox(ALICE).items_in("calendar")}
    assert got == {"Free": "Free", "Tentative": "Tentative", "Busy": "Busy", "OOF": "OOF",
                   "WorkingElsewhere": "WorkingElsewhere", "NoData": "NoData"}


def test_a_tasks_percent_complete_must_be_0_to_100(emu: EwsEmulator) -> None:
    code, text = create(emu, "tasks", "<t:Task><t:Subject>t</t:Subject><t:PercentComplete>150</t:PercentComplete>"
                                      "</t:Task>")
    assert code == 200 and "ErrorInvalidPercentCompleteValue" in text
    code, text = create(emu, "tasks", "<t:Task><t:Subject>t</t:Subject><t:PercentComplete>40.0</t:PercentComplete>"
                                      "<t:Status>InProgress</t:Status></t:Task>")
    assert 'ResponseClass="Success"' in text
    [task] = emu.mailbox(ALICE).items_in("tasks")
    assert (task.text("PercentComplete"), task.text("Status")) == ("40", "InProgress")


def rule_xml(addresses: str) -> str:
    return ("<m:UpdateInboxRules><m:RemoveOutlookRuleBlob>true</m:RemoveOutlookRuleBlob><m:Operations>"
            "<t:CreateRuleOperation><t:Rule><t:DisplayName>from bob</t:DisplayName><t:Priority>1</t:Priority>"
            f"<t:IsEnabled>1</t:IsEnabled><t:Conditions><t:FromAddresses>{addresses}</t:FromAddresses>"
            "</t:Conditions><t:Actions><t:MarkAsRead>1</t:MarkAsRead></t:Actions></t:Rule></t:CreateRuleOperation>"
            "</m:Operations></m:UpdateInboxRules>")


def test_rule_addresses_are_address_elements(emu: EwsEmulator) -> None:
    code, text = soap(emu, rule_xml("<t:Mailbox><t:EmailAddress>bob@example.test</t:EmailAddress></t:Mailbox>"))
    assert code == 500 and "ErrorSchemaValidation" in text and "'Address'" in text
    assert emu.mailbox(ALICE).rules == []
    code, text = soap(emu, rule_xml("<t:Address><t:EmailAddress>bob@example.test</t:EmailAddress></t:Address>"))
    assert code == 200 and 'ResponseClass="Success"' in text, text
    [rule] = emu.mailbox(ALICE).rules
    assert (rule.findtext(f"{{{T}}}IsEnabled"), rule.findtext(f"{{{T}}}Actions/{{{T}}}MarkAsRead")) == ("true",
                                                                                                     "true")


def test_a_rule_with_a_boolean_that_is_not_one_is_refused(emu: EwsEmulator) -> None:
    bad = rule_xml("<t:Address><t:EmailAddress>bob@example.test</t:EmailAddress></t:Address>").replace(
        "<t:MarkAsRead>1</t:MarkAsRead>", "<t:MarkAsRead>sure</t:MarkAsRead>")
    code, text = soap(emu, bad)
    assert code == 500 and "ErrorSchemaValidation" in text and "MarkAsRead" in text
    assert emu.mailbox(ALICE).rules == []


def test_a_zone_given_by_its_definition_is_kept_and_the_series_expanded_in_it(emu: EwsEmulator) -> None:
    """Exchange takes a StartTimeZone with Periods and transitions (Month a number there, not a month name)
    and expands a series in it: 6 April 2026 is in Pacific daylight time, 09:00 there is 16:00 UTC."""
    from tests.ews_emulator.pim_seed import as_created, create_raw

    answer = create_raw(emu.url, ALICE, PW, "calendar", as_created("customized_zone_weekly.xml"))
    assert 'ResponseClass="Success"' in answer, answer
    [series] = account(emu).calendar.all()
    assert series.start == EWSDateTime(2026, 3, 2, 17, 0, tzinfo=EWSTimeZone("UTC"))
    last = series.occurrence(index=6)
    last.refresh()
    assert (last.start, last.end) == (EWSDateTime(2026, 4, 6, 16, 0, tzinfo=EWSTimeZone("UTC")),
                                      EWSDateTime(2026, 4, 6, 16, 30, tzinfo=EWSTimeZone("UTC")))
