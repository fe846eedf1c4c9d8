"""Running one extract task against an in-memory fake of the IMAP source port."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import cast

from shared.adapters.fetch_whole import as_chunks
from shared.adapters.imap import fetch_task as task_run
from shared.adapters.imap.fetch_task import batches, run_task
from shared.adapters.imap.source import ImapSource, MessageMeta
from shared.adapters.ports import FetchLimits as Limits
from shared.events import EndpointSpec, Event, ExtractTask, FolderRef, ItemResults, MailChunk, MailItem, MailMeta
from shared.item_keys import item_key
from shared.mail_headers import header_fields

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def meta(uid: int, size: int) -> MessageMeta:
    return MessageMeta(uid=uid, size=size, flags=("\\Seen",), internaldate=WHEN)


def sizes(out: list[list[MessageMeta]]) -> list[list[int]]:
    return [[m.size for m in b] for b in out]


# -- batches -----------------------------------------------------------------------------------

def test_batches_group_small_messages_by_bytes_and_keep_order() -> None:
    metas = [meta(i, s) for i, s in enumerate([40, 40, 30, 10, 90, 5], start=1)]
    out = list(batches(metas, Limits(inline_limit=100, fetch_batch_bytes=100)))
    assert sizes(out) == [[40, 40], [30, 10], [90, 5]]
    assert [m for b in out for m in b] == metas


def test_batches_large_message_travels_alone() -> None:
    metas = [meta(1, 10), meta(2, 101), meta(3, 10), meta(4, 100)]
    out = list(batches(metas, Limits(inline_limit=100, fetch_batch_bytes=1000)))
    # Exactly the inline limit is still inline.
    assert sizes(out) == [[10], [101], [10, 100]]


def test_batches_small_message_above_budget_still_goes() -> None:
    out = list(batches([meta(1, 80), meta(2, 80)], Limits(inline_limit=100, fetch_batch_bytes=50)))
    assert sizes(out) == [[80], [80]]


def test_batches_cap_the_number_of_messages() -> None:
    metas = [meta(i, 1) for i in range(task_run.MAX_MESSAGES_PER_FETCH * 2 + 1)]
    out = list(batches(metas, Limits(inline_limit=100, fetch_batch_bytes=10**9)))
    assert [len(b) for b in out] == [task_run.MAX_MESSAGES_PER_FETCH, task_run.MAX_MESSAGES_PER_FETCH, 1]


def test_batches_empty() -> None:
    assert list(batches([], Limits(1, 1))) == []


# -- header_fields -----------------------------------------------------------------------------

def test_header_fields_decode_and_unfold() -> None:
    data = (b"From: a@example.org\r\nMessage-ID:  <abc@example.org> \r\n"
            b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus\r\n\tK=C3=B6ln\r\n\r\nSubject: not this one\r\n")
    mid, subject = header_fields(data)
    assert mid == "<abc@example.org>"
    assert subject == "Grüße aus K=C3=B6ln"


def test_header_fields_bare_lf_and_body_not_read() -> None:
    assert header_fields(b"Subject: hi\n\nMessage-ID: <body@x>\n") == ("", "hi")


def test_header_fields_missing_and_garbage() -> None:
    assert header_fields(b"") == ("", "")
    assert header_fields(b"\xff\xfe\x00 no headers at all") == ("", "")


def test_header_fields_match_whole_field_names_at_line_starts_in_any_case() -> None:
    data = (b"X-Subject: no\r\nSubject-Extra: no\r\nReferences: <r@x>\r\n Subject: no\r\n"
            b"sUBJECT  : yes\r\n  folded\r\nMessage-ID\t: <a@b>\r\nSubject: second\r\n\r\n")
    assert header_fields(data) == ("<a@b>", "yes folded")
    assert header_fields(b"Subject:\r\nMessage-ID: <m@x>") == ("<m@x>", "")  # no blank line: up to the end


def test_header_fields_subject_is_bounded() -> None:
    _, subject = header_fields(b"Subject: " + b"x" * 5000 + b"\r\n\r\n")
    assert subject == "x" * 200


# -- run_task with a fake source -------------------------------------------------------------

class FakeSource:
    """The calls run_task makes, over a dict of uid → message bytes."""

    def __init__(self, uidvalidity: int, messages: dict[int, bytes]) -> None:
        self.uidvalidity = uidvalidity
        self.messages = dict(messages)
        self.vanish_before_body: set[int] = set()
        self.calls: list[tuple[str, object]] = []

    def open_folder(self, name: str) -> int:
        self.calls.append(("select", name))
        return self.uidvalidity

    def open_with_meta(self, name: str, uids: Sequence[int]) -> tuple[int, dict[int, MessageMeta]]:
        return self.open_folder(name), self.fetch_meta(uids)

    def fetch_meta(self, uids: Sequence[int]) -> dict[int, MessageMeta]:
        self.calls.append(("fetch_meta", list(uids)))
        return {u: MessageMeta(u, len(self.messages[u]), ("\\Seen", "$Work"), WHEN) for u in uids
                if u in self.messages}

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        self.calls.append(("fetch_bodies", list(uids)))
        return {u: self.messages[u] for u in uids if u in self.messages and u not in self.vanish_before_body}

    def fetch_ranges(self, uid: int, piece: int, per_fetch: int = 1) -> Iterator[bytes]:
        self.calls.append(("fetch_ranges", uid))
        data = b"" if uid in self.vanish_before_body else self.messages.get(uid, b"")
        for i in range(0, len(data), piece):
            yield data[i:i + piece]


ENDPOINT = EndpointSpec(type="imap", host="h", port=993, security="tls", login="l", password_sealed="x.y")
FOLDER = FolderRef(folder_id="fid", path=["INBOX", "Sub"], source_name="INBOX/Sub")


def task(uids: list[int], uidvalidity: int = 7) -> ExtractTask:
    return ExtractTask(migration_id="m", task_id="t", source=ENDPOINT, folder=FOLDER, uidvalidity=uidvalidity,
                       uids=uids)


def msg(n: int, body_size: int = 10) -> bytes:
    return f"Message-ID: <{n}@x>\r\nSubject: message {n}\r\n\r\n".encode() + b"b" * body_size


def run(source: FakeSource, t: ExtractTask, limits: Limits = Limits(100, 1000)) -> list[Event]:
    return list(run_task(t, cast(ImapSource, source), limits))


def test_small_messages_become_mail_items_in_task_order() -> None:
    source = FakeSource(7, {1: msg(1), 2: msg(2), 3: msg(3)})
    out = run(source, task([3, 1, 2]))
    assert all(isinstance(e, MailItem) for e in out)
    items = cast(list[MailItem], out)
    assert [i.meta.item_key for i in items] == [item_key("fid", 7, u) for u in (3, 1, 2)]
    first = items[0]
    assert first.data == msg(3)
    assert first.meta.size == len(msg(3))
    assert first.meta.folder == FOLDER
    assert first.meta.flags == ["\\Seen", "$Work"]
    assert first.meta.internaldate == WHEN
    assert (first.meta.message_id, first.meta.subject) == ("<3@x>", "message 3")
    assert first.migration_id == "m"
    assert ("select", "INBOX/Sub") in source.calls


def test_running_a_task_twice_gives_the_same_items() -> None:
    source = FakeSource(7, {1: msg(1), 2: msg(2, 500)})
    def strip(events: list[Event]) -> list[str]:
        return [e.model_dump_json(exclude={"event_id", "occurred_at"}) for e in events]
    assert strip(run(source, task([1, 2]))) == strip(run(source, task([1, 2])))


def test_uidvalidity_changed_fails_every_uid_and_reads_no_message() -> None:
    source = FakeSource(8, {1: msg(1), 2: msg(2)})
    out = run(source, task([1, 2], uidvalidity=7))
    assert len(out) == 1 and isinstance(out[0], ItemResults)
    results = out[0].results
    assert [r.item_key for r in results] == [item_key("fid", 7, 1), item_key("fid", 7, 2)]
    assert {r.result for r in results} == {"failed"}
    assert "UIDVALIDITY" in results[0].reason
    # The metadata comes with the opening (one round trip); no message is read.
    assert [c for c, _ in source.calls] == ["select", "fetch_meta"]


def test_vanished_before_meta_are_skipped_and_the_rest_copied() -> None:
    source = FakeSource(7, {1: msg(1), 3: msg(3)})
    out = run(source, task([1, 2, 3]))
    assert isinstance(out[0], ItemResults)
    assert [(r.item_key, r.result) for r in out[0].results] == [(item_key("fid", 7, 2), "skipped")]
    assert [e.meta.item_key for e in out[1:] if isinstance(e, MailItem)] == [item_key("fid", 7, 1),
                                                                             item_key("fid", 7, 3)]


def test_vanished_before_body_is_skipped() -> None:
    source = FakeSource(7, {1: msg(1), 2: msg(2)})
    source.vanish_before_body = {1}
    out = run(source, task([1, 2]))
    assert isinstance(out[0], ItemResults)
    assert [(r.item_key, r.result) for r in out[0].results] == [(item_key("fid", 7, 1), "skipped")]
    assert isinstance(out[1], MailItem) and out[1].meta.item_key == item_key("fid", 7, 2)


def test_large_message_is_sent_in_ordered_chunks() -> None:
    big = msg(9, 250)
    source = FakeSource(7, {1: msg(1), 9: big, 2: msg(2)})
    out = run(source, task([1, 9, 2]), Limits(inline_limit=100, fetch_batch_bytes=1000))
    assert isinstance(out[0], MailItem) and isinstance(out[-1], MailItem)
    chunks = [e for e in out if isinstance(e, MailChunk)]
    assert len(chunks) == -(-len(big) // 100)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert b"".join(c.data for c in chunks) == big
    assert all(len(c.data) <= 100 for c in chunks)
    assert {c.item_key for c in chunks} == {item_key("fid", 7, 9)}
    assert chunks[0].meta is not None and all(c.meta is None for c in chunks[1:])
    assert chunks[0].meta.size == len(big)
    assert (chunks[0].meta.message_id, chunks[0].meta.subject) == ("<9@x>", "message 9")
    assert ("fetch_ranges", 9) in source.calls
    assert all(9 not in arg for c, arg in source.calls if c == "fetch_bodies")  # type: ignore[operator]


def test_large_message_of_exactly_one_piece_is_one_last_chunk() -> None:
    big = msg(5, 150)
    out = run(FakeSource(7, {5: big}), task([5]), Limits(inline_limit=len(big) - 1, fetch_batch_bytes=1000))
    assert len(out) == 2
    assert [(c.seq, c.last) for c in out if isinstance(c, MailChunk)] == [(0, False), (1, True)]


def test_large_message_that_vanished_before_its_body_is_not_sent_empty() -> None:
    source = FakeSource(7, {9: msg(9, 250)})
    source.vanish_before_body = {9}
    out = run(source, task([9]), Limits(inline_limit=100, fetch_batch_bytes=1000))
    assert not [e for e in out if isinstance(e, MailChunk)]
    results = [r for e in out if isinstance(e, ItemResults) for r in e.results]
    assert [(r.item_key, r.result) for r in results] == [(item_key("fid", 7, 9), "skipped")]


# -- as_chunks (sources without partial fetch) -------------------------------------------------

def _item(data: bytes) -> MailItem:
    meta = MailMeta(item_key="k", folder=FOLDER, flags=[], internaldate=WHEN, size=len(data))
    return MailItem(migration_id="m", meta=meta, data=data)


def test_as_chunks_small_item_is_passed_through() -> None:
    item = _item(b"x" * 100)
    assert list(as_chunks(item, 100)) == [item]


def test_as_chunks_cuts_a_large_item_in_order() -> None:
    item = _item(bytes(range(256)) * 2)
    out = list(as_chunks(item, 100))
    assert all(isinstance(c, MailChunk) for c in out)
    chunks = cast(list[MailChunk], out)
    assert [(c.seq, c.last, len(c.data)) for c in chunks] == [(0, False, 100), (1, False, 100), (2, False, 100),
                                                             (3, False, 100), (4, False, 100), (5, True, 12)]
    assert b"".join(c.data for c in chunks) == item.data
    assert chunks[0].meta == item.meta and all(c.meta is None for c in chunks[1:])
    assert {c.item_key for c in chunks} == {"k"}


def test_header_fields_agree_with_the_email_package_on_the_corpus() -> None:
    """The fast parser against Python's full header parser, on 100+ real messages written by others."""
    from email.parser import BytesHeaderParser
    from email.policy import default as default_policy

    from mailferry.seed import corpus_messages

    messages = corpus_messages()
    assert len(messages) >= 100
    differ = []
    for raw in messages:
        msg = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        want = (str(msg.get("Message-ID", "") or "").strip()[:998],
                " ".join(str(msg.get("Subject", "") or "").split())[:200])
        if header_fields(raw) != want:
            differ.append((header_fields(raw), want))
    # The email package repairs a few broken encodings its own way; those few may differ.
    assert len(differ) <= len(messages) // 20, differ[:5]
