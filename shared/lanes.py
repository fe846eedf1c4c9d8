"""Spreading jobs over a fixed number of sessions ("lanes") and putting the answers back in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def deal(jobs: Sequence[T], lanes: int) -> list[list[T]]:
    """Jobs dealt round-robin over ``lanes`` (job i to lane i mod lanes), so every lane gets a share."""
    return [list(jobs[i::lanes]) for i in range(lanes)]


def undeal(per_lane: Sequence[Sequence[R]], jobs: int) -> list[R]:
    """The lanes' results back in job order (the inverse of :func:`deal`)."""
    lanes = len(per_lane)
    return [per_lane[i % lanes][i // lanes] for i in range(jobs)]
