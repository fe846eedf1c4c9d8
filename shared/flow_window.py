"""How far a migration's extraction runs ahead of its loading, counted by every replica in Redis.

The extractor counts the messages it sent per migration, the loader those it took in; a migration
more than the window ahead gets no further task run until the loader catches up (its task goes to the
end of the queue). So one big mailbox cannot fill the ``items`` topic ahead of migrations started
after it. Derived state: if Redis is flushed both counts start again from zero.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shared import redis_keys

TTL_SECONDS = 7 * 24 * 3600


def held_back(ahead: int, window: int) -> bool:
    return window > 0 and ahead > window


class FlowWindow:
    def __init__(self, redis_client: Any, window: int) -> None:
        self.redis = redis_client
        self.window = window

    def ahead(self, mids: Collection[str]) -> dict[str, int]:
        """Messages extracted and not yet taken in by a loader, per migration."""
        mids = list(dict.fromkeys(mids))
        if not mids:
            return {}
        keys = [k for mid in mids for k in (redis_keys.flow_extracted(mid), redis_keys.flow_loaded(mid))]
        values = self.redis.mget(keys)
        return {mid: int(values[2 * i] or 0) - int(values[2 * i + 1] or 0) for i, mid in enumerate(mids)}

    def extracted(self, counts: Mapping[str, int]) -> None:
        self._add({redis_keys.flow_extracted(mid): n for mid, n in counts.items() if n})

    def loaded(self, counts: Mapping[str, int]) -> None:
        self._add({redis_keys.flow_loaded(mid): n for mid, n in counts.items() if n})

    def done(self, mid: str, task_ids: Collection[str]) -> set[str]:
        """Which of a migration's tasks already ran with their output flushed."""
        ids = list(task_ids)
        if not ids:
            return set()
        found = self.redis.mget([redis_keys.extract_task_done(mid, t) for t in ids])
        return {t for t, v in zip(ids, found, strict=True) if v is not None}

    def mark_done(self, tasks: Collection[tuple[str, str]]) -> None:
        if not tasks:
            return
        pipe = self.redis.pipeline(transaction=False)
        for mid, task_id in tasks:
            pipe.set(redis_keys.extract_task_done(mid, task_id), 1, ex=TTL_SECONDS)
        pipe.execute()

    def _add(self, increments: Mapping[str, int]) -> None:
        if not increments:
            return
        pipe = self.redis.pipeline(transaction=False)
        for key, n in increments.items():
            pipe.incrby(key, n)
            pipe.expire(key, TTL_SECONDS)
        pipe.execute()
