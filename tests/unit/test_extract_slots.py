"""The extractor's scheduling: a migration's session is never used by two threads at once, whatever its session
target does during a batch, and a migration never runs more tasks at once than its target."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from services.extractor.service import Extractor
from shared.config import Settings
from shared.events import EndpointSpec, ExtractTask, FolderRef
from shared.metrics import ServiceMetrics
from shared.session_target import SessionTarget

SPEC = EndpointSpec(type="imap", host="imap.example.test", port=143, security="none", login="a@example.test",
                    password_sealed="x")


class ScriptedTarget(SessionTarget):
    """Goes 4 → 1 → 4 → 2 → 8 → 3… round after round: every change of the target the rule can make."""

    def __post_init__(self) -> None:
        self.script = [1, 4, 2, 8, 3, 6, 1, 8] * 10
        super().__post_init__()

    def observe(self, messages: int, seconds: float, used: int) -> int:
        self.sessions = self.script.pop(0)
        return self.sessions


class Producer:
    def send(self, *_a: Any, **_k: Any) -> None:
        pass

    def flush(self, *_a: Any) -> None:
        pass


class Pool:
    def __init__(self) -> None:
        self.dropped: list[tuple[str, int | None]] = []

    def drop(self, mid: str, slot: int | None = None) -> None:
        self.dropped.append((mid, slot))


class Recording(Extractor):
    def __init__(self) -> None:
        super().__init__(Settings(extract_connections=8, migration_share=8), None, Producer(), Pool(),  # type: ignore[arg-type]
                         ServiceMetrics(CollectorRegistry(), "extractor"))
        self.active: set[tuple[str, int]] = set()
        self.lock = threading.Lock()
        self.shared: list[tuple[str, int]] = []
        self.most: dict[str, int] = {}
        self.ran: list[str] = []

    def run_group(self, tasks: Sequence[ExtractTask], slot: int = 0) -> int:
        task = tasks[0]
        key = (task.migration_id, slot)
        with self.lock:
            if key in self.active:
                self.shared.append(key)
            self.active.add(key)
            now = sum(1 for m, _s in self.active if m == task.migration_id)
            self.most[task.migration_id] = max(self.most.get(task.migration_id, 0), now)
        time.sleep(0.002 * (1 + hash(task.task_id) % 5))
        with self.lock:
            self.active.discard(key)
            self.ran.extend(t.task_id for t in tasks)
        return sum(len(t.uids) for t in tasks)


def test_no_session_is_shared_by_two_threads_while_the_target_moves() -> None:
    ex = Recording()
    folder = FolderRef(folder_id="f", path=["INBOX"])
    # Full tasks (a task's worth of UIDs each): none is read together with another.
    tasks = [ExtractTask(migration_id=m, task_id=f"{m}:{i}", source=SPEC, folder=folder, uidvalidity=1,
                         uids=list(range(i * 500 + 1, i * 500 + 501))) for m in ("m1", "m2") for i in range(60)]
    for mid in ("m1", "m2"):
        ex._targets[mid] = ScriptedTarget(cap=8, sessions=4)
    ex._run_all(tasks)
    assert sorted(ex.ran) == sorted(t.task_id for t in tasks)  # every task ran once
    assert ex.shared == []
    assert 1 < ex.most["m1"] <= 8 and 1 < ex.most["m2"] <= 8
