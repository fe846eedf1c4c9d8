"""Every e-mail Source: folders, listings, fetches — compared with what an independent client reads."""

from __future__ import annotations

from collections import Counter

import pytest

from shared.adapters.ports import FetchLimits, MeasuredSource, Source
from shared.events import ExtractTask, FolderRef, ItemResults, MailChunk, MailItem
from shared.folder_refs import folder_refs
from tests.contract.conftest import needs
from tests.contract.helpers import seed
from tests.contract.rigs import Acct, PstRig, Rig

pytestmark = pytest.mark.contract

LIMITS = FetchLimits(inline_limit=10_000_000, fetch_batch_bytes=10_000_000)


def open_source(rig: Rig, acct: Acct) -> Source:
    assert rig.system.mail_source is not None
    return rig.system.mail_source(acct.spec, acct.secret, rig.env)


def refs(source: Source) -> list[tuple[FolderRef, bool]]:
    return folder_refs(source.list_folders(), source.prefix, source.marks_special_use)


def tasks(rig: Rig, acct: Acct, source: Source) -> list[ExtractTask]:
    """One task per folder with everything its listing holds (what the planner would publish)."""
    selectable = [r for r, ok in refs(source) if ok]
    out = []
    for r in selectable:
        li = source.list_items([r], 0)[r.source_name]
        out.append(ExtractTask(migration_id="m", task_id=f"m:{r.folder_id}", source=acct.spec, folder=r,
                               uidvalidity=li.uidvalidity, uids=list(li.uids), refs=list(li.refs)))
    return out


def inbox_task(rig: Rig, acct: Acct, source: Source) -> ExtractTask:
    [task] = [t for t in tasks(rig, acct, source) if t.folder.path == ["INBOX"]]
    return task


def fetched(source: Source, task: ExtractTask, limits: FetchLimits = LIMITS) -> list[MailItem | MailChunk | ItemResults]:
    return list(source.fetch(task, limits))


@needs("source", "seed", "folders")
def test_folders_are_listed_parents_first_with_their_names_intact(rig: Rig) -> None:
    acct = rig.account()
    rig.seed(acct, {"INBOX": [seed(1)], "Projekte/Über 2026": [seed(2)], "Archiv älter": []})
    source = open_source(rig, acct)
    paths = [r.path for r, _ok in refs(source)]
    source.close()
    for want in (["INBOX"], ["Projekte"], ["Projekte", "Über 2026"], ["Archiv älter"]):
        assert want in paths, paths
    assert paths.index(["Projekte"]) < paths.index(["Projekte", "Über 2026"])
    assert len(paths) == len({tuple(p) for p in paths})


@needs("source", "seed")
def test_keys_are_unique_and_the_same_in_two_sessions(rig: Rig) -> None:
    acct = rig.account()
    rig.seed(acct, {"INBOX": [seed(1), seed(2), seed(3)]})
    listings = []
    for _ in range(2):
        source = open_source(rig, acct)
        selectable = [r for r, ok in refs(source) if ok]
        listings.append([k for li in source.list_items(selectable, 0).values() for k in li.keys])
        source.close()
    assert listings[0] == listings[1]
    assert len(listings[0]) == len(set(listings[0])) == 3


@needs("source", "seed")
def test_fetch_gives_what_the_server_holds(rig: Rig) -> None:
    acct = rig.account()
    layout = {"INBOX": [seed(1, ("\\Seen",)), seed(2), seed(3, ("\\Seen", "\\Flagged"))]}
    rig.seed(acct, layout)
    held = rig.snapshot(acct)[rig.path("INBOX")]
    source = open_source(rig, acct)
    got: Counter[tuple[bytes, frozenset[str], object]] = Counter()
    for task in tasks(rig, acct, source):
        for ev in fetched(source, task):
            assert isinstance(ev, MailItem), ev
            got[(ev.data, rig.keep(ev.meta.flags), ev.meta.internaldate if "dates" in rig.caps else None)] += 1
    source.close()
    assert got == held
    assert {data for data, _f, _d in got} == {m.data for m in layout["INBOX"]}


