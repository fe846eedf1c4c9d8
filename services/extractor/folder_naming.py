"""The target names of a migration's folders, decided once per source/target pair before any folder is made.

Two source folders whose names would meet on the target (``Work`` and ``work`` on Exchange) get a folder each
(:mod:`shared.folder_names`). The decision is recorded on the compacted ``ledger`` topic (flushed, then its
Redis view) before the folder events go out, and every later plan of the pair — a delta pass, a plan again
after a restart — reads it back instead of deciding again: a folder keeps the name it was first given even when
folders that sort before it appear later. Only a plan with folders not yet decided, two of which could meet on
some target (:func:`shared.folder_names.may_meet`: most listings have none), asks the target where paths land,
on a session of its own (:meth:`SourcePool.mail_target`, never waited for while the source session holds a
lease: that one is given back first); the loaders just make the decided paths.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from services.extractor.plan import with_target_paths
from services.extractor.sources import SourcePool
from shared import topics
from shared.adapters import registry
from shared.edges import ProducerEdge
from shared.errors import ConnectionCheckFailed
from shared.events import FolderRef, MigrationRequested
from shared.folder_names import as_entry, distinct_paths, fixed, from_entry, may_meet, record_key, reserved_keys
from shared.host_leases import SessionRefused
from shared.ledger import ledger_record
from shared.migration_records import MigrationRecords

log = logging.getLogger("mailferry.extractor")


class FolderNaming:
    def __init__(self, records: MigrationRecords, producer: ProducerEdge, pool: SourcePool) -> None:
        self.records = records
        self.producer = producer
        self.pool = pool

    def name(self, ev: MigrationRequested, refs: Sequence[tuple[FolderRef, bool]]) -> list[tuple[FolderRef, bool]]:
        """``refs`` with the target path each folder was given (``FolderRef.target_path`` where it is not its own)."""
        ledger = self.records.ledger(ev.pair_id)
        found = ledger.lookup([record_key(ref.folder_id) for ref, _s in refs])
        recorded = {ref.folder_id: path for ref, _s in refs
                    if (entry := found.get(record_key(ref.folder_id))) is not None
                    and (path := from_entry(entry)) is not None}
        if all(ref.folder_id in recorded or fixed(ref.path) for ref, _s in refs):
            return with_target_paths(refs, recorded)  # nothing to decide (a POP3 source's INBOX)
        # Each folder below the path its parent was given; only where two could meet is the target asked.
        given = distinct_paths([ref for ref, _s in refs], "\x1f".join, recorded)
        decided = {*recorded, *(ref.folder_id for ref, _s in refs if fixed(ref.path))}
        if may_meet(given, decided):
            given = self._decide(ev, refs, recorded)
        new = {record_key(ref.folder_id): as_entry(ev.migration_id, given[ref.folder_id]) for ref, _s in refs
               if ref.folder_id not in recorded and not fixed(ref.path)}  # the INBOX and special roots never move
        for key, entry in new.items():
            self.producer.send_raw(topics.LEDGER, ledger_record(ev.pair_id, key), entry.to_json().encode())
        self.producer.flush()  # on the record before any folder is made under these names
        ledger.record(new)
        out = with_target_paths(refs, given)
        renamed = sum(1 for ref, _s in out if ref.target_path)
        if renamed:
            log.info("folders given another name on the target", extra={"migration_id": ev.migration_id,
                                                                         "folders": renamed})
        return out

    def _decide(self, ev: MigrationRequested, refs: Sequence[tuple[FolderRef, bool]],
                recorded: dict[str, list[str]]) -> dict[str, list[str]]:
        mid = ev.migration_id
        try:
            try:
                target = self.pool.mail_target(mid, ev.target, wait=False)
            except SessionRefused:
                # The caps are full (the source may share the target's server): never wait for a lease while
                # holding one. The source session is given back first; the planner opens it again after.
                self.pool.drop(mid)
                target = self.pool.mail_target(mid, ev.target)
        except ConnectionCheckFailed as exc:
            if exc.retryable:
                raise
            raise type(exc)(f"target login failed: {exc}") from None
        try:
            return distinct_paths([ref for ref, _s in refs], target.folder_key, recorded,
                                  registry.system(ev.target.type).folder_name_units, reserved_keys(target.folder_key))
        finally:
            self.pool.close_target(target)
