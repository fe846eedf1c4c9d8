"""Writing contacts, events, To Do tasks, inbox rules and the automatic replies into Microsoft 365 (Graph).

Created items are recorded by a ref that says what they are (``contact:ID``, ``event:ID``,
``task:LIST:ID``) so undo deletes each the way Graph wants; rules by their id (kind ``rule``); the
automatic replies are a setting, so their previous value is written ahead before the change and undo
puts it back. Contacts and events carry the mailferry marker (a named extended property): a retry after
a crash looks for the markers of the items still in flight. To Do tasks cannot carry one: an in-flight
task is looked for by its title, body and dates among the tasks no ledger entry claims. Rules carry none
either: the rule ids are written ahead (the ledger's rule snapshots), and an in-flight rule is looked
for only among the rules that appeared since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from shared.adapters.graph.client import GraphClient
from shared.adapters.graph.containers import Containers
from shared.adapters.graph.item_files import attach_to_event, attach_to_task, put_photo
from shared.adapters.graph.mail_target import GraphTarget
from shared.adapters.graph.mapping import auto_reply_from_graph, parse_utc
from shared.adapters.graph.mime_message import MARKER
from shared.adapters.graph.to_graph import (
    auto_reply_to_graph,
    contact_to_graph,
    event_fields,
    event_to_graph,
    occurrence_day,
    rule_to_graph,
    task_to_graph,
)
from shared.adapters.ports import Placed, PlacementSink, WriteContext
from shared.adapters.records import ItemRecord, PimRecord
from shared.errors import ItemRejected, ServerRefused
from shared.events import CreatedThing, PimItem
from shared.formats import FormatError, item_attachments
from shared.formats.calendar_name import calendar_name
from shared.formats.calendar_zone import calendar_zone
from shared.formats.ical import EventRecord, parse_calendar
from shared.formats.item_attachments import not_held
from shared.formats.settings import AutoReply, RuleModel
from shared.formats.vcard import parse_vcard

COLLECTIONS = {"contact": "/contacts", "calendar": "/calendar/events"}


def item_marker(scope: str, key: str, part: int) -> str:
    return f"{scope}\x00{key}\x00{part}"


class GraphItemTarget:
    """The item target (:class:`~shared.adapters.ports.Target`) of a Microsoft 365 mailbox."""

    def __init__(self, mail: GraphTarget) -> None:
        self.mail = mail
        self.client: GraphClient = mail.client
        self.scope = ""
        self._default_list: str | None = None
        self._markers: dict[str, dict[str, str]] = {}
        self.containers = Containers(self.client)

    def write(self, records: Sequence[ItemRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        self.scope = ctx.pair_id
        self.ctx = ctx
        self.containers.write_ahead = ctx.write_ahead
        rules = [r.key for r in records if isinstance(r, PimRecord) and r.item.item_type == "rule"]
        if rules:
            ctx.snapshots.keep_rules_before(rules, self._rule_ids())
        for rec in records:
            if not isinstance(rec, PimRecord):
                sink.rejected(rec, ItemRejected("Microsoft 365 has no Sieve scripts; use inbox rules"))
                continue
            item = rec.item
            refs: list[str] = []
            try:
                lossy = self._one(item, item.item_key in ctx.inflight, refs)
            except (FormatError, ItemRejected, ValueError) as exc:
                error = exc if isinstance(exc, ItemRejected) else ItemRejected(str(exc)[:300])
                sink.rejected(rec, error, self._records(item, refs))
                continue
            except ServerRefused as exc:
                sink.rejected(rec, ItemRejected(f"Microsoft 365 refused it: {exc}"[:300]), self._records(item, refs))
                continue
            except BaseException:
                sink.undoable(self._records(item, refs))  # what was made before the error stays undoable
                raise
            note = "; ".join([*item.lossy, *lossy])[:300]
            sink.placed(rec, Placed("pim", ref=" ".join(refs)), self._records(item, refs), note)

    @staticmethod
    def _records(item: PimItem, refs: list[str]) -> list[CreatedThing]:
        kind: Literal["rule", "item"] = "rule" if item.item_type == "rule" else "item"
        return [CreatedThing(kind=kind, ref=r, item_key=item.item_key, name=item.name) for r in refs]

    def _one(self, item: PimItem, inflight: bool, refs: list[str]) -> list[str]:
        kind = item.item_type
        if kind == "contact":
            card = parse_vcard(item.payload)
            files, rest = item_attachments.split(card.extra)
            mapped = contact_to_graph(replace(card, extra=rest))
            contact_id, _created = self._create("contact", item.item_key, 0, mapped.value, inflight, refs)
            return (mapped.lossy + not_held(files, "Graph's contacts have no attachments")
                    + put_photo(self.client, contact_id, card.photo, card.photo_type))
        if kind == "calendar":
            lossy: list[str] = []
            cal = parse_calendar(item.payload)
            collection = self.containers.events_of(calendar_name(cal))
            day_zone = calendar_zone(cal)
            for n, event in enumerate(cal.events):
                lossy += self._event(item.item_key, n, event, inflight, refs, collection, day_zone)
            return lossy
        if kind == "task":
            lossy = []
            cal = parse_calendar(item.payload)
            name = calendar_name(cal)
            lst = self.containers.task_list(name) if name else self._default()
            for task in cal.tasks:
                files, rest = item_attachments.split(task.extra)
                mapped = task_to_graph(replace(task, extra=rest))
                ref, created = self._task(lst, mapped.value, inflight)
                refs.append(ref)
                _kind, list_id, task_id = ref.split(":")
                lossy += mapped.lossy + attach_to_task(self.client, f"/todo/lists/{list_id}/tasks/{task_id}", files,
                                                       created)
            return lossy
        if kind == "rule":
            return self._rule(item, inflight, refs)
        if kind == "auto_reply":
            self._auto_reply(item)
            return []
        if kind == "contact_group":
            raise ItemRejected("Microsoft 365 (Graph) has no contact groups (distribution lists); the group and its "
                               "members are listed in the report")
        raise ValueError(f"unknown item type {kind!r}")

    # -- contacts and events -------------------------------------------------------------------
    def _found(self, collection: str) -> dict[str, str]:
        """Marker → id of the items of a collection that carry one (read once per batch, on a retry)."""
        if collection not in self._markers:
            params = {"$select": "id", "$top": "100",
                      "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER}')"}
            found: dict[str, str] = {}
            for it in self.client.pages(collection, params):
                for p in it.get("singleValueExtendedProperties") or []:
                    found[str(p.get("value") or "")] = str(it["id"])
            self._markers[collection] = found
        return self._markers[collection]

    def _create(self, kind: str, key: str, part: int, body: dict[str, Any], inflight: bool,
                refs: list[str], collection: str = "") -> tuple[str, bool]:
        """(id, created now) of an item in ``collection`` (default: the kind's own): found by its marker when
        it may exist, else created."""
        mark = item_marker(self.scope, key, part)
        prefix = "contact" if kind == "contact" else "event"
        collection = collection or COLLECTIONS[kind]
        if inflight:
            existing = self._found(collection).get(mark)
            if existing:
                refs.append(f"{prefix}:{existing}")
                return existing, False
        made = self.client.request("POST", collection, body={
            **body, "singleValueExtendedProperties": [{"id": MARKER, "value": mark}]})
        ref = str(made["id"])
        refs.append(f"{prefix}:{ref}")
        return ref, True

    def _event(self, key: str, n: int, event: EventRecord, inflight: bool, refs: list[str],
               collection: str, day_zone: str | None = None) -> list[str]:
        files, rest = item_attachments.split(event.extra)
        mapped = event_to_graph(replace(event, extra=rest), day_zone)
        master, created = self._create("calendar", key, n, mapped.value, inflight, refs, collection)
        lossy = list(mapped.lossy) + attach_to_event(self.client, master, files, created)
        if "recurrence" in mapped.value and (event.exceptions or event.exdates):
            lossy += self._occurrences(master, event, day_zone)
        return lossy

    def _occurrences(self, master: str, event: EventRecord, day_zone: str | None = None) -> list[str]:
        """Modified occurrences patched, deleted ones deleted; idempotent (a cancelled one is not listed)."""
        tz = event.start.tzinfo if isinstance(event.start, datetime) else None
        changes: dict[date, EventRecord | None] = {}
        for exc in event.exceptions:
            if exc.recurrence_id is not None:
                changes[occurrence_day(exc.recurrence_id, tz)] = exc
        for d in event.exdates:
            changes[occurrence_day(d, tz)] = None
        if not changes:
            return []
        lo, hi = min(changes) - timedelta(days=1), max(changes) + timedelta(days=2)
        window = {"startDateTime": f"{lo.isoformat()}T00:00:00Z", "endDateTime": f"{hi.isoformat()}T00:00:00Z",
                  "$top": "100"}
        done: set[date] = set()
        for inst in self.client.pages(f"/events/{master}/instances", window):
            original = parse_utc(inst.get("originalStart"))
            if original is None:
                continue
            day = original.astimezone(tz).date() if tz is not None else original.date()
            if day not in changes or day in done:
                continue
            done.add(day)
            change = changes[day]
            if change is None:
                self.client.request("DELETE", f"/events/{inst['id']}")
            else:
                body = event_fields(change, [], day_zone)
                body.pop("attendees", None)
                self.client.request("PATCH", f"/events/{inst['id']}", body=body)
        missing = [d for d in changes if d not in done and changes[d] is not None]
        return [f"{len(missing)} modified occurrences not found in the series"] if missing else []

    # -- To Do ---------------------------------------------------------------------------------
    def _default(self) -> str:
        if self._default_list is None:
            lists = list(self.client.pages("/todo/lists"))
            found = next((x for x in lists if x.get("wellknownListName") == "defaultList"), None)
            if found is None:
                raise ItemRejected("the mailbox has no default To Do list")
            self._default_list = str(found["id"])
        return self._default_list

    def _task(self, lst: str, body: dict[str, Any], inflight: bool) -> tuple[str, bool]:
        """The task's ref, and whether it was made now (else found again after a crash)."""
        if inflight:
            claimed = {r for e in self.ctx.known.values() for r in e.ref.split()}
            for t in self.client.pages(f"/todo/lists/{lst}/tasks", {"$top": "100"}):
                ref = f"task:{lst}:{t['id']}"
                if ref not in claimed and all(t.get(k) == v for k, v in body.items() if k in ("title", "status")) \
                        and (t.get("body") or {}).get("content", "") == (body.get("body") or {}).get("content", "") \
                        and _day(t.get("dueDateTime")) == _day(body.get("dueDateTime")):
                    return ref, False
        made = self.client.request("POST", f"/todo/lists/{lst}/tasks", body=body)
        return f"task:{lst}:{made['id']}", True

    # -- rules and the auto-reply --------------------------------------------------------------
    def _rule_ids(self) -> list[str]:
        return [str(r["id"]) for r in self.client.pages("/mailFolders/inbox/messageRules")]

    def _rule(self, item: PimItem, inflight: bool, refs: list[str]) -> list[str]:
        model = RuleModel.from_json(item.payload)
        mapped = rule_to_graph(model, self._folder_for)
        if inflight:
            before = self.ctx.snapshots.rules_before(item.item_key)
            if before is not None:
                for r in self.client.pages("/mailFolders/inbox/messageRules"):
                    if str(r["id"]) not in before and r.get("displayName") == mapped.value["displayName"]:
                        refs.append(str(r["id"]))
                        return mapped.lossy
        try:
            made = self.client.request("POST", "/mailFolders/inbox/messageRules", body=mapped.value)
        except ServerRefused as exc:
            raise ItemRejected(f"Microsoft 365 refused the rule: {exc}"[:300]) from None
        refs.append(str(made["id"]))
        return mapped.lossy

    def _folder_for(self, path: list[str]) -> str:
        name = self.mail.folder_name(path)
        made = self.mail.ensure_folder(name)
        if made:  # a folder made for a rule is undone with it
            self.ctx.write_ahead([CreatedThing(kind="folder", target_folder=n, ref=self.mail.folder_ref(n))
                                  for n in made])
        return self.mail.folder_id(name)

    def _auto_reply(self, item: PimItem) -> None:
        current = self.client.get("/mailboxSettings/automaticRepliesSetting")
        previous = auto_reply_from_graph(current or {})
        self.ctx.write_ahead([CreatedThing(kind="setting", name="auto_reply", previous=previous.to_json(),
                                           item_key=item.item_key)])
        body = auto_reply_to_graph(AutoReply.from_json(item.payload))
        self.client.request("PATCH", "/mailboxSettings", body={"automaticRepliesSetting": body})

    def close(self) -> None:
        self.client.close()


def _day(value: Any) -> str:
    return str((value or {}).get("dateTime") or "")[:10]

