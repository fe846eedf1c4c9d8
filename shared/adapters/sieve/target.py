"""Sieve scripts (rules, vacation auto-reply) into the target over ManageSieve.

A script is a *setting*: the target may already have one by that name. The undo record holding
its previous content (and which script was active) is made durable *before* the script is
written (write-ahead), so an undo can always put the old one back. Writing a script again is
harmless (PUTSCRIPT replaces it), so nothing needs to be looked for after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.adapters.ports import ItemOutcome, ItemRecord, WriteContext
from shared.adapters.sieve.client import ManageSieve
from shared.errors import ItemRejected
from shared.events import CreatedThing, ItemResult, SieveScriptItem


class SieveTarget:
    """The :class:`~shared.adapters.ports.ItemTarget` of a ManageSieve session."""

    def __init__(self, client: ManageSieve) -> None:
        self.client = client

    def write(self, items: Sequence[ItemRecord], ctx: WriteContext, out: ItemOutcome) -> None:
        scripts = self.client.list_scripts()
        active = next((name for name, on in scripts.items() if on), None)
        for item in items:
            if not isinstance(item, SieveScriptItem):
                out.results.append(ItemResult(item_key=item.item_key, item_type="rule", result="failed",
                                              subject=item.name, reason="not a Sieve script"))
                continue
            previous = self.client.get_script(item.name) if item.name in scripts else None
            ctx.write_ahead(CreatedThing(kind="sieve_script", name=item.name, previous=previous,
                                         previous_active=active, item_key=item.item_key))
            try:
                self.client.put_script(item.name, item.script)
                if item.active:
                    self.client.set_active(item.name)
                    active = item.name
            except ItemRejected as exc:
                out.results.append(ItemResult(item_key=item.item_key, item_type="rule", result="failed",
                                              subject=item.name, reason=str(exc)))
                continue
            out.results.append(ItemResult(item_key=item.item_key, item_type="rule", result="done",
                                          bytes=len(item.script.encode()), subject=item.name))

    def close(self) -> None:
        self.client.logout()
