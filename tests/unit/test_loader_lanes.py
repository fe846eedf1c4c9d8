"""The loader's choice of write sessions per migration: the extractor's session rule, capped by the
loader's own limit and the operator's host and account caps."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from services.loader.service import START_LANES, Loader
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key
from shared.credentials import CredentialStore
from shared.memory.broker import MemoryBroker
from shared.memory.records import MemoryRecords
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList
from shared.session_caps import SessionCaps


def loader(tmp_path: Path, connections: int, caps: SessionCaps) -> Loader:
    records = MemoryRecords()
    settings = Settings(spool_dir=tmp_path, load_connections=connections, session_caps=caps)
    return Loader(settings, records, MemoryBroker().producer(),
                  CredentialStore(records, MasterKeys.parse(generate_master_key())),
                  AdapterEnv(connect=ConnectOptions(allow=AllowList.parse(""))),
                  ServiceMetrics(CollectorRegistry(), "loader"))


def test_lanes_start_at_one_and_are_capped_by_the_smallest_of_the_limits(tmp_path: Path) -> None:
    caps = SessionCaps(host_default=20, account_default=10, hosts={"tight.example": 3})
    one = loader(tmp_path, 8, caps)
    assert START_LANES == 1
    assert (one._lane_rule("m1", "wide.example").sessions, one._lane_rule("m1", "wide.example").cap) == (1, 8)
    assert one._lane_rule("m2", "tight.example").cap == 3
    assert one._lane_rule("m3", None).cap == 8  # no host (a PST file, Graph): the loader's limit only
    account = loader(tmp_path, 8, SessionCaps(host_default=20, account_default=2))
    assert account._lane_rule("m1", "wide.example").cap == 2
    assert loader(tmp_path, 1, caps)._lane_rule("m1", "wide.example").sessions == 1


def test_the_number_moves_with_what_each_batch_write_achieved(tmp_path: Path) -> None:
    rule = loader(tmp_path, 8, SessionCaps())._lane_rule("m1", "wide.example")
    assert rule.observe(1000, 0.5, 1) == 2  # the first round grows (nothing to compare with yet)
    assert rule.observe(1000, 0.4, 2) == 4  # 25 % faster with two: four next
    assert rule.observe(1000, 0.3, 3) == 4  # fewer lanes had work than allowed: the round says nothing
    assert rule.observe(1000, 0.5, 4) == 3  # slower by more than 10 %: one given back
    assert rule.throttled() == 1


def test_a_migration_that_fits_in_a_task_keeps_one_write_session(tmp_path: Path) -> None:
    """Like the extractor's rule for a migration that fits in one task: its batches do not move the number of
    lanes (a further lane would be a login and a lease for a write of a few round trips); past a task's worth
    of messages written, they do. The count is the rule's own, per migration and per loader."""
    one = loader(tmp_path, 8, SessionCaps())
    rule = one._lane_rule("m1", "wide.example")
    for _ in range(2):  # 2 × 200 messages: not more than MAILFERRY_TASK_SIZE (500)
        assert rule.observe(200, 0.1, 1) == 1
    assert rule.observe(200, 0.1, 1) == 2  # 600 written: judged (the first judged round grows)
    other = one._lane_rule("m2", "wide.example")  # counted per migration
    assert other.observe(200, 0.1, 1) == 1
    assert one._lane_rule("m1", "wide.example") is rule  # the same rule (and count) for the next batch


def test_a_restarted_loader_starts_a_migrations_lanes_again(tmp_path: Path) -> None:
    """The rule lives in the loader's memory only: a loader started anew (after a crash, or a second replica
    taking the migration's partitions) writes on one lane until it has written a task's worth itself."""
    before = loader(tmp_path, 8, SessionCaps())
    rule = before._lane_rule("m1", "wide.example")
    assert rule.observe(600, 0.1, 1) == 2
    after = loader(tmp_path, 8, SessionCaps())
    again = after._lane_rule("m1", "wide.example")
    assert (again.sessions, again.observe(500, 0.1, 1), again.observe(1, 0.1, 1)) == (1, 1, 2)
