"""Sessions kept per key and closed when idle, on an injected clock."""

from __future__ import annotations

import pytest

from shared.session_pool import SessionPool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sessions:
    def __init__(self, fail_close: bool = False) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.fail_close = fail_close

    def open(self, key: str) -> str:
        self.opened.append(key)
        return f"{key}#{len(self.opened)}"

    def close(self, session: str) -> None:
        self.closed.append(session)
        if self.fail_close:
            raise OSError("broken pipe")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions() -> Sessions:
    return Sessions()


@pytest.fixture
def pool(clock: Clock, sessions: Sessions) -> SessionPool[str]:
    return SessionPool(sessions.open, sessions.close, idle_seconds=60, clock=clock)


def test_a_key_reuses_its_session(pool: SessionPool[str], sessions: Sessions) -> None:
    assert pool.get("a") == pool.get("a") == "a#1"
    assert pool.get("b") == "b#2"
    assert sessions.opened == ["a", "b"]
    assert sessions.closed == []


def test_idle_session_is_closed_and_replaced(pool: SessionPool[str], sessions: Sessions, clock: Clock) -> None:
    pool.get("a")
    clock.now += 60  # exactly the idle time: still kept
    assert pool.get("a") == "a#1"
    clock.now += 60.5
    assert pool.get("a") == "a#2"
    assert sessions.closed == ["a#1"]


def test_use_keeps_a_session_alive(pool: SessionPool[str], sessions: Sessions, clock: Clock) -> None:
    pool.get("a")
    for _ in range(5):
        clock.now += 50
        pool.get("a")
    assert sessions.opened == ["a"] and sessions.closed == []


def test_expire_closes_only_idle_sessions(pool: SessionPool[str], sessions: Sessions, clock: Clock) -> None:
    pool.get("old")
    clock.now += 40
    pool.get("young")
    clock.now += 30
    pool.expire()
    assert sessions.closed == ["old#1"]
    pool.expire()  # twice equals once
    assert sessions.closed == ["old#1"]
    assert pool.get("young") == "young#2"


def test_getting_another_key_expires_idle_ones(pool: SessionPool[str], sessions: Sessions, clock: Clock) -> None:
    pool.get("a")
    clock.now += 61
    pool.get("b")
    assert sessions.closed == ["a#1"]


def test_drop_swallows_close_errors_and_forgets(clock: Clock) -> None:
    s = Sessions(fail_close=True)
    pool: SessionPool[str] = SessionPool(s.open, s.close, idle_seconds=60, clock=clock)
    pool.get("a")
    pool.drop("a")
    pool.drop("a")
    assert s.closed == ["a#1"]
    assert pool.get("a") == "a#2"


def test_close_all(pool: SessionPool[str], sessions: Sessions) -> None:
    pool.get("a")
    pool.get("b")
    pool.close_all()
    assert sorted(sessions.closed) == ["a#1", "b#2"]
    pool.close_all()
    assert len(sessions.closed) == 2


def test_a_leased_session_is_not_closed_as_idle(pool: SessionPool[str], sessions: Sessions, clock: Clock) -> None:
    with pool.lease("long") as s:
        assert s == "long#1"
        clock.now += 600  # a long task on this session
        pool.get("other")  # another thread's get expires idle sessions
        assert sessions.closed == []
    clock.now += 61
    pool.expire()
    assert sorted(sessions.closed) == ["long#1", "other#2"]


def test_drop_migration_closes_every_slot_of_that_migration_only(pool: SessionPool[str],
                                                                 sessions: Sessions) -> None:
    from shared.session_pool import slot_key

    for key in (slot_key("m1", 0), slot_key("m1", 1), slot_key("m1", 2), slot_key("m10", 0)):
        pool.get(key)
    pool.drop_migration("m1")
    assert sorted(sessions.closed) == ["m1#1", "m1#1#2", "m1#2#3"]
    assert pool.get("m10") == "m10#4"


def test_concurrent_gets_of_one_key_log_in_once(clock: Clock) -> None:
    import threading
    import time

    opened: list[str] = []

    def slow_open(key: str) -> str:
        time.sleep(0.05)  # a login over a slow link
        opened.append(key)
        return f"{key}#{len(opened)}"

    pool: SessionPool[str] = SessionPool(slow_open, lambda _s: None, idle_seconds=60, clock=clock)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(pool.get("m#1"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert opened == ["m#1"]
    assert got == ["m#1#1"] * 4
