"""The target side of a memory account: e-mail (folders and messages) and every other item kind.

It keeps the e-mail order every target keeps (:mod:`shared.adapters.mail_batches`); an item it writes
carries a marker (the pair and the item key), so one in flight after a crash is found again, not
written twice; the auto-reply is a setting, its previous value written ahead before it changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from shared import folder_map
from shared.adapters.mail_batches import write_mail
from shared.adapters.memory.account import DELIMITER, MemItem, MemoryAccount
from shared.adapters.ports import Announce, Outgoing, Placed, PlacementSink, WriteContext
from shared.adapters.records import ItemRecord, MailRecord, PimRecord
from shared.errors import ItemRejected, Transient
from shared.events import CreatedThing


class MemoryMailTarget:
    """The :class:`~shared.adapters.ports.MailTarget` of a memory account."""

    def __init__(self, account: MemoryAccount) -> None:
        self.account = account

    def folder_name(self, path: Sequence[str]) -> str:
        specials = {f.use: name for name, f in self.account.folders.items() if f.use}
        return folder_map.target_name(path, specials, DELIMITER)

    def folder_key(self, path: Sequence[str]) -> str:
        return folder_map.compared_name(self.folder_name(path), DELIMITER)

    def folder_ref(self, name: str) -> str:
        return ""

    def ensure_folders(self, names: Sequence[str], announce: Announce | None = None) -> list[str]:
        wanted = list(dict.fromkeys(each for name in names for each in [*folder_map.ancestors(name, DELIMITER), name]
                                    if each not in self.account.folders))
        if wanted and announce is not None:
            announce(wanted)
        self.account.step("create")
        for each in wanted:
            self.account.folder(each)
        return wanted

    def write(self, records: Sequence[MailRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        write_mail(self, records, ctx, sink)

    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """A copy with the same bytes' size, date and Message-ID; the newest first (the one just written)."""
        self.account.step("find")
        f = self.account.folders.get(folder)
        if f is None:
            return None
        for uid in sorted(f.messages, reverse=True):
            m = f.messages[uid]
            if (str(uid) not in exclude and len(m.data) == len(msg.data) and m.internaldate == msg.internaldate
                    and (not msg.message_id or msg.message_id.encode() in m.data)):
                return Placed(folder, f.uidvalidity, uid)
        return None

    def append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        self.account.step("append")
        out: list[list[Placed | ItemRejected]] = []
        for folder, msgs in jobs:
            placed: list[Placed | ItemRejected] = []
            for m in msgs:
                try:
                    self.account.check_refused(m.data)
                except ItemRejected as exc:
                    placed.append(exc)
                    continue
                uid = self.account.add(folder, m.data, m.flags, m.internaldate)
                placed.append(Placed(folder, self.account.folders[folder].uidvalidity, uid))
            out.append(placed)
        if self.account.answer_lost():
            raise Transient("the connection dropped before the answer came")
        return out

    def close(self) -> None:
        return None


class MemoryItemTarget:
    """The item target of a memory account (contacts ... the auto-reply)."""

    def __init__(self, account: MemoryAccount) -> None:
        self.account = account

    def write(self, records: Sequence[ItemRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        self.account.step("write_items")
        settled: list[tuple[ItemRecord, Placed | ItemRejected, list[CreatedThing]]] = []
        for rec in records:
            if not isinstance(rec, PimRecord):
                settled.append((rec, ItemRejected("a memory account keeps no Sieve scripts"), []))
                continue
            item = rec.item
            try:
                self.account.check_refused(item.payload.encode())
            except ItemRejected as exc:
                settled.append((rec, exc, []))
                continue
            if item.item_type == "auto_reply":
                previous = self.account.settings.get("auto_reply")
                ctx.write_ahead([CreatedThing(kind="setting", name="auto_reply", previous=previous,
                                              item_key=item.item_key)])
                self.account.settings["auto_reply"] = item.payload
                settled.append((rec, Placed("pim"), []))
                continue
            kind: Literal["rule", "item"] = "rule" if item.item_type == "rule" else "item"
            marker = f"{ctx.pair_id}:{item.item_key}"
            refs = [ref for ref, it in self.account.items.items() if it.marker == marker] \
                if item.item_key in ctx.inflight else []
            if not refs:  # not there yet: written now
                refs = [self.account.add_item(MemItem(item.item_type, item.payload, item.name, marker))]
            settled.append((rec, Placed("pim", ref=" ".join(refs)),
                            [CreatedThing(kind=kind, ref=r, item_key=item.item_key, name=item.name) for r in refs]))
        if self.account.answer_lost():
            raise Transient("the connection dropped before the answer came")
        for rec, outcome, created in settled:
            if isinstance(outcome, ItemRejected):
                sink.rejected(rec, outcome)
            else:
                sink.placed(rec, outcome, created)

    def close(self) -> None:
        return None
