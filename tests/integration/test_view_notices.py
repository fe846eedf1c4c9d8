"""A project's end notice on the record comes back into a rebuilt Redis view, queued, while it is owed.

The record is folded by hand here (``TopicView.add``, as the rebuild reads ``migrations.record``) and written
into the session's real Redis (``apply_view``); the whole path, a FLUSHALL on the running stack, is in
tests/e2e/test_redis_is_a_view.py.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib

from shared import redis_keys as k
from shared import topics
from shared.events import ProjectEnded, decode_as, encode
from shared.view_rebuild import TopicView, apply_view

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def notice(pid: str, ended: datetime) -> bytes:
    return encode(ProjectEnded(migration_id=pid, occurred_at=ended, name="Move", state="ended",
                               notify_email="noc@example.test", lines=["2 rows: 2 completed"]))


def jobs_for(client: redis_lib.Redis, pid: str) -> list[dict[str, object]]:
    found = [json.loads(raw) for raw in client.lrange(k.NOTIFY_READY, 0, -1)]
    return [job for job in found if job["mid"] == pid]


def test_an_owed_notice_is_put_back_and_queued_a_told_or_old_one_is_not(redis_client: redis_lib.Redis) -> None:
    owed, told, old = (f"p{secrets.token_hex(6)}" for _ in range(3))
    view = TopicView()
    view.add(topics.MIGRATIONS_RECORD.name, f"notice:{owed}", notice(owed, NOW - timedelta(hours=1)))
    view.add(topics.MIGRATIONS_RECORD.name, f"notice:{told}", notice(told, NOW - timedelta(hours=1)))
    view.add(topics.MIGRATIONS_RECORD.name, f"notice:{told}", None)  # told: tombstoned
    view.add(topics.MIGRATIONS_RECORD.name, f"notice:{old}", notice(old, NOW - timedelta(days=3)))
    assert view.migrations == {}  # a notice is no migration
    apply_view(redis_client, view, now=NOW.timestamp())
    back = redis_client.get(k.project_notice(owed))
    assert back is not None and decode_as(back, ProjectEnded).lines == ["2 rows: 2 completed"]
    assert [(job["kind"], job["attempt"]) for job in jobs_for(redis_client, owed)] == [("project", 0)]
    for pid in (told, old):
        assert redis_client.get(k.project_notice(pid)) is None
        assert jobs_for(redis_client, pid) == []


def test_the_tracker_keeps_tells_and_drops_a_projects_notice_through_the_notifier(
        redis_client: redis_lib.Redis) -> None:
    """The tracker's way to the notice in Redis is the notifier's own (keep, read, forget), under the key and for
    the time written here: 30 days, the sender's to read, gone once told."""
    from prometheus_client import CollectorRegistry

    from services.tracker.metrics import TrackerMetrics
    from services.tracker.notify import Notifier
    from services.tracker.service import Tracker
    from shared.config import SmtpSettings
    from shared.memory.broker import MemoryBroker
    from shared.metrics import ServiceMetrics

    pid = f"p{secrets.token_hex(6)}"
    notifier = Notifier(redis_client, SmtpSettings(sender="ops@example.test"), lambda _m, _k: None)
    tracker = Tracker(None, None, MemoryBroker().producer(),  # type: ignore[arg-type]  # not used by projects
                      TrackerMetrics(CollectorRegistry(), ServiceMetrics(CollectorRegistry(), "tracker")), notifier)
    ended = decode_as(notice(pid, NOW), ProjectEnded)
    tracker.project_ended(ended)
    key = f"mf:proj:{pid}:notice"
    assert notifier.notice(pid) == redis_client.get(key) == encode(ended)
    assert 30 * 24 * 3600 - 60 < redis_client.ttl(key) <= 30 * 24 * 3600
    assert [(job["kind"], job["attempt"]) for job in jobs_for(redis_client, pid)] == [("project", 0)]
    mail = tracker.build_notification(pid, "project")
    assert mail is not None and mail["To"] == "noc@example.test" and "2 rows: 2 completed" in mail.get_content()
    tracker.notified(pid, "project")
    assert redis_client.get(key) is None and notifier.notice(pid) is None
    assert tracker.build_notification(pid, "project") is None  # told: nothing left to send
    for raw in redis_client.lrange(k.NOTIFY_READY, 0, -1):  # this test's job only: the queue is the session's
        if json.loads(raw)["mid"] == pid:
            redis_client.lrem(k.NOTIFY_READY, 0, raw)
