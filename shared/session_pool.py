"""Logged-in sessions kept per migration and closed when idle.

A migration's tasks and batches reuse one login instead of paying a TLS
handshake and LOGIN per batch; idle sessions are closed so a worker that has
served thousands of migrations holds no stale connections.

Keys are ``<migration id>`` or ``<migration id>#<slot>`` when a worker keeps
several sessions to one account (parallel FETCH or APPEND). The pool may be
used from several threads, each with its own keys; a session leased with
:meth:`lease` is never closed as idle while its holder works with it.

Closing a session can wait (a mail session ends only once its server has closed it, up to a bound): several
sessions let go at once are closed side by side, so their waits overlap instead of adding up.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
CLOSING_SIDE_BY_SIDE = 8  # sessions closed at once, at most, when several are let go together


def slot_key(mid: str, slot: int) -> str:
    """The pool key of a migration's ``slot``-th session (slot 0 is the migration's plain key)."""
    return mid if slot == 0 else f"{mid}#{slot}"


class SessionPool(Generic[T]):
    def __init__(self, open_session: Callable[[str], T], close_session: Callable[[T], None],
                 idle_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._open = open_session
        self._close = close_session
        self._idle = idle_seconds
        self._clock = clock
        self._pool: dict[str, tuple[T, float]] = {}
        self._busy: dict[str, int] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: str, opener: Callable[[], T] | None = None) -> T:
        """The open session for ``key``, or a new one from ``opener`` (default: the pool's own)."""
        self.expire()
        with self._lock:
            opening = self._opening.setdefault(key, threading.Lock())
        with opening:  # one login per key at a time; other keys open side by side
            with self._lock:
                hit = self._pool.get(key)
            session = hit[0] if hit else (opener() if opener is not None else self._open(key))
            with self._lock:
                self._pool[key] = (session, self._clock())
        return session

    @contextlib.contextmanager
    def lease(self, key: str, opener: Callable[[], T] | None = None) -> Iterator[T]:
        """The session for ``key``, protected from idle expiry until the block ends."""
        with self.hold(key):
            yield self.get(key, opener)

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Keep ``key``'s session (open now or opened inside the block by :meth:`get`) from being closed as idle."""
        with self._lock:
            self._busy[key] = self._busy.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._busy[key] -= 1
                if not self._busy[key]:
                    del self._busy[key]
                if key in self._pool:
                    self._pool[key] = (self._pool[key][0], self._clock())

    def drop_idle(self, which: Callable[[T], bool]) -> None:
        """Close every session not in use that ``which`` names (to give its server's session cap back now)."""
        self._close_taken(lambda key, s, _at: which(s))

    def _close_taken(self, chosen: Callable[[str, T, float], bool], *, in_use_too: bool = False) -> None:
        """Take the idle sessions ``chosen`` names (``in_use_too``: busy ones as well) out of the pool, then close
        them: chosen and taken out under one lock, so a task cannot lease a session between the choice and its
        closing (it would find it logged out)."""
        with self._lock:
            keys = [key for key, (s, at) in self._pool.items()
                    if (in_use_too or key not in self._busy) and chosen(key, s, at)]
            taken = [self._pool.pop(key)[0] for key in keys]
            for key in keys:
                self._opening.pop(key, None)
        self._close_each(taken)

    def _close_each(self, sessions: list[T]) -> None:
        """Close ``sessions``, up to :data:`CLOSING_SIDE_BY_SIDE` at once; returns once every one is closed. (Plain
        threads: at a process's exit an executor takes no more work, and the pools are closed then too.)"""
        for i in range(0, len(sessions), CLOSING_SIDE_BY_SIDE):
            first, *others = sessions[i:i + CLOSING_SIDE_BY_SIDE]
            started = []
            for session in others:
                thread = threading.Thread(target=self._close_quietly, args=(session,), name="session-close",
                                          daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no new thread now (the interpreter is shutting down): close it here
                    self._close_quietly(session)
                    continue
                started.append(thread)
            self._close_quietly(first)
            for thread in started:
                thread.join()

    def _close_quietly(self, session: T) -> None:
        try:
            self._close(session)
        except Exception:  # noqa: S110 - a session being let go; it may be broken already
            pass

    def drop(self, key: str) -> None:
        """``key``'s session, in use or not (it may be broken)."""
        self._close_taken(lambda k, _s, _at: k == key, in_use_too=True)

    def drop_migration(self, mid: str) -> None:
        """Every session of one migration (all its slots), closed side by side."""
        self._close_taken(lambda k, _s, _at: k == mid or k.startswith(f"{mid}#"), in_use_too=True)

    def expire(self) -> None:
        now = self._clock()
        self._close_taken(lambda _key, _s, at: now - at > self._idle)

    def close_all(self) -> None:
        """Every session, closed side by side; returns once all are (a worker's exit gives the leases back
        after this)."""
        self._close_taken(lambda _k, _s, _at: True, in_use_too=True)
