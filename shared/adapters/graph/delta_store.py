"""Where a folder's delta checkpoint lives between passes: its deltaLink and the messages it has seen.

A delta round tells only what changed since the last one, so the listing the planner needs (every message
in the folder, oldest first) is the last listing with the changes applied: new and changed messages in,
``@removed`` ones out. The ledger still decides what is copied (a message listed again is skipped as
already copied), so the checkpoint only saves listing work, and losing it is harmless: Redis is a view, and
without a checkpoint the next pass starts a full round (what Graph does for a first delta query). The
changes are written before the new link, so a crash between the two replays the changes (idempotent).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from shared import redis_keys

log = logging.getLogger(__name__)
LINK = "\x00link"  # the hash field holding the deltaLink (no item id starts with NUL)
TTL_SECONDS = 90 * 86400  # a checkpoint nobody used for 90 days is dropped (delta tokens expire anyway)


class DeltaStore(Protocol):
    def load(self, scope: str) -> tuple[str | None, dict[str, str]]:
        """The last deltaLink (None: start a full round) and the messages it left: id -> received time."""

    def save(self, scope: str, link: str, upserts: Mapping[str, str], removed: Sequence[str], reset: bool) -> None:
        """Apply a round's changes (all of them when ``reset``: a full round), then keep its deltaLink."""


class NoDeltaStore:
    """No shared store: every pass is a full round."""

    def load(self, scope: str) -> tuple[str | None, dict[str, str]]:
        return None, {}

    def save(self, scope: str, link: str, upserts: Mapping[str, str], removed: Sequence[str], reset: bool) -> None:
        return None


class RedisDeltaStore:
    """One Redis hash per folder checkpoint (named by a hash of the scope: no login in the keyspace)."""

    def __init__(self, client: Any) -> None:
        self.r = client

    @staticmethod
    def key(scope: str) -> str:
        return redis_keys.graph_delta(hashlib.sha256(scope.encode()).hexdigest()[:40])

    def load(self, scope: str) -> tuple[str | None, dict[str, str]]:
        try:
            raw = self.r.hgetall(self.key(scope))
        except Exception as exc:
            log.warning("the Graph delta checkpoint could not be read; a full round is listed",
                        extra={"error": type(exc).__name__})
            return None, {}
        items = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                 for k, v in raw.items()}
        link = items.pop(LINK, None)
        return link, items

    def save(self, scope: str, link: str, upserts: Mapping[str, str], removed: Sequence[str], reset: bool) -> None:
        key = self.key(scope)
        try:
            pipe = self.r.pipeline(transaction=True)
            if reset:
                pipe.delete(key)
            if removed:
                pipe.hdel(key, *removed)
            items = list(upserts.items())
            for i in range(0, len(items), 5000):
                pipe.hset(key, mapping=dict(items[i:i + 5000]))
            pipe.execute()
            self.r.hset(key, LINK, link)  # after the changes: a crash in between replays them
            self.r.expire(key, TTL_SECONDS)
        except Exception as exc:
            log.warning("the Graph delta checkpoint could not be kept; the next pass lists a full round",
                        extra={"error": type(exc).__name__})
