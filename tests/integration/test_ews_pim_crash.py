"""Crash safety of Exchange contacts, groups, events, tasks and rules in the loader.

Against the EWS emulator, a real Redis and the real broker. The items come from a source mailbox through the real
extractor; the loader's real path writes them and then stops where a crash would stop it: the undo
records are not taken by the broker, so no ledger entry is written and the items stay in flight.
Running the batch again must find what is on the target instead of creating it twice.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from exchangelib import Account
from exchangelib.errors import ErrorServerBusy
from prometheus_client import CollectorRegistry

from shared import topics
from shared.adapters.ews.fields import FIELD, PROPERTY_SET
from shared.adapters.ews.item_target import EwsItemTarget
from shared.adapters.ews.mail_source import EwsSource
from shared.adapters.ews.mail_target import EwsTarget
from shared.adapters.ews.mapping import (
    contact_to_ews,
)
from shared.adapters.ports import PimRecord
from shared.durable_write import DurableWrite
from shared.events import CreatedThing, Event, PimItem, UndoRecords
from shared.formats.vcard import parse_vcard
from shared.kafka_edge import DeliveryFailed, EventProducer, ensure_topics, make_producer
from shared.ledger import LedgerStore, RedisLedger
from shared.metrics import ServiceMetrics
from shared.topics import TopicSpec
from shared.view_rebuild import ViewGuard
from tests.ews_client import emulator_account
from tests.ews_emulator import EwsEmulator
from tests.ews_emulator.pim_seed import WEEKLY_STANDUP, add_news_rule, save_calendar, save_group
from tests.servers import Process, start_redis

pytestmark = pytest.mark.integration

SOURCE, TARGET, PW = "src@old.test", "dst@new.test", "pw-1"
OPERATIONS = ["contacts", "contact_groups", "calendars", "tasks", "rules"]

VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Lee\r\nN:Lee;Ann;;;\r\nEMAIL:ann@example.test\r\nEND:VCARD\r\n"
TASK = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTODO\r
UID:task@test\r
SUMMARY:File the report\r
DUE;VALUE=DATE:20260610\r
END:VTODO\r
END:VCALENDAR\r
"""


def load_pim(mid: str, pair: str, items: list[PimItem], target: Callable[[], EwsTarget], ledger: LedgerStore,
             producer: EventProducer) -> None:
    """The loader's durable write path for these items, into the mailbox's item target."""
    DurableWrite(ledger, producer, ServiceMetrics(CollectorRegistry(), "loader"), mid, pair).write_items(
        [PimRecord(i) for i in items], lambda: EwsItemTarget(target()))


class Producer(EventProducer):
    """The loader's real Kafka edge on the test broker, remembering what each flush made durable. With
    ``fail_undo`` a flush holding undo records of created items fails before the broker is asked, as
    it would if the loader died there."""

    def __init__(self, bootstrap: str, prefix: str, fail_undo: bool = False) -> None:
        super().__init__(make_producer(bootstrap), prefix)
        self.fail_undo = fail_undo
        self.pending: list[tuple[TopicSpec, Event]] = []
        self.flushed: list[tuple[TopicSpec, Event]] = []

    def send(self, spec: TopicSpec, key: str, event: Event) -> None:
        self.pending.append((spec, event))
        super().send(spec, key, event)

    def flush(self, timeout: float = 60.0) -> None:
        batch, self.pending = self.pending, []
        if self.fail_undo and any(isinstance(e, UndoRecords) and any(r.kind in ("item", "rule") for r in e.records)
                                  for _spec, e in batch):
            self._producer.purge()  # never reach the broker
            self._producer.flush(0)
            raise DeliveryFailed("1 records unsent, errors: ['broker gone']")
        super().flush(timeout)
        self.flushed += batch

    def undo(self) -> list[CreatedThing]:
        return [r for spec, e in self.flushed if spec is topics.UNDO and isinstance(e, UndoRecords) for r in e.records]