@needs("source", "seed")
def test_an_item_deleted_after_the_listing_is_reported_skipped(rig: Rig) -> None:
    acct = rig.account()
    kept, gone = seed(1), seed(2)
    rig.seed(acct, {"INBOX": [kept, gone]})
    source = open_source(rig, acct)
    task = inbox_task(rig, acct, source)
    source.close()
    rig.delete(acct, rig.path("INBOX"), gone.data)
    source = open_source(rig, acct)
    events = fetched(source, task)
    source.close()
    assert [e.data for e in events if isinstance(e, MailItem)] == [kept.data]
    [results] = [e for e in events if isinstance(e, ItemResults)]
    assert [r.result for r in results.results] == ["skipped"]
    assert results.results[0].item_key in rig.system.task_keys(task)


@needs("source", "seed")
def test_a_message_above_the_inline_limit_comes_in_ordered_chunks(rig: Rig) -> None:
    acct = rig.account()
    big = seed(1, size=60_000)
    rig.seed(acct, {"INBOX": [big]})
    source = open_source(rig, acct)
    task = inbox_task(rig, acct, source)
    chunks = fetched(source, task, FetchLimits(inline_limit=8_192, fetch_batch_bytes=20_000))
    source.close()
    assert all(isinstance(c, MailChunk) for c in chunks) and len(chunks) >= 8
    assert [c.seq for c in chunks if isinstance(c, MailChunk)] == list(range(len(chunks)))
    assert [c.last for c in chunks if isinstance(c, MailChunk)] == [False] * (len(chunks) - 1) + [True]
    assert b"".join(c.data for c in chunks if isinstance(c, MailChunk)) == big.data


@needs("source")
def test_a_task_names_its_keys_without_a_session(rig: Rig) -> None:
    acct = rig.account()
    if "seed" in rig.caps:
        rig.seed(acct, {"INBOX": [seed(1), seed(2)]})
    source = open_source(rig, acct)
    for task in tasks(rig, acct, source):
        listed = source.list_items([task.folder], 0)[task.folder.source_name].keys
        assert rig.system.task_keys(task) == list(listed)
        keys = [e.meta.item_key for e in fetched(source, task) if isinstance(e, MailItem)]
        assert keys == list(listed)
    source.close()


@needs("source", "corpus")
def test_the_pst_files_hold_what_pffexport_read(rig: Rig) -> None:
    assert isinstance(rig, PstRig)
    for pst, acct in rig.files():
        source = open_source(rig, acct)
        listed = {r.source_name: r for r, ok in refs(source) if ok}
        assert set(listed) == pst.mail_folders, pst.name
        for folder in pst.mail_folders:
            [task] = [t for t in tasks(rig, acct, source) if t.folder.source_name == folder]
            items = [e for e in fetched(source, task) if isinstance(e, MailItem)]
            want = pst.messages.get(folder, [])
            assert [(i.meta.subject, i.meta.internaldate.replace(microsecond=0), "\\Seen" in i.meta.flags)
                    for i in items] == [(m.subject, m.delivered, m.read) for m in want], (pst.name, folder)
            for item, m in zip(items, want, strict=True):
                assert m.body.encode() in item.data
        source.close()


@needs("source", "seed", "measured")
def test_a_measured_source_says_each_folders_bytes_as_seeded(rig: Rig) -> None:
    """The pre-flight's figure: a source that can measure (``MeasuredSource``) gives each folder's total size,
    checked against the bytes seeded (the others are measured in messages only)."""
    acct = rig.account()
    layout = {"INBOX": [seed(1), seed(2, size=30_000)], "Archiv": [seed(3)], "Leer": []}
    rig.seed(acct, layout)
    source = open_source(rig, acct)
    try:
        assert isinstance(source, MeasuredSource)
        selectable = [r for r, ok in refs(source) if ok and r.source_name in layout]
        sizes = source.folder_bytes(selectable)
    finally:
        source.close()
    listed = [r.source_name for r in selectable]  # a POP3 maildrop is its INBOX alone
    assert "INBOX" in listed
    assert sizes == {name: sum(len(s.data) for s in layout[name]) for name in listed}
