"""Undo of Sieve scripts: each script the migration wrote gets its previous content back (or goes,
if it was new), and the previously active script is active again."""

from __future__ import annotations

from collections.abc import Sequence

from shared.adapters.sieve.client import ManageSieve
from shared.events import CreatedThing


def restore_scripts(sieve: ManageSieve, scripts: Sequence[CreatedThing]) -> int:
    """Newest record first, so the oldest record's ``previous`` is what remains."""
    if not scripts:
        return 0
    existing = sieve.list_scripts()
    for rec in reversed(scripts):
        if rec.previous is None:
            if existing.get(rec.name):
                sieve.set_active("")
            sieve.delete_script(rec.name)
        else:
            sieve.put_script(rec.name, rec.previous)
    sieve.set_active(scripts[0].previous_active or "")
    return len({s.name for s in scripts})
