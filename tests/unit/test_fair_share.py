"""Pure parts of fair sharing: session caps read from the environment, task chains, the session target rule,
and which server answers mean "not now"."""

from __future__ import annotations

import imaplib
from datetime import UTC, datetime

import pytest

from services.extractor.task_chains import chained, next_in_chain
from shared.adapters.imap.errors import translate
from shared.config import ConfigError, Settings
from shared.errors import ServerRefused, Throttled
from shared.events import EndpointSpec, ExtractTask, FolderRef
from shared.flow_window import held_back
from shared.session_caps import account_name, parse_host_caps
from shared.session_target import HOLD_ROUNDS, SessionTarget

SPEC = EndpointSpec(type="imap", host="imap.example.test", port=993, security="tls", login="a@example.test",
                    password_sealed="x")


def test_caps_come_from_the_environment_per_host() -> None:
    caps = Settings.from_env({"MAILFERRY_HOST_SESSIONS": "12", "MAILFERRY_ACCOUNT_SESSIONS": "3",
                              "MAILFERRY_HOST_SESSION_CAPS": "IMAP.Big.example=40, outlook.office365.com.=8"}).session_caps
    assert (caps.host_default, caps.account_default) == (12, 3)
    assert caps.for_host("imap.big.example") == 40
    assert caps.for_host("Outlook.Office365.com") == 8
    assert caps.for_host("imap.other.example") == 12
    assert Settings.from_env({}).session_caps.for_host("x.example") == 20


@pytest.mark.parametrize("text", ["imap.example=", "=4", "imap.example=0", "imap.example=four", "imap.example"])
def test_a_bad_cap_is_refused_at_start(text: str) -> None:
    with pytest.raises(ConfigError, match="MAILFERRY_HOST_SESSION_CAPS"):
        Settings.from_env({"MAILFERRY_HOST_SESSION_CAPS": text})
    with pytest.raises(ConfigError):
        Settings.from_env({"MAILFERRY_ACCOUNT_SESSIONS": "0"})


def test_an_account_is_named_by_a_hash_that_ignores_spelling() -> None:
    assert account_name("IMAP.example.test.", " Ann@Example.test") == account_name("imap.example.test", "ann@example.test")
    assert "ann" not in account_name("imap.example.test", "ann@example.test")
    assert parse_host_caps("") == {}


def _tasks(n: int, large: int = 0) -> list[ExtractTask]:
    folder = FolderRef(folder_id="f1", path=["INBOX"])
    out = [ExtractTask(migration_id="m", task_id=f"m:large:{i}", source=SPEC, folder=folder, uidvalidity=7,
                       uids=[10_000 + i], large=True) for i in range(large)]
    out += [ExtractTask(migration_id="m", task_id=f"m:{i}", source=SPEC, folder=folder, uidvalidity=7,
                        uids=[*range(1 + 5 * i, 6 + 5 * i), 900 + i]) for i in range(n)]
    return out


def test_chains_carry_every_task_once_and_at_most_share_wait_at_a_time() -> None:
    tasks = _tasks(23, large=2)
    heads = chained(tasks, 4)
    assert len(heads) == 4
    assert [h.task_id for h in heads] == ["m:large:0", "m:large:1", "m:0", "m:1"]  # large ones run first
    seen: list[ExtractTask] = []
    for head in heads:
        task: ExtractTask | None = head
        while task is not None:
            seen.append(task)
            task = next_in_chain(task)
    strip = [t.model_dump(exclude={"chain", "event_id", "occurred_at"}) for t in seen]
    want = [t.model_dump(exclude={"chain", "event_id", "occurred_at"}) for t in tasks]
    assert sorted(strip, key=str) == sorted(want, key=str)
    assert chained(_tasks(2), 8) and len(chained(_tasks(2), 8)) == 2
    assert chained([], 4) == []


def test_every_task_of_a_chain_keeps_the_date_window_and_the_items_key() -> None:
    """A pre-stage pass's later tasks filter by date as its first does, and a small mailbox's tasks published
    after a failed read all keep their migration's items key."""
    before = datetime(2026, 11, 1, tzinfo=UTC)
    tasks = [t.model_copy(update={"received_before": before, "keyed_by_migration": True}) for t in _tasks(5)]
    (head,) = chained(tasks, 1)
    seen: list[ExtractTask] = []
    task: ExtractTask | None = head
    while task is not None:
        seen.append(task)
        task = next_in_chain(task)
    assert len(seen) == 5
    assert all(t.received_before == before and t.received_since is None and t.keyed_by_migration for t in seen)


def test_the_session_target_grows_while_throughput_rises_and_stops_at_the_cap() -> None:
    t = SessionTarget(cap=8, sessions=2)
    assert t.observe(200, 1.0, used=2) == 4  # first round: try more
    assert t.observe(400, 1.0, used=4) == 8  # +100 %: double
    assert t.observe(800, 1.0, used=8) == 8  # the cap
    t = SessionTarget(cap=16, sessions=2)
    t.observe(200, 1.0, used=2)
    assert t.observe(205, 1.0, used=4) == 4  # flat: what the server sustains; held
    for _ in range(HOLD_ROUNDS):
        assert t.observe(205, 1.0, used=4) == 4
    assert t.observe(300, 1.0, used=4) == 8  # probed again after the hold, and it rose


def test_the_session_target_gives_back_when_throughput_falls_and_halves_when_throttled() -> None:
    t = SessionTarget(cap=8, sessions=4)
    t.observe(400, 1.0, used=4)
    assert t.sessions == 8
    assert t.observe(300, 1.0, used=8) == 7
    assert t.throttled() == 3
    assert t.observe(10, 1.0, used=1) == 3  # a round that could not use them says nothing
    assert SessionTarget(cap=0).sessions == 1


def test_a_migration_far_ahead_of_its_loading_is_held_back() -> None:
    assert held_back(2001, 2000) and not held_back(2000, 2000) and not held_back(10**6, 0)


@pytest.mark.parametrize("answer", [b"NO [LIMIT] Too many commands", b"[UNAVAILABLE] Temporary failure",
                                    b"a12 NO [limit] slow down"])
def test_limit_and_unavailable_answers_are_throttling(answer: bytes) -> None:
    assert isinstance(translate(imaplib.IMAP4.error(answer.decode()), "FETCH"), Throttled)


def test_other_refusals_stay_refusals() -> None:
    assert type(translate(imaplib.IMAP4.error("NO [NONEXISTENT] no such folder"), "SELECT")) is ServerRefused
