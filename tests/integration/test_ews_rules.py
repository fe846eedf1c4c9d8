"""Inbox rules that name addresses, with conditions, exceptions and every kind of action, created on the
EWS emulator through shared.formats.settings and exchangelib, then read back through exchangelib.

The expected rules are written out in the tests (not produced by the mapping under test).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchangelib import Account, EWSDateTime, EWSTimeZone
from exchangelib.folders import Folder
from exchangelib.properties import Actions, Address, Conditions, Exceptions, Rule, WithinDateRange, WithinSizeRange

from shared.adapters.ews.rules import create_rule
from shared.formats.settings import RuleModel, rule_from_ews, rule_to_ews
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

ALICE, PW = "alice@example.test", "s3cret"
UTC = EWSTimeZone("UTC")


@pytest.fixture
def acc() -> Iterator[Account]:
    with EwsEmulator() as emu:
        emu.add_mailbox(ALICE, PW)
        yield emulator_account(emu.url, ALICE, PW, timezone=UTC)


def addresses(value: object) -> list[str]:
    return [a.email_address for a in value or []]  # type: ignore[attr-defined]


def test_rules_naming_addresses_are_created_and_read_back(acc: Account) -> None:
    models = [
        RuleModel(name="from the boss", priority=1, enabled=True,
                  conditions={"from_addresses": ["boss@example.test", "ceo@example.test"]},
                  actions={"forward_to_recipients": ["assistant@example.test"], "mark_as_read": True}),
        RuleModel(name="to the list", priority=2, enabled=False,
                  conditions={"sent_to_addresses": ["list@example.test"]},
                  actions={"redirect_to_recipients": ["archive@example.test"], "stop_processing_rules": True}),
        RuleModel(name="as attachment", priority=3, enabled=True,
                  conditions={"contains_subject_strings": ["invoice"]},
                  exceptions={"from_addresses": ["noreply@example.test"]},
                  actions={"forward_as_attachment_to_recipients": ["books@example.test"]}),
    ]
    for model in models:
        create_rule(acc, rule_to_ews(model, None))

    rules = {r.display_name: r for r in acc.rules}
    assert sorted(rules) == ["as attachment", "from the boss", "to the list"]
    boss, lst, att = rules["from the boss"], rules["to the list"], rules["as attachment"]
    assert (boss.priority, boss.is_enabled) == (1, True)
    assert addresses(boss.conditions.from_addresses) == ["boss@example.test", "ceo@example.test"]
    assert addresses(boss.actions.forward_to_recipients) == ["assistant@example.test"]
    assert boss.actions.mark_as_read is True
    assert (lst.priority, lst.is_enabled) == (2, False)
    assert addresses(lst.conditions.sent_to_addresses) == ["list@example.test"]
    assert addresses(lst.actions.redirect_to_recipients) == ["archive@example.test"]
    assert lst.actions.stop_processing_rules is True
    assert att.conditions.contains_subject_strings == ["invoice"]
    assert addresses(att.exceptions.from_addresses) == ["noreply@example.test"]
    assert addresses(att.actions.forward_as_attachment_to_recipients) == ["books@example.test"]


def test_every_condition_exception_and_action_is_read_from_a_rule(acc: Account) -> None:
    """A rule as a user made it in Outlook: what mailferry reads of it, written out field by field.
    (Created through the loader's create_rule: exchangelib alone sends date and size ranges in a shape
    Exchange refuses, see test_exchangelib_alone_sends_ranges_exchange_refuses.)"""
    filed = Folder(parent=acc.msg_folder_root, name="Filed")
    filed.save()
    start = EWSDateTime(2026, 1, 1, 0, 0, tzinfo=UTC)
    create_rule(acc, Rule(
        display_name="everything", priority=4, is_enabled=True,
        conditions=Conditions(
            categories=["Red Category"], contains_body_strings=["body"], contains_header_strings=["X-Spam"],
            contains_recipient_strings=["team"], contains_sender_strings=["boss"],
            contains_subject_or_body_strings=["urgent"], contains_subject_strings=["report"],
            flagged_for_action="FollowUp", from_addresses=[Address(email_address="bob@example.test")],
            has_attachments=True, importance="High", is_approval_request=False, is_automatic_forward=False,
            is_automatic_reply=False, is_encrypted=False, is_meeting_request=False, is_meeting_response=False,
            is_ndr=False, is_permission_controlled=False, is_read_receipt=False, is_signed=True,
            is_voicemail=False, item_classes=["IPM.Note"], message_classifications=["Confidential"],
            not_sent_to_me=False, sent_cc_me=True, sent_only_to_me=False,
            sent_to_addresses=[Address(email_address="team@example.test")], sent_to_me=False,
            sent_to_or_cc_me=True, sensitivity="Private",
            within_date_range=WithinDateRange(start_date_time=start, end_date_time=EWSDateTime(
                2026, 12, 31, 23, 59, tzinfo=UTC)),
            within_size_range=WithinSizeRange(minimum_size=10, maximum_size=2048)),
        exceptions=Exceptions(contains_subject_strings=["personal"], from_addresses=[
            Address(email_address="wife@example.test")]),
        actions=Actions(assign_categories=["Blue Category", "Work"], copy_to_folder=filed, delete=False,
                        forward_as_attachment_to_recipients=[Address(email_address="a@example.test")],
                        forward_to_recipients=[Address(email_address="f@example.test")], mark_importance="Low",
                        mark_as_read=True, move_to_folder=filed, permanent_delete=False,
                        redirect_to_recipients=[Address(email_address="r@example.test")],
                        stop_processing_rules=True)))
    [rule] = acc.rules
    model = rule_from_ews(rule, lambda fid: ["Filed"] if fid == filed.id else None)
    assert (model.name, model.priority, model.enabled, model.lossy) == ("everything", 4, True, [])
    assert model.conditions == {
        "categories": ["Red Category"], "contains_body_strings": ["body"], "contains_header_strings": ["X-Spam"],
        "contains_recipient_strings": ["team"], "contains_sender_strings": ["boss"],
        "contains_subject_or_body_strings": ["urgent"], "contains_subject_strings": ["report"],
        "flagged_for_action": "FollowUp", "from_addresses": ["bob@example.test"], "has_attachments": True,
        "importance": "High", "is_approval_request": False, "is_automatic_forward": False,
        "is_automatic_reply": False, "is_encrypted": False, "is_meeting_request": False,
        "is_meeting_response": False, "is_ndr": False, "is_permission_controlled": False,
        "is_read_receipt": False, "is_signed": True, "is_voicemail": False, "item_classes": ["IPM.Note"],
        "message_classifications": ["Confidential"], "not_sent_to_me": False, "sent_cc_me": True,
        "sent_only_to_me": False, "sent_to_addresses": ["team@example.test"], "sent_to_me": False,
        "sent_to_or_cc_me": True, "sensitivity": "Private",
        "within_date_range": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-12-31T23:59:00+00:00"},
        "within_size_range": {"minimum_size": 10, "maximum_size": 2048},
    }
    assert model.exceptions == {"contains_subject_strings": ["personal"], "from_addresses": ["wife@example.test"]}
    assert model.actions == {
        "assign_categories": ["Blue Category", "Work"], "copy_to_folder": ["Filed"], "delete": False,
        "forward_as_attachment_to_recipients": ["a@example.test"], "forward_to_recipients": ["f@example.test"],
        "mark_importance": "Low", "mark_as_read": True, "move_to_folder": ["Filed"], "permanent_delete": False,
        "redirect_to_recipients": ["r@example.test"], "stop_processing_rules": True,
    }

    # and written again (another mailbox's copy): the same rule comes back
    copy = RuleModel.from_json(model.to_json())
    copy.name = "everything again"
    create_rule(acc, rule_to_ews(copy, lambda path: filed))
    again = next(r for r in acc.rules if r.display_name == "everything again")
    read = rule_from_ews(again, lambda fid: ["Filed"] if fid == filed.id else None)
    assert (read.conditions, read.exceptions, read.actions) == (model.conditions, model.exceptions, model.actions)


def test_exchangelib_alone_sends_ranges_exchange_refuses(acc: Account) -> None:
    """RulePredicateDateRangeType holds StartDateTime/EndDateTime itself; exchangelib 5.6 wraps them in a
    DateRange element. Should exchangelib fix it, create_rule's rewrite becomes a no-op and this test
    says so."""
    from exchangelib.errors import ErrorSchemaValidation

    rule = Rule(display_name="dated", priority=1, is_enabled=True,
                conditions=Conditions(within_size_range=WithinSizeRange(minimum_size=1, maximum_size=2)),
                actions=Actions(mark_as_read=True))
    with pytest.raises(ErrorSchemaValidation):
        acc.create_rule(rule)
    create_rule(acc, rule)
    [got] = acc.rules
    assert (got.conditions.within_size_range.minimum_size, got.conditions.within_size_range.maximum_size) == (1, 2)
