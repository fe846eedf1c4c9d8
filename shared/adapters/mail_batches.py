"""How an e-mail target takes a batch: per folder, looked-for first, then written in bounded groups.

The order every e-mail target keeps (IMAP and Exchange alike): messages are grouped by target
folder in arrival order; one that may already be there (in flight after a crash) is looked for
and, when found, recorded instead of written again; the rest go in groups of at most
:data:`APPEND_GROUP_MESSAGES` messages and :data:`APPEND_GROUP_BYTES` bytes, which the target
writes as it can (IMAP: every group in flight on one session). Grouping and dealing are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Protocol, TypeVar

from shared.adapters.imap.flags import not_kept_reason
from shared.adapters.ports import Outgoing, Placed, PlacementSink, WriteContext
from shared.adapters.records import MailRecord
from shared.errors import FoldersRefused, ItemRejected, folder_refused

APPEND_GROUP_MESSAGES = 50
APPEND_GROUP_BYTES = 16 * 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")

#: One write: a target folder and the messages that go into it.
Job = tuple[str, list[MailRecord]]


class Appender(Protocol):
    """What :func:`write_mail` needs of an e-mail target."""

    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """The copy of ``msg`` already on the target (after a lost answer), never one in ``exclude``."""

    def append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """Each job's messages written into its folder; per message where it landed or why it was refused."""


def by_folder(records: Sequence[MailRecord], folders: Mapping[str, str]) -> dict[str, list[MailRecord]]:
    """The records per target folder (``folders``: source folder id → target folder), in arrival order."""
    out: dict[str, list[MailRecord]] = {}
    for r in records:
        name = folders[r.meta.folder.folder_id]
        group = out.get(name)
        if group is None:
            out[name] = [r]
        else:
            group.append(r)
    return out


def append_groups(items: Sequence[MailRecord]) -> Iterator[list[MailRecord]]:
    """Consecutive groups bounded by count and bytes; a message above the byte bound goes alone."""
    group: list[MailRecord] = []
    size = 0
    for it in items:
        if group and (len(group) >= APPEND_GROUP_MESSAGES or size + len(it.data) > APPEND_GROUP_BYTES):
            yield group
            group, size = [], 0
        group.append(it)
        size += len(it.data)
    if group:
        yield group


def outgoing(r: MailRecord) -> Outgoing:
    m = r.meta
    return Outgoing(data=r.data, flags=tuple(m.flags), internaldate=m.internaldate, message_id=m.message_id)


def deal(jobs: Sequence[T], lanes: int) -> list[list[T]]:
    """Jobs dealt round-robin over ``lanes`` (job i to lane i mod lanes), so every lane gets a share."""
    return [list(jobs[i::lanes]) for i in range(lanes)]


def undeal(per_lane: Sequence[Sequence[R]], jobs: int) -> list[R]:
    """The lanes' results back in job order (the inverse of :func:`deal`)."""
    lanes = len(per_lane)
    return [per_lane[i % lanes][i // lanes] for i in range(jobs)]


def placement_note(placed: Placed) -> str:
    """The report's note on a message copied with losses: flags and keywords not kept, then what else the
    target could not hold (bounded, as every reason in the report)."""
    parts = [not_kept_reason(placed.not_kept)] if placed.not_kept else []
    parts += placed.lossy
    return "; ".join(parts)[:300]


def write_mail(target: Appender, records: Sequence[MailRecord], ctx: WriteContext, sink: PlacementSink) -> None:
    """The e-mail side of :meth:`shared.adapters.ports.Target.write`, for any :class:`Appender`."""
    jobs: list[Job] = []
    for name, mails in by_folder(records, ctx.folders).items():
        claimed: set[str] | None = None
        todo: list[MailRecord] = []
        for r in mails:
            if r.meta.item_key in ctx.inflight:
                if claimed is None:  # copies other items of this folder are recorded as: never taken for this one
                    claimed = {e.key for e in ctx.known.values() if e.target_folder == name}
                found = target.find(name, outgoing(r), claimed)
                if found is not None:  # written before a crash, never recorded: recorded now, not copied again
                    claimed.add(found.key)
                    sink.placed(r, found, [found.message(r.meta.item_key)], placement_note(found))
                    continue
            todo.append(r)
        jobs += [(name, group) for group in append_groups(todo)]
    if not jobs:
        return
    written = target.append_jobs([(name, [outgoing(r) for r in group]) for name, group in jobs])
    for (_name, group), placed_list in zip(jobs, written, strict=True):
        for r, placed in zip(group, placed_list, strict=True):
            if isinstance(placed, ItemRejected):
                sink.rejected(r, placed)
            else:
                sink.placed(r, placed, [placed.message(r.meta.item_key)], placement_note(placed))


def ensure_each(names: Sequence[str], ensure: Callable[[str, list[str]], None], refusals: tuple[type[Exception], ...],
                who: str, words: Callable[[Exception], str] = str) -> list[str]:
    """Each folder of ``names`` made by ``ensure`` (which adds those it creates to the list as it makes them).
    A refusal of ``refusals`` (a name the target cannot take) costs only that name and those below it: the
    others are made, then :class:`FoldersRefused` says which were refused, in ``who``'s words, and which were
    created (for undo)."""
    created: list[str] = []
    refused: dict[str, str] = {}
    for name in names:
        try:
            ensure(name, created)
        except refusals as exc:
            refused[name] = folder_refused(who, name, words(exc))
    if refused:
        raise FoldersRefused(created, refused)
    return created
