"""A project's rows in the real Redis: 50,000 rows and the limit past them, sealed credentials, retention.

Intake's project logic on a real redis-server (no broker: nothing is launched here).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis as redis_lib
from prometheus_client import CollectorRegistry

from services.intake.intake import Intake
from services.intake.project_csv import MAX_ROWS, ProjectSettings
from services.intake.project_loop import ProjectLoop
from services.intake.projects import Projects
from shared import redis_keys as k
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList

HEADER = ("source_host,source_port,source_security,source_login,source_password,target_host,target_port,target_login,"
          "target_password\n")


def projects(r: redis_lib.Redis, **settings: object) -> Projects:
    registry = CollectorRegistry()
    intake = Intake(Settings(allow_hosts=AllowList.parse("127.0.0.1")).with_(**settings), r, None,  # type: ignore[arg-type]
                    MasterKeys.parse(generate_master_key()), registry, ServiceMetrics(registry, "intake"))
    return Projects(intake)


def rows(start: int, count: int) -> list[str]:
    return [f"imap.example.org,993,tls,user{i}@example.org,secret-{i}-pw,mx.example.net,993,user{i}@example.net,t-{i}\n"
            for i in range(start, start + count)]


def test_fifty_thousand_rows_are_taken_and_the_next_refused(redis_client: redis_lib.Redis) -> None:
    p = projects(redis_client)
    began = time.perf_counter()
    got = p.create(ProjectSettings(name="big"), [HEADER, *rows(0, MAX_ROWS)], "ops")
    took = time.perf_counter() - began
    print(f"\n{MAX_ROWS} rows parsed, sealed and stored in {took:.1f} s")
    assert (got["rows_added"], got["errors_total"]) == (MAX_ROWS, 0)
    more = p.add_rows(got["id"], [HEADER, *rows(MAX_ROWS, 2), rows(0, 1)[0]])
    assert more["rows_added"] == 0
    assert [(e["line"], e["field"]) for e in more["errors"]] == [(2, "")]
    assert more["upload"] == 2
    began = time.perf_counter()
    summary = p.summary(got["id"])
    print(f"the summary of {MAX_ROWS} rows (every row's state read) in {time.perf_counter() - began:.2f} s")
    assert summary["totals"]["rows"] == MAX_ROWS and summary["totals"]["rows_by_state"] == {"pending": MAX_ROWS}
    # Redis holds the rows' passwords only sealed.
    keyspace = b"".join(redis_client.hvals(k.project_rows(got["id"])))
    assert b"secret-1-pw" not in keyspace and b"secret-49999-pw" not in keyspace


def test_rows_added_later_refuse_an_account_already_there(redis_client: redis_lib.Redis) -> None:
    p = projects(redis_client)
    pid = p.create(ProjectSettings(name="later"), [HEADER, *rows(0, 3)], "ops")["id"]
    more = p.add_rows(pid, [HEADER, *rows(2, 3)])
    assert more["rows_added"] == 2
    assert [(e["line"], e["field"], e["upload"]) for e in more["errors"]] == [(2, "source_login", 2)]
    assert [r["row"] for r in p.store.rows(pid)] == [1, 2, 3, 4, 5]


def test_an_ended_project_is_deleted_after_its_retention(redis_client: redis_lib.Redis) -> None:
    p = projects(redis_client, project_retention_days=2.0)
    pid = p.create(ProjectSettings(name="old"), [HEADER, *rows(0, 2)], "ops")["id"]
    p.cancel(pid)  # nothing launched: every row is cancelled, so the project ends at the next look
    loop = ProjectLoop(p)
    loop.tick()
    ended = datetime.fromisoformat(p.store.fields(pid)["ended_at"])
    assert p.store.fields(pid)["state"] == "cancelled"
    loop.tick(now=ended + timedelta(days=2) - timedelta(seconds=1))
    assert p.store.exists(pid)
    loop.tick(now=ended + timedelta(days=2))
    assert not p.store.exists(pid)
    assert not any(redis_client.scan_iter(match=f"{k.PREFIX}:*{pid}*"))
    assert pid not in p.store.ids()
    assert datetime.now(UTC) > ended
