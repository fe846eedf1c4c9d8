"""How long a rebuild of the Redis view takes: 10,000 migrations' state, read back from their topics.

Starts its own broker (tansu) and redis-server, writes the record of ``--migrations`` finished
migrations the way the services do (spec, data key and its tombstone, two status snapshots, one
result per item on ``migrations.record``; one ledger entry per item on ``ledger``; their undo records
on ``undo``), flushes Redis and times :meth:`shared.view_rebuild.ViewGuard.ensure`.

    .venv/bin/python -m tests.bench.rebuild --migrations 10000 --items 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import redis

from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.events import CreatedThing, ItemResult, UndoRecords
from shared.kafka_edge import EventProducer, ensure_topics, make_producer
from shared.ledger import LedgerEntry, ledger_record
from shared.migration_records import RecordLog
from shared.view_rebuild import ViewGuard
from tests.servers import start_broker, start_redis


def write_record(producer: EventProducer, migrations: int, items: int) -> int:
    """The topics as the services leave them after ``migrations`` completed migrations."""
    intake, tracker = RecordLog(producer, "intake"), RecordLog(producer, "tracker")
    sent = 0
    for m in range(migrations):
        mid = f"bench-{m:06d}"
        pair = f"{m:032x}"
        fields = {"state": ms.QUEUED, "options": '["emails"]', "pair_id": pair, "rev": "1",
                  "login_hash": "0" * 64, "login_salt": "0" * 32, "created_at": "2026-12-06T10:00:00+00:00"}
        intake.spec(mid, json.dumps({"migration_id": mid, "pair_id": pair}))
        intake.data_key(mid, "wrapped-key")
        intake.status(mid, fields, [{"state": ms.QUEUED, "at": fields["created_at"]}])
        results = [ItemResult(item_key=f"INBOX:1:{i}", item_type="email", result="done", bytes=10_000)
                   for i in range(items)]
        tracker.results(mid, results)
        done = {**fields, "state": ms.COMPLETED, "rev": "9", "total:email": str(items)}
        tracker.status(mid, done, [{"state": ms.QUEUED, "at": "x"}, {"state": ms.COMPLETED, "at": "y"}])
        tracker.data_key(mid, None)
        for i in range(items):
            producer.send_raw(topics.LEDGER, ledger_record(pair, f"INBOX:1:{i}"),
                              LedgerEntry(mid, "INBOX", 1, i + 1, 10_000).to_json().encode())
        producer.send(topics.UNDO, mid, UndoRecords(migration_id=mid, pair_id=pair, records=[
            CreatedThing(kind="message", target_folder="INBOX", uidvalidity=1, uid=i + 1) for i in range(items)]))
        sent += 6 + 2 * items
        if m % 500 == 499:
            producer.flush()
    producer.flush()
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--migrations", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=20, help="items (and ledger entries) per migration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mf-rebuild-") as tmp:
        broker = start_broker(Path(tmp) / "broker.log")
        redis_proc = start_redis(Path(tmp) / "redis")
        try:
            ensure_topics(broker.address, "", topics.DEFAULT_PARTITIONS)
            producer = EventProducer(make_producer(broker.address), "")
            t0 = time.perf_counter()
            sent = write_record(producer, args.migrations, args.items)
            wrote = time.perf_counter() - t0
            client = redis.Redis.from_url(redis_proc.address)
            client.flushall()
            guard = ViewGuard(client, broker.address, "", "bench")
            t0 = time.perf_counter()
            guard.ensure()
            took = time.perf_counter() - t0
            assert client.hget(k.migration("bench-000000"), "done:email") == str(args.items).encode()
            assert client.hlen(k.ledger(f"{0:032x}")) == args.items
            assert client.get(k.data_key("bench-000000")) is None  # ended: its key stays gone
            print(json.dumps({"migrations": args.migrations, "items_per_migration": args.items,
                              "records": sent, "write_seconds": round(wrote, 2),
                              "rebuild_seconds": round(took, 2),
                              "records_per_second": round(sent / took), "redis_keys": client.dbsize()}))
        finally:
            redis_proc.stop()
            broker.stop()


if __name__ == "__main__":
    main()
