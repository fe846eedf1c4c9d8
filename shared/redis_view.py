"""Whether Redis holds a whole view of the topics: the mark every reader and writer checks.

Redis is a view built from the topics (``shared.redis_keys``). When it was flushed or restarted
empty, the mark :data:`shared.redis_keys.VIEW` is gone; when it was restarted from a file that may be
behind, the mark names another ``run_id``. Either way an answer read from it could be wrong (an item
"not in the ledger" would be copied twice), so readers raise :class:`ViewRebuilding` instead — a
Redis error, so workers retry their batch and intake answers "temporarily unavailable" — until
:mod:`shared.view_rebuild` has rebuilt the view and set the mark again.
"""

from __future__ import annotations

from typing import Any

import redis

from shared import redis_keys as k


class ViewRebuilding(redis.exceptions.BusyLoadingError):
    """Redis's view is missing or behind and is being rebuilt from the topics: try again shortly."""


def require_view(mark: Any) -> None:
    """Raise unless the mark (read in the same round trip as the data) says the view is whole."""
    if not mark:
        raise ViewRebuilding("the Redis view is being rebuilt from the topics")


def run_id(client: redis.Redis) -> str:
    """This Redis process's id: it changes at every restart, whatever file it loaded."""
    return str(client.info("server")["run_id"])


def view_is_current(client: redis.Redis) -> bool:
    """The mark is there and names the running Redis."""
    pipe = client.pipeline(transaction=False)
    pipe.info("server")
    pipe.get(k.VIEW)
    info, mark = pipe.execute()
    return mark is not None and (mark.decode() if isinstance(mark, bytes) else str(mark)) == str(info["run_id"])
