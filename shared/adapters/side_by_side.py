"""Asking several servers at once within one timeout: discovery's lookups are many and each may hang.

A lookup that fails or is still running at the timeout is "no answer" (None), said in the log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def parallel(tasks: Sequence[Callable[[], T]], timeout: float, what: str) -> list[T | None]:
    """Run tasks side by side; a task that fails or is still running at the timeout gives None.

    Leftover threads are abandoned, not awaited: each has its own socket timeout, so they end on their own.
    """
    if not tasks or timeout <= 0:
        return [None] * len(tasks)
    pool = ThreadPoolExecutor(max_workers=len(tasks), thread_name_prefix="autodetect")
    try:
        futures = [pool.submit(task) for task in tasks]
        wait(futures, timeout=timeout, return_when=ALL_COMPLETED)
        results: list[T | None] = []
        for future in futures:
            if not future.done():
                log.info("autodetect: %s did not answer in time", what)
                results.append(None)
                continue
            exc = future.exception()
            if exc is not None:
                log.info("autodetect: %s gave no answer: %s", what, exc)
                results.append(None)
            else:
                results.append(future.result())
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
