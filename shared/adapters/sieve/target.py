"""Sieve scripts (rules, vacation auto-reply) into the target over ManageSieve.

A script is a *setting*: the target may already have one by that name. The undo record holding
its previous content (and which script was active) is made durable *before* the script is
written (write-ahead), so an undo can always put the old one back. Writing a script again is
harmless (PUTSCRIPT replaces it), so nothing needs to be looked for after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.adapters.ports import Placed, PlacementSink, WriteContext
from shared.adapters.records import ItemRecord, ScriptRecord
from shared.adapters.sieve.client import ManageSieve
from shared.errors import ItemRejected
from shared.events import CreatedThing


class SieveTarget:
    """The item target (:class:`~shared.adapters.ports.Target`) of a ManageSieve session."""

    def __init__(self, client: ManageSieve) -> None:
        self.client = client

    def write(self, records: Sequence[ItemRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        scripts = self.client.list_scripts()
        active = next((name for name, on in scripts.items() if on), None)
        for rec in records:
            if not isinstance(rec, ScriptRecord):
                sink.rejected(rec, ItemRejected("not a Sieve script"))
                continue
            item = rec.item
            previous = self.client.get_script(item.name) if item.name in scripts else None
            ctx.write_ahead([CreatedThing(kind="sieve_script", name=item.name, previous=previous,
                                          previous_active=active, item_key=item.item_key)])
            try:
                self.client.put_script(item.name, item.script)
                if item.active:
                    self.client.set_active(item.name)
                    active = item.name
            except ItemRejected as exc:
                sink.rejected(rec, exc)
                continue
            sink.placed(rec, Placed("sieve"), ())

    def close(self) -> None:
        self.client.logout()