PREFIX = f"pimcrash{secrets.token_hex(3)}."


@pytest.fixture(scope="module")
def producers(broker: Process) -> Callable[..., Producer]:
    """Producers on the session's broker, with topics of this module's own."""
    ensure_topics(broker.address, PREFIX, 1)
    return lambda fail_undo=False: Producer(broker.address, PREFIX, fail_undo)


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(SOURCE, PW)
        e.add_mailbox(TARGET, PW)
        yield e


def connect(emu: EwsEmulator, login: str) -> Account:
    # Fail fast: a refused request is an error at once (the tests use refusals as crashes).
    return emulator_account(emu.url, login, PW, fail_fast=True)


def source_items(emu: EwsEmulator, mid: str) -> list[PimItem]:
    """A contact, a group, a recurring event with a moved and a deleted occurrence, a task and a rule,
    read by the extractor."""
    acc = connect(emu, SOURCE)
    contact_to_ews(parse_vcard(VCARD.encode()), account=acc, folder=acc.contacts).value.save()
    save_group(acc, "Team", [("Bob", "bob@example.test")])
    save_calendar(acc, WEEKLY_STANDUP)
    save_calendar(acc, TASK)
    add_news_rule(acc)
    source = EwsSource(acc)
    return [item for op in OPERATIONS for item in source.read(op, mid)]


def target_items(emu: EwsEmulator) -> Counter[str]:
    mbx = emu.mailbox(TARGET)
    return Counter(i.kind for f in ("contacts", "calendar", "tasks") for i in mbx.items_in(f))


def markers(emu: EwsEmulator) -> set[str]:
    """The mailferry marker values on the target's items."""
    out = set()
    for f in ("contacts", "calendar", "tasks"):
        for item in emu.mailbox(TARGET).items_in(f):
            for ep in item.elem.iter("{*}ExtendedProperty"):
                if ep[0].get("PropertySetId") == PROPERTY_SET:
                    out.add(ep.findtext("{*}Value"))
    return out


