"""Writing contacts, contact groups, events, tasks, rules and the auto-reply into Exchange.

Created items and rules are recorded by their Exchange id; the auto-reply is a
setting, so its previous value is recorded *before* it is changed (write-ahead)
and undo puts it back. What the target cannot hold is reported with the item.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from exchangelib import Account

from services.loader.ews import EwsTarget
from shared import topics
from shared.errors import ConnectionCheckFailed, ItemRejected, SecretUnavailable
from shared.events import CreatedThing, ItemResult, ItemResults, PimItem, UndoRecords
from shared.formats import FormatError
from shared.formats.ews_mapping import (
    ContactGroup,
    apply_occurrence_changes,
    contact_to_ews,
    event_to_ews,
    group_to_ews,
    task_to_ews,
)
from shared.formats.ical import parse_calendar
from shared.formats.settings import AutoReply, RuleModel, auto_reply_from_ews, auto_reply_to_ews, rule_to_ews
from shared.formats.vcard import parse_vcard
from shared.kafka_edge import EventProducer
from shared.ledger import Ledger, LedgerEntry
from shared.migration_state import OPERATION_OF


@dataclass
class PimOutcome:
    results: list[ItemResult] = field(default_factory=list)
    created: list[CreatedThing] = field(default_factory=list)


class PimWriter:
    """``write_ahead`` makes an undo record durable before a setting changes."""

    def __init__(self, target: EwsTarget, write_ahead: Callable[[CreatedThing], None],
                 default_tz: str = "UTC") -> None:
        self.target = target
        self.account: Account = target.account
        self.write_ahead = write_ahead
        self.default_tz = default_tz

    def write(self, items: Sequence[PimItem]) -> PimOutcome:
        out = PimOutcome()
        for item in items:
            try:
                refs, lossy = self._one(item)
            except (FormatError, ItemRejected, ValueError) as exc:
                out.results.append(ItemResult(item_key=item.item_key, item_type=item.item_type,  # type: ignore[arg-type]
                                              result="failed", subject=item.name, reason=str(exc)[:300]))
                continue
            out.created += [CreatedThing(kind="rule" if item.item_type == "rule" else "item", ref=r,
                                         item_key=item.item_key, name=item.name) for r in refs]
            out.results.append(ItemResult(item_key=item.item_key, item_type=item.item_type,  # type: ignore[arg-type]
                                          result="done", bytes=len(item.payload.encode()), subject=item.name,
                                          reason="; ".join(lossy)[:300]))
        return out

    def _one(self, item: PimItem) -> tuple[list[str], list[str]]:
        acc = self.account
        if item.item_type == "contact":
            mapped = contact_to_ews(parse_vcard(item.payload), account=acc, folder=acc.contacts)
            mapped.value.save()
            return [mapped.value.id], mapped.lossy
        if item.item_type == "contact_group":
            data = json.loads(item.payload)
            group = ContactGroup(display_name=data["display_name"], members=[tuple(m) for m in data["members"]])
            mapped = group_to_ews(group, account=acc, folder=acc.contacts)
            mapped.value.save()
            return [mapped.value.id], mapped.lossy
        if item.item_type == "calendar":
            refs, lossy = [], []
            for event in parse_calendar(item.payload).events:
                mapping = event_to_ews(event, default_tz=self.default_tz, account=acc, folder=acc.calendar)
                mapping.item.save()
                lossy += mapping.lossy + apply_occurrence_changes(mapping.item, mapping)
                refs.append(mapping.item.id)
            return refs, lossy
        if item.item_type == "task":
            refs, lossy = [], []
            for task in parse_calendar(item.payload).tasks:
                mapped = task_to_ews(task, account=acc, folder=acc.tasks)
                mapped.value.save()
                refs.append(mapped.value.id)
                lossy += mapped.lossy
            return refs, lossy
        if item.item_type == "rule":
            model = RuleModel.from_json(item.payload)
            rule = rule_to_ews(model, self._folder_for)
            acc.create_rule(rule)
            return [rule.id], model.lossy
        if item.item_type == "auto_reply":
            previous = auto_reply_from_ews(acc.oof_settings)
            self.write_ahead(CreatedThing(kind="setting", name="auto_reply", previous=previous.to_json(),
                                          item_key=item.item_key))
            acc.oof_settings = auto_reply_to_ews(AutoReply.from_json(item.payload))
            return [], []
        raise ValueError(f"unknown item type {item.item_type!r}")

    def _folder_for(self, path: list[str]) -> Any:
        name = self.target.folder_name(path)
        self.target.ensure_folder(name)
        return self.target._folders[name]


def restore_setting(account: Account, rec: CreatedThing) -> None:
    """Undo of a changed setting: put the recorded previous value back."""
    if rec.name == "auto_reply" and rec.previous is not None:
        account.oof_settings = auto_reply_to_ews(AutoReply.from_json(rec.previous))


def load_pim(mid: str, pair_id: str, items: list[PimItem], target: Callable[[], object], ledger: Ledger,
             producer: EventProducer) -> None:
    """A batch's non-mail items into Exchange, once each (the ledger), undo records written first.

    ``target`` opens (or reuses) the migration's target session; a login that cannot succeed
    fails the items with its reason, one that may succeed later is raised (the batch is retried).
    """
    todo, known = ledger.split(items, lambda i: i.item_key)
    results = [ItemResult(item_key=item.item_key, item_type=item.item_type,  # type: ignore[arg-type]
                          result="done" if entry.migration_id == mid else "skipped", subject=item.name,
                          reason="" if entry.migration_id == mid else "already copied by an earlier migration")
               for item, entry in known]
    if todo:
        results += _write_pim(mid, pair_id, todo, target, ledger, producer)
    by_op: dict[str, list[ItemResult]] = defaultdict(list)
    for r in results:
        by_op[OPERATION_OF[r.item_type]].append(r)
    for op, rs in by_op.items():
        producer.send(topics.PROGRESS, mid, ItemResults(migration_id=mid, operation=op, results=rs))
    producer.flush()


def _write_pim(mid: str, pair_id: str, todo: list[PimItem], target: Callable[[], object], ledger: Ledger,
               producer: EventProducer) -> list[ItemResult]:
    try:
        session = target()
    except (SecretUnavailable, ConnectionCheckFailed) as exc:
        if isinstance(exc, ConnectionCheckFailed) and exc.retryable:
            raise
        return [ItemResult(item_key=i.item_key, item_type=i.item_type,  # type: ignore[arg-type]
                           result="failed", subject=i.name, reason=str(exc)) for i in todo]
    if not isinstance(session, EwsTarget):
        return [ItemResult(item_key=i.item_key, item_type=i.item_type,  # type: ignore[arg-type]
                           result="failed", subject=i.name,
                           reason="this item type can only be written to Exchange") for i in todo]

    def write_ahead(rec: CreatedThing) -> None:
        producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=pair_id, records=[rec]))
        producer.flush()
        ledger.record({}, mid, [rec.model_dump_json()])

    out = PimWriter(session, write_ahead).write(todo)
    if out.created:
        producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=pair_id, records=out.created))
        producer.flush()
    done = {r.item_key: r for r in out.results if r.result == "done"}
    ledger.record({k: LedgerEntry(mid, "pim", 0, 0, r.bytes) for k, r in done.items()}, mid,
                  [c.model_dump_json() for c in out.created])
    return out.results
