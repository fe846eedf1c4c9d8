"""Sources that fetch a message whole (EWS, POP3, PST): chunks at the inline limit, and items a task named
but the source no longer has reported as deleted meanwhile (shared/adapters/fetch_whole.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.adapters.fetch_whole import whole_items
from shared.events import EndpointSpec, ExtractTask, FolderRef, ItemResult, ItemResults, MailChunk, MailItem, MailMeta

FOLDER = FolderRef(folder_id="f1", path=["INBOX"], source_name="INBOX")
SPEC = EndpointSpec(type="pop3", host="h", port=110, security="none", login="l", password_sealed="")
TASK = ExtractTask(migration_id="m", task_id="t", source=SPEC, folder=FOLDER, uidvalidity=0, uids=[],
                   refs=["a", "b", "c", "d"])


def mail(key: str, data: bytes) -> MailItem:
    meta = MailMeta(item_key=key, folder=FOLDER, flags=[], internaldate=datetime(2024, 5, 1, tzinfo=UTC),
                    size=len(data))
    return MailItem(migration_id="m", meta=meta, data=data)


def test_large_ones_are_cut_and_missing_ones_reported_once() -> None:
    unreadable = ItemResults(migration_id="m", operation="emails", results=[
        ItemResult(item_key="k-c", result="failed", reason="this item could not be read")])
    out = list(whole_items(TASK, [mail("k-a", b"x" * 10), mail("k-b", b"0123456789abcdefghij-"), unreadable],
                           ["k-a", "k-b", "k-c", "k-d"], inline_limit=10))
    assert isinstance(out[0], MailItem) and out[0].meta.item_key == "k-a"
    chunks = [o for o in out if isinstance(o, MailChunk)]
    assert [(c.item_key, c.seq, c.last, c.data) for c in chunks] == [
        ("k-b", 0, False, b"0123456789"), ("k-b", 1, False, b"abcdefghij"), ("k-b", 2, True, b"-")]
    assert chunks[0].meta is not None and chunks[1].meta is None
    assert out[4] is unreadable
    gone = out[5]
    assert isinstance(gone, ItemResults) and len(out) == 6
    assert [(r.item_key, r.result, r.reason) for r in gone.results] == [
        ("k-d", "skipped", "deleted from the source while the migration ran")]