def test_rerun_after_a_crash_before_the_ledger_creates_nothing_twice(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    items = source_items(emu, mid)
    assert Counter(i.item_type for i in items) == {"contact": 1, "contact_group": 1, "calendar": 1, "task": 1,
                                                   "rule": 1}
    keys = [i.item_key for i in items]
    ledger = RedisLedger(redis_client, pair)
    target = EwsTarget(connect(emu, TARGET))

    with pytest.raises(DeliveryFailed):
        load_pim(mid, pair, items, lambda: target, ledger, producers(fail_undo=True))
    assert ledger.lookup(keys) == {} and ledger.inflight(keys) == set(keys)
    first = {i.id: i.kind for f in ("contacts", "calendar", "tasks") for i in emu.mailbox(TARGET).items_in(f)}
    assert sorted(first.values()) == ["CalendarItem", "Contact", "DistributionList", "Task"]
    assert markers(emu) == {f"{pair}:{k}" for k in keys if not k.startswith("rules:")}
    [rule] = emu.mailbox(TARGET).rules
    rule_id = rule.findtext("{*}RuleId")

    finds = emu.operations_served["FindItem"]
    producer = producers()
    load_pim(mid, pair, items, lambda: target, ledger, producer)

    assert target_items(emu) == {"Contact": 1, "DistributionList": 1, "CalendarItem": 1, "Task": 1}
    assert [r.findtext("{*}DisplayName") for r in emu.mailbox(TARGET).rules] == ["news"]
    assert emu.operations_served["FindItem"] - finds == 3  # one search per folder: contacts, calendar, tasks
    entries = ledger.lookup(keys)
    assert set(entries) == set(keys) and ledger.inflight(keys) == set()
    recorded = {k: e.ref for k, e in entries.items()}
    undo = {r.item_key: r.ref for r in producer.undo()}
    assert recorded == undo
    assert set(recorded.values()) == {*first, rule_id}
    results = [r for spec, e in producer.flushed if spec is topics.PROGRESS for r in getattr(e, "results", [])]
    assert sorted(r.item_key for r in results) == sorted(keys) and {r.result for r in results} == {"done"}
    [standup] = emu.mailbox(TARGET).items_in("calendar")
    assert len(standup.deleted_occurrences) == 1 and sum(
        emu.mailbox(TARGET).items[o].modified for o in standup.occurrences.values()) == 1


def test_items_not_in_flight_cost_no_search(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    items = source_items(emu, mid)
    ledger = RedisLedger(redis_client, pair)
    target = EwsTarget(connect(emu, TARGET))
    before = Counter(emu.operations_served)

    load_pim(mid, pair, items, lambda: target, ledger, producers())

    served = Counter(emu.operations_served)
    served.subtract(before)
    assert served["FindItem"] == 0
    assert served["GetInboxRules"] == 2  # the rules before (written ahead), then the new one's id: no search
    assert target_items(emu) == {"Contact": 1, "DistributionList": 1, "CalendarItem": 1, "Task": 1}
    assert markers(emu) == {f"{pair}:{i.item_key}" for i in items if i.item_type != "rule"}
    assert len(ledger.lookup([i.item_key for i in items])) == len(items)


def test_event_found_after_a_crash_gets_its_remaining_occurrence_changes(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    items = [i for i in source_items(emu, mid) if i.item_type == "calendar"]
    ledger = RedisLedger(redis_client, pair)
    target = EwsTarget(connect(emu, TARGET))

    emu.throttle(every_n=1, operations={"DeleteItem"})  # the series is saved and moved, then the loader dies
    dying = producers()
    with pytest.raises(ErrorServerBusy):
        load_pim(mid, pair, items, lambda: target, ledger, dying)
    [master] = emu.mailbox(TARGET).items_in("calendar")
    assert master.deleted_occurrences == {}
    # what reached the target before the error can be undone, even if the batch is given up
    assert [r.ref for r in dying.undo()] == [master.id]
    emu.throttle(every_n=0)

    load_pim(mid, pair, items, lambda: target, ledger, producers())

    [again] = emu.mailbox(TARGET).items_in("calendar")
    assert again.id == master.id and len(again.deleted_occurrences) == 1
    assert sum(emu.mailbox(TARGET).items[o].modified for o in again.occurrences.values()) == 1
    assert ledger.lookup([items[0].item_key])[items[0].item_key].ref == master.id


def rule_ids(emu: EwsEmulator) -> list[str]:
    return [str(r.findtext("{*}RuleId")) for r in emu.mailbox(TARGET).rules]


def test_a_rule_the_target_already_had_is_never_taken_for_the_one_copied(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    [rule_item] = [i for i in source_items(emu, mid) if i.item_type == "rule"]
    add_news_rule(connect(emu, TARGET))  # the user's own "news" rule, alike in every respect
    [users] = rule_ids(emu)
    ledger = RedisLedger(redis_client, pair)
    target = EwsTarget(connect(emu, TARGET))

    with pytest.raises(DeliveryFailed):  # created, then the loader dies before its undo record and ledger entry
        load_pim(mid, pair, [rule_item], lambda: target, ledger, producers(fail_undo=True))
    [ours] = set(rule_ids(emu)) - {users}
    producer = producers()
    load_pim(mid, pair, [rule_item], lambda: target, ledger, producer)

    assert sorted(rule_ids(emu)) == sorted([users, ours])  # found again, not created twice
    assert ledger.lookup([rule_item.item_key])[rule_item.item_key].ref == ours
    assert [r.ref for r in producer.undo()] == [ours]  # undo removes ours, never the user's


def test_a_new_rule_is_told_apart_from_a_target_rule_of_the_same_name(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    [rule_item] = [i for i in source_items(emu, mid) if i.item_type == "rule"]
    add_news_rule(connect(emu, TARGET), priority=5)  # listed after the copied rule (priority 1)
    [users] = rule_ids(emu)
    producer = producers()

    load_pim(mid, pair, [rule_item], lambda: EwsTarget(connect(emu, TARGET)), RedisLedger(redis_client, pair), producer)

    [ours] = set(rule_ids(emu)) - {users}
    assert [r.ref for r in producer.undo()] == [ours]


def test_a_part_created_twice_before_a_crash_has_both_copies_recorded_for_undo(
        emu: EwsEmulator, redis_client: redis_lib.Redis, producers: Callable[..., Producer]) -> None:
    mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
    [contact] = [i for i in source_items(emu, mid) if i.item_type == "contact"]
    ledger = RedisLedger(redis_client, pair)
    target = EwsTarget(connect(emu, TARGET))
    with pytest.raises(DeliveryFailed):
        load_pim(mid, pair, [contact], lambda: target, ledger, producers(fail_undo=True))
    # the same create sent twice (exchangelib resends a request after a read timeout): two copies, one marker
    acc = connect(emu, TARGET)
    twin = contact_to_ews(parse_vcard(contact.payload), account=acc, folder=acc.contacts).value
    setattr(twin, FIELD, f"{pair}:{contact.item_key}")
    twin.save()
    copies = {i.id for i in emu.mailbox(TARGET).items_in("contacts")}
    assert len(copies) == 2

    producer = producers()
    load_pim(mid, pair, [contact], lambda: target, ledger, producer)

    assert {i.id for i in emu.mailbox(TARGET).items_in("contacts")} == copies  # nothing created again
    assert {r.ref for r in producer.undo()} == copies  # undo removes both
    assert set(ledger.lookup([contact.item_key])[contact.item_key].ref.split()) == copies


def test_a_rule_snapshot_survives_losing_redis_between_the_crash_and_the_retry(
        emu: EwsEmulator, broker: Process, producers: Callable[..., Producer], tmp_path: Path) -> None:
    """The snapshot of the target's rules, taken before ours was created, cannot be taken again afterwards:
    it is on the ``ledger`` topic, so Redis flushed between the crash and the retry loses nothing (without it
    the retry would create the rule a second time, and undo would know only one of them)."""
    own = start_redis(tmp_path / "redis")
    try:
        client = redis_lib.Redis.from_url(own.address)
        guard = ViewGuard(client, broker.address, PREFIX, "loader")
        guard.ensure()
        mid, pair = "m-" + secrets.token_hex(4), "p" + secrets.token_hex(8)
        [rule_item] = [i for i in source_items(emu, mid) if i.item_type == "rule"]
        add_news_rule(connect(emu, TARGET))
        [users] = rule_ids(emu)
        ledger = RedisLedger(client, pair)
        target = EwsTarget(connect(emu, TARGET))
        with pytest.raises(DeliveryFailed):
            load_pim(mid, pair, [rule_item], lambda: target, ledger, producers(fail_undo=True))
        [ours] = set(rule_ids(emu)) - {users}

        client.flushall()
        guard.ensure()  # the view rebuilt from the topics
        assert ledger.rules_before(rule_item.item_key) == {users}
        assert ledger.inflight([rule_item.item_key]) == {rule_item.item_key}
        producer = producers()
        load_pim(mid, pair, [rule_item], lambda: target, ledger, producer)

        assert sorted(rule_ids(emu)) == sorted([users, ours])  # found again, not created twice
        assert [r.ref for r in producer.undo()] == [ours]
        client.flushall()  # once recorded, the snapshot is gone from the topic too; the entry stays
        guard.ensure()
        assert ledger.rules_before(rule_item.item_key) is None
        assert ledger.lookup([rule_item.item_key])[rule_item.item_key].ref == ours
    finally:
        own.stop()
