"""An account's Sieve scripts as the rules operation's items: read whole at plan time (few, small)."""

from __future__ import annotations

from collections.abc import Iterator

from shared.adapters.ports import WholeItem
from shared.adapters.sieve.client import ManageSieve
from shared.events import SieveScriptItem


class SieveReader:
    """The :class:`~shared.adapters.ports.ItemReader` of a ManageSieve session."""

    def __init__(self, client: ManageSieve) -> None:
        self.client = client

    def read(self, operation: str, mid: str) -> Iterator[WholeItem]:
        """Every script with its content and whether it is the active one."""
        scripts = self.client.list_scripts()
        items = [SieveScriptItem(migration_id=mid, item_key=f"sieve:{name}", name=name,
                                 script=self.client.get_script(name), active=active)
                 for name, active in scripts.items()]
        yield from items

    def close(self) -> None:
        self.client.logout()
