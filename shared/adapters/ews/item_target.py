"""Writing contacts, contact groups, events, tasks, rules and the auto-reply into Exchange.

Created items and rules are recorded by their Exchange id; the auto-reply is a
setting, so its previous value is recorded *before* it is changed (write-ahead)
and undo puts it back. What the target cannot hold is reported with the item.

Items are marked in flight before they are written, like mail. Each created item
carries the mailferry marker (:mod:`shared.adapters.ews.marker`); a retry looks for
the markers of the items still in flight and records what it finds instead of
creating it again, adding the files it may lack (they are created after the item). Only
in-flight items cost a search (one FindItem and one GetItem per folder and 50 markers).
Rules carry no properties: :mod:`shared.adapters.ews.rules` finds them among the rules
that appeared since the first attempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any, Protocol

from exchangelib import Account
from exchangelib.attachments import FileAttachment
from exchangelib.properties import ItemId

from shared.adapters.ews.containers import FolderByName
from shared.adapters.ews.fields import FIELD
from shared.adapters.ews.mapping import (
    ContactGroup,
    EventMapping,
    apply_occurrence_changes,
    contact_to_ews,
    event_to_ews,
    group_to_ews,
    occurrence_index,
    task_to_ews,
)
from shared.adapters.ews.marker import find_marked, marker
from shared.adapters.ews.rules import RuleWriter
from shared.adapters.ports import Placed, PlacementSink, WriteContext
from shared.adapters.records import ItemRecord, PimRecord
from shared.errors import ItemRejected
from shared.events import CreatedThing, PimItem
from shared.formats import FormatError
from shared.formats.calendar_name import calendar_name
from shared.formats.calendar_zone import calendar_zone
from shared.formats.ical import Calendar, parse_calendar
from shared.formats.settings import AutoReply, RuleModel, auto_reply_from_ews, auto_reply_to_ews
from shared.formats.vcard import parse_vcard


def _no_follow_up(_adopted: str | None) -> list[str]:
    return []


@dataclass
class Part:
    """One Exchange item made from a source item, stamped with its marker.

    ``finish`` runs once the part exists (given the id of a copy found after a crash, or None
    when the part was just created) and returns what could not be carried over.
    """

    item: Any  # unsaved exchangelib item
    marker: str
    finish: Callable[[str | None], list[str]] = _no_follow_up


@dataclass
class Planned:
    """A source item as the Exchange items to create in ``folder``."""

    record: PimRecord
    folder: Any
    parts: list[Part]
    lossy: list[str]


class Folders(Protocol):
    """What the writer needs of the mailbox's e-mail target (:class:`shared.adapters.ews.mail_target.EwsTarget`):
    the account, and folders by neutral path (a rule may move mail into one the target lacks)."""

    account: Account

    def folder_name(self, path: Sequence[str]) -> str: ...

    def ensure_folder(self, name: str) -> list[str]: ...

    def folder_ref(self, name: str) -> str: ...

    def folder(self, name: str) -> Any: ...


class EwsItemTarget:
    """The item target (:class:`~shared.adapters.ports.Target`) of a mailbox: contacts, groups, events, tasks,
    inbox rules and the auto-reply. ``folders`` is the mailbox's e-mail target, for a rule's folders."""

    def __init__(self, folders: Folders) -> None:
        self.folders = folders

    def write(self, records: Sequence[ItemRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        pims: list[PimRecord] = []
        for rec in records:
            if isinstance(rec, PimRecord):
                pims.append(rec)
            else:
                sink.rejected(rec, ItemRejected("Sieve scripts cannot be written to Exchange"))
        PimWriter(self.folders, ctx).write(pims, ctx.inflight, sink)

    def close(self) -> None:
        self.folders.account.protocol.close()


class PimWriter:
    """Writes one batch: ``ctx.write_ahead`` makes an undo record durable before a setting changes; the
    markers carry ``ctx.pair_id`` with the item key; rules keep their snapshots in ``ctx.snapshots``."""

    def __init__(self, target: Folders, ctx: WriteContext, default_tz: str = "UTC") -> None:
        self.target = target
        self.account: Account = target.account
        self.write_ahead = ctx.write_ahead
        self.scope = ctx.pair_id
        self.default_tz = default_tz
        self.rules = RuleWriter(self.account, ctx.snapshots, self._folder_for)
        self.by_name = FolderByName(self.account, ctx.write_ahead)

    def write(self, records: Sequence[PimRecord], inflight: Set[str], sink: PlacementSink) -> None:
        """``inflight``: the keys that may already be on the target (written before a crash). Each item is
        reported to ``sink`` as soon as it is settled, so what reached the target before an error ends the
        batch can still be undone."""
        plans: list[Planned | PimRecord] = []
        for rec in records:
            try:
                plans.append(self._plan(rec))
            except (FormatError, ValueError) as exc:
                sink.rejected(rec, ItemRejected(str(exc)[:300]))
        found = self._find([p for p in plans if isinstance(p, Planned) and p.record.key in inflight])
        self.rules.prepare([p.key for p in plans if isinstance(p, PimRecord) and p.item.item_type == "rule"])
        for plan in plans:
            rec = plan.record if isinstance(plan, Planned) else plan
            item = rec.item
            refs: list[str] = []
            try:
                lossy = (self._save(plan, found, refs) if isinstance(plan, Planned)
                         else self._setting(item, item.item_key in inflight, refs))
            except (FormatError, ItemRejected, ValueError) as exc:
                # What was created before the failure stays undoable (and the item in flight).
                error = exc if isinstance(exc, ItemRejected) else ItemRejected(str(exc)[:300])
                sink.rejected(rec, error, self._records(item, refs))
                continue
            except BaseException:
                sink.undoable(self._records(item, refs))  # the parts made before the error stay undoable
                raise
            sink.placed(rec, Placed("pim", ref=" ".join(refs)), self._records(item, refs),
                        "; ".join([*item.lossy, *lossy])[:300])

    def _records(self, item: PimItem, refs: list[str]) -> list[CreatedThing]:
        return [CreatedThing(kind="rule" if item.item_type == "rule" else "item", ref=r, item_key=item.item_key,
                             name=item.name) for r in refs]

    # -- items ---------------------------------------------------------------------------
    def _plan(self, rec: PimRecord) -> Planned | PimRecord:
        """The Exchange items for a source item, none written yet; rules and the auto-reply stay as they are."""
        acc = self.account
        item = rec.item
        if item.item_type == "contact":
            contact = contact_to_ews(parse_vcard(item.payload), account=acc, folder=acc.contacts)
            return self._planned(rec, acc.contacts, [(contact.value, _no_follow_up)], contact.lossy)
        if item.item_type == "contact_group":
            data = json.loads(item.payload)
            group = ContactGroup(display_name=data["display_name"], members=[tuple(m) for m in data["members"]])
            mapped = group_to_ews(group, account=acc, folder=acc.contacts)
            return self._planned(rec, acc.contacts, [(mapped.value, _no_follow_up)], mapped.lossy)
        if item.item_type == "calendar":
            cal = parse_calendar(item.payload)
            folder = self._container(acc.calendar, cal)
            tz = calendar_zone(cal) or self.default_tz  # floating times and all-day days: the source's zone
            events = [event_to_ews(e, default_tz=tz, account=acc, folder=folder) for e in cal.events]
            return self._planned(rec, folder, [(m.item, self._occurrences(m)) for m in events],
                                 [x for m in events for x in m.lossy])
        if item.item_type == "task":
            cal = parse_calendar(item.payload)
            folder = self._container(acc.tasks, cal)
            tasks = [task_to_ews(t, account=acc, folder=folder) for t in cal.tasks]
            return self._planned(rec, folder, [(t.value, _no_follow_up) for t in tasks],
                                 [x for t in tasks for x in t.lossy])
        if item.item_type in ("rule", "auto_reply"):
            return rec
        raise ValueError(f"unknown item type {item.item_type!r}")

    def _container(self, default: Any, cal: Calendar) -> Any:
        """The default folder, or the one of the name the item carries (``containers``), made where missing."""
        name = calendar_name(cal)
        return self.by_name.folder(default, name) if name else default

    def _planned(self, rec: PimRecord, folder: Any, values: list[tuple[Any, Callable[[str | None], list[str]]]],
                 lossy: list[str]) -> Planned:
        parts = []
        for n, (value, finish) in enumerate(values):
            mark = marker(self.scope, rec.key, n)
            setattr(value, FIELD, mark)
            parts.append(Part(value, mark, finish))
        return Planned(rec, folder, parts, lossy)

    def _find(self, plans: list[Planned]) -> dict[str, list[str]]:
        """Marker → ids of the in-flight parts already on the target: one search per folder."""
        by_folder: dict[str, tuple[Any, list[str]]] = {}
        for p in plans:
            by_folder.setdefault(p.folder.id, (p.folder, []))[1].extend(part.marker for part in p.parts)
        return {m: ids for folder, markers in by_folder.values() for m, ids in find_marked(folder, markers).items()}

    def _save(self, plan: Planned, found: dict[str, list[str]], refs: list[str]) -> list[str]:
        """Each part created, or taken over when found; a part found twice has every copy recorded."""
        lossy = list(plan.lossy)
        for part in plan.parts:
            existing = found.get(part.marker, [])
            if not existing:
                part.item.save()
            else:
                self._adopt_files(part.item, existing[0])
            refs.extend(existing or [part.item.id])
            lossy += part.finish(existing[0] if existing else None)
        return lossy

    def _adopt_files(self, unsaved: Any, ref: str) -> None:
        """A copy found after a crash may lack files: Exchange creates them after the item (CreateAttachment
        follows CreateItem). Those it does not hold by name are added now."""
        wanted = [a for a in unsaved.attachments or [] if isinstance(a, FileAttachment)]
        if not wanted:
            return
        [found] = self.account.fetch(ids=[ItemId(id=ref)])
        if isinstance(found, Exception):
            raise found
        have = {a.name for a in found.attachments or []}
        for a in wanted:
            if a.name not in have:
                found.attach(FileAttachment(name=a.name, content=a.content, content_type=a.content_type,
                                            content_id=a.content_id, is_inline=a.is_inline,
                                            is_contact_photo=a.is_contact_photo))

    def _occurrences(self, mapping: EventMapping) -> Callable[[str | None], list[str]]:
        """Modified and deleted occurrences, applied once the master exists; on a master found after
        a crash, only the deletions not done yet (deleting one twice is an error)."""
        def finish(adopted: str | None) -> list[str]:
            if not (mapping.modified_occurrences or mapping.deleted_occurrences):
                return []
            if adopted is None:
                return apply_occurrence_changes(mapping.item, mapping)
            [master] = self.account.fetch(ids=[ItemId(id=adopted)])
            if isinstance(master, Exception):
                raise master
            tz = master._start_timezone
            done = {occurrence_index(master.recurrence, d.start, tz) for d in master.deleted_occurrences or []}
            rest = [d for d in mapping.deleted_occurrences if occurrence_index(master.recurrence, d, tz) not in done]
            return apply_occurrence_changes(master, replace(mapping, item=master, deleted_occurrences=rest))
        return finish

    # -- rules and the auto-reply ------------------------------------------------------------
    def _setting(self, item: PimItem, inflight: bool, refs: list[str]) -> list[str]:
        acc = self.account
        if item.item_type == "rule":
            model = RuleModel.from_json(item.payload)
            refs.append(self.rules.write(item.item_key, model, inflight))
            return model.lossy
        previous = auto_reply_from_ews(acc.oof_settings)
        self.write_ahead([CreatedThing(kind="setting", name="auto_reply", previous=previous.to_json(),
                                       item_key=item.item_key)])
        acc.oof_settings = auto_reply_to_ews(AutoReply.from_json(item.payload))
        return []

    def _folder_for(self, path: list[str]) -> Any:
        name = self.target.folder_name(path)
        made = self.target.ensure_folder(name)
        if made:  # a folder made for a rule is undone with it
            self.write_ahead([CreatedThing(kind="folder", target_folder=n, ref=self.target.folder_ref(n))
                              for n in made])
        return self.target.folder(name)

