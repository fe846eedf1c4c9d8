"""The IMAP adapters' fast paths against a real Dovecot: raw FETCH parsing, pipelined APPEND with
LITERAL+, pipelined CREATE. Each is compared with what the server holds, read back with imapclient."""

from __future__ import annotations

import datetime as dt
import imaplib
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
from imapclient import IMAPClient

from mailferry.dovecot import DovecotServer
from mailferry.seed import Message, seed
from shared import net_guard
from shared.adapters.imap.connection import login_imap, open_imap, send_login
from shared.adapters.imap.source import LISTING_MAX_LINE, ImapSource
from shared.adapters.imap.target import ImapTarget
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import FetchLimits, Outgoing, Placed, WriteContext, WriteLanes
from shared.adapters.records import MailRecord
from shared.errors import ItemRejected, Transient
from shared.events import (
    CreatedThing,
    EndpointSpec,
    ExtractTask,
    FolderRef,
    ItemResults,
    MailChunk,
    MailItem,
    MailMeta,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dovecot") is None, reason="dovecot not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private Dovecot needs root"),
]

LIMIT = 200_000  # the server refuses larger messages, as providers do
USERS = {"src@fast.test": "pw-src", "dst@fast.test": "pw-dst", "dst2@fast.test": "pw-dst2",
         "dst3@fast.test": "pw-dst3"}
TZ = dt.timezone(dt.timedelta(hours=2))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    srv = DovecotServer(tmp_path_factory.mktemp("dovecot-fast"), max_message_size=LIMIT)
    with srv:
        for login, pw in USERS.items():
            srv.add_user(login, pw)
        yield srv
    srv.destroy()


def session(server: DovecotServer, login: str) -> IMAPClient:
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)
    return login_imap("127.0.0.1", server.imap_port, "none", False, login, USERS[login], opts)


def message(i: int, size: int = 0) -> bytes:
    body = (f"line {i} " * 20 + "\r\n").encode() * max(1, size // 170)
    return (f"From: a@fast.test\r\nMessage-ID: <m{i}@fast.test>\r\nSubject: =?utf-8?q?N=C2=B0_{i}?=\r\n\r\n"
            ).encode() + body


def test_pipelined_create_and_append_land_byte_identical_with_flags_and_dates(server: DovecotServer) -> None:
    target = ImapTarget(session(server, "dst@fast.test"))
    assert target.literal_plus and target.multiappend and target.uidplus
    names = ["Archiv/2024/Q1", "Archiv/2024", "Données", "INBOX", "Données"]
    created = target.ensure_folders(names)
    assert created == ["Archiv", "Archiv/2024", "Archiv/2024/Q1", "Données"]  # parents first, once each
    assert target.ensure_folders(names) == []  # known now: nothing sent

    when = [dt.datetime(2020, 1, 1 + i, 8, 30, tzinfo=TZ) for i in range(6)]
    msgs = [Outgoing(message(i, 300_000 if i == 1 else 2_000), ("\\Seen", "$Work") if i % 2 else (), when[i])
            for i in range(6)]
    jobs: list[tuple[str, list[Outgoing]]] = [("Archiv/2024/Q1", [msgs[0], msgs[1], msgs[2]]), ("Données", [msgs[3]]),
                                              ("INBOX", [msgs[4], msgs[5]])]
    out = target.append_pipelined(jobs)
    # The group with the oversized message is refused whole, then retried one by one: only it fails.
    assert [type(r).__name__ for r in out[0]] == ["Placed", "ItemRejected", "Placed"]
    assert all(isinstance(r, Placed) for r in out[1] + out[2])
    target.close()

    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login("dst@fast.test", USERS["dst@fast.test"])
        c.normalise_times = False
        for (folder, group), placed in zip(jobs, out, strict=True):
            c.select_folder(folder, readonly=True)
            for m, p in zip(group, placed, strict=True):
                if isinstance(p, ItemRejected):
                    continue
                got = c.fetch([p.uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[p.uid]
                assert got[b"BODY[]"] == m.data
                assert {f.decode() for f in got[b"FLAGS"]} - {"\\Recent"} == set(m.flags)
                assert got[b"INTERNALDATE"] == m.internaldate


def test_fast_fetch_matches_imapclient(server: DovecotServer) -> None:
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login("src@fast.test", USERS["src@fast.test"])
        for i in range(30):
            c.append("INBOX", message(i, 50_000 if i == 7 else 1_500), flags=("\\Flagged",) if i % 3 else (),
                     msg_time=dt.datetime(2021, 3, 1, 12, i, tzinfo=TZ))
        c.normalise_times = False
        c.select_folder("INBOX", readonly=True)
        uids = c.search("ALL")
        want = c.fetch(uids, ["BODY.PEEK[]", "RFC822.SIZE", "FLAGS", "INTERNALDATE"])

    source = ImapSource(session(server, "src@fast.test"))
    [(_validity, listed, _large)] = source.select_many(["INBOX"])
    assert listed == sorted(uids)
    meta = source.fetch_meta([*listed[:-1], 10_000])  # a UID that is not there is simply absent
    bodies = source.fetch_bodies(listed)
    for uid in listed[:-1]:
        assert meta[uid].size == want[uid][b"RFC822.SIZE"]
        assert set(meta[uid].flags) == {f.decode() for f in want[uid][b"FLAGS"]}
        assert meta[uid].internaldate == want[uid][b"INTERNALDATE"]
    assert set(meta) == set(listed[:-1])
    assert bodies == {uid: want[uid][b"BODY[]"] for uid in listed}
    big = listed[7]
    pieces = list(source.fetch_ranges(big, 4096, per_fetch=3))
    assert b"".join(pieces) == want[big][b"BODY[]"]
    assert all(len(p) == 4096 for p in pieces[:-1]) and 0 < len(pieces[-1]) <= 4096
    assert not source.client._imap.debug  # no protocol traces (they would carry mail content)
    source.close()


def test_opening_a_folder_and_reading_its_metadata_in_one_round_trip(server: DovecotServer) -> None:
    """EXAMINE and UID FETCH pipelined: the answers are the folder's own (compared with imapclient's), and a
    folder the server refuses to open raises, its FETCH answer (taken in another folder) thrown away."""
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login("dst2@fast.test", USERS["dst2@fast.test"])
        c.create_folder("Kept")
        for i in range(5):
            c.append("INBOX", message(100 + i, 900), flags=("\\Seen",), msg_time=dt.datetime(2020, 1, 2, 3, i, tzinfo=TZ))
        for i in range(3):
            c.append("Kept", message(200 + i, 2_000), flags=("$Work",) if i else (),
                     msg_time=dt.datetime(2019, 5, 6, 7, i, tzinfo=TZ))
        c.normalise_times = False
        kept = c.select_folder("Kept", readonly=True)
        kept_uids = c.search("ALL")
        want = c.fetch(kept_uids, ["RFC822.SIZE", "FLAGS", "INTERNALDATE"])

    source = ImapSource(session(server, "dst2@fast.test"))
    source.open_folder("INBOX")  # another folder open before, whose UIDs 1..3 exist too
    validity, meta = source.open_with_meta("Kept", [*kept_uids, 999])
    assert validity == kept[b"UIDVALIDITY"]
    assert set(meta) == set(kept_uids)
    for uid in kept_uids:
        assert meta[uid].size == want[uid][b"RFC822.SIZE"]
        assert set(meta[uid].flags) == {f.decode() for f in want[uid][b"FLAGS"]}
        assert meta[uid].internaldate == want[uid][b"INTERNALDATE"]
    source.open_folder("INBOX")
    with pytest.raises(imaplib.IMAP4.error, match="refused to open folder"):
        source.open_with_meta("Gone", [1, 2, 3])
    # The session is still in step: the next task's folder opens and reads as before.
    again_validity, again = source.open_with_meta("Kept", kept_uids[:1])
    assert again_validity == validity and set(again) == {kept_uids[0]}
    source.close()


def test_small_tasks_of_several_folders_read_in_one_pass_arrive_whole(server: DovecotServer) -> None:
    """A group of tasks over three folders (one message above the inline limit, one UID deleted after the
    plan, one folder reset since): every message's bytes, flags and date as imapclient reads them, the large
    one in pieces that make it whole, the missing and the reset reported, nothing else."""
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login("dst@fast.test", USERS["dst@fast.test"])
        for name in ("GrpA", "GrpB", "GrpC"):
            c.create_folder(name)
        for i in range(4):
            c.append("GrpA", message(300 + i, 1_200), flags=("\\Seen",) if i % 2 else (),
                     msg_time=dt.datetime(2018, 1, 1, 1, i, tzinfo=TZ))
        for i in range(3):
            c.append("GrpB", message(400 + i, 60_000 if i == 1 else 800), flags=("$Label1",),
                     msg_time=dt.datetime(2017, 2, 2, 2, i, tzinfo=TZ))
        c.append("GrpC", message(500, 700))
        c.normalise_times = False
        want: dict[tuple[str, int], dict[bytes, Any]] = {}
        validity: dict[str, int] = {}
        for name in ("GrpA", "GrpB", "GrpC"):
            validity[name] = c.select_folder(name, readonly=True)[b"UIDVALIDITY"]
            uids = c.search("ALL")
            for uid, data in c.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
                want[(name, uid)] = data
        c.select_folder("GrpA")
        c.delete_messages([4])  # gone after the plan
        c.expunge()
        gone_body = want.pop(("GrpA", 4))[b"BODY[]"]
    assert gone_body
    endpoint = EndpointSpec(type="imap", host="h", port=1, security="none", login="l", password_sealed="x.y")

    def task_of(name: str, uids: list[int], uidvalidity: int) -> ExtractTask:
        return ExtractTask(migration_id="m", task_id=f"m:{name}", source=endpoint, uids=uids, uidvalidity=uidvalidity,
                           folder=FolderRef(folder_id=name.lower(), path=[name], source_name=name))

    tasks = [task_of("GrpA", [1, 2, 3, 4], validity["GrpA"]), task_of("GrpB", [1, 2, 3], validity["GrpB"]),
             task_of("GrpC", [1], validity["GrpC"] + 1)]
    source = ImapSource(session(server, "dst@fast.test"))
    got: dict[tuple[str, int], tuple[bytes, list[str], Any]] = {}
    pieces: dict[str, list[MailChunk]] = {}
    results: dict[str, str] = {}
    for owner, event in source.fetch_group(tasks, FetchLimits(inline_limit=16_384, fetch_batch_bytes=4_000)):
        name = owner.folder.source_name
        if isinstance(event, MailItem):
            assert event.meta.item_key.startswith(owner.folder.folder_id + ":")
            got[(name, int(event.meta.item_key.rsplit(":", 1)[1]))] = (event.data, event.meta.flags,
                                                                        event.meta.internaldate)
        elif isinstance(event, MailChunk):
            pieces.setdefault(event.item_key, []).append(event)
        else:
            assert isinstance(event, ItemResults)
            results.update({r.item_key: r.result for r in event.results})
    source.close()
    [(key, chunks)] = pieces.items()
    assert [p.seq for p in chunks] == list(range(len(chunks))) and chunks[-1].last and len(chunks) > 1
    meta = chunks[0].meta
    assert meta is not None and key.startswith("grpb:")
    got[("GrpB", int(key.rsplit(":", 1)[1]))] = (b"".join(p.data for p in chunks), meta.flags, meta.internaldate)
    expected = {k: v for k, v in want.items() if k[0] != "GrpC"}
    assert set(got) == set(expected)
    for k, (data, flags, when) in got.items():
        assert data == expected[k][b"BODY[]"]
        # \Recent belongs to whichever session saw the message first (no client can set it): not compared
        assert set(flags) - {"\\Recent"} == {f.decode() for f in expected[k][b"FLAGS"]} - {"\\Recent"}
        assert when == expected[k][b"INTERNALDATE"]
    assert results == {f"grpa:{validity['GrpA']}:4": "skipped", f"grpc:{validity['GrpC'] + 1}:1": "failed"}


def test_a_target_session_lists_its_folders_and_namespace_in_one_round_trip(server: DovecotServer) -> None:
    """LIST and NAMESPACE are both written before either answer is read; what they give is what imapclient's
    own commands give."""
    client = session(server, "dst3@fast.test")
    client.create_folder("Eigene/Liste")
    imap = client._imap
    calls: list[str] = []
    send, complete = imap.send, imap._command_complete

    def sent(data: bytes) -> None:
        calls.append("send " + data.split(b" ")[1].strip().decode())  # "<tag> COMMAND ..."
        send(data)

    def read(name: str, tag: Any) -> Any:
        calls.append(f"read {name}")
        return complete(name, tag)

    imap.send, imap._command_complete = sent, read  # type: ignore[method-assign]
    target = ImapTarget(client)
    assert sorted(calls[:2]) == ["send LIST", "send NAMESPACE"] and sorted(calls[2:]) == [
        "read LIST", "read NAMESPACE"], calls
    imap.send, imap._command_complete = send, complete  # type: ignore[method-assign]
    assert target.existing == {_name for _f, _d, _name in client.list_folders()} >= {"INBOX", "Eigene/Liste"}
    personal = client.namespace().personal
    assert target.prefix == (personal[0][0] if personal else "") and target.delimiter == "/"
    target.close()


def test_without_literal_plus_appends_still_work(server: DovecotServer) -> None:
    target = ImapTarget(session(server, "dst2@fast.test"))
    target.literal_plus = False  # as on a server that does not offer it: synchronizing literals
    out = target.append_pipelined([("INBOX", [Outgoing(message(1), (), dt.datetime(2020, 5, 5, tzinfo=TZ)),
                                              Outgoing(message(2), ("\\Seen",), dt.datetime(2020, 5, 6, tzinfo=TZ))])])
    assert [type(r).__name__ for r in out[0]] == ["Placed", "Placed"]
    target.close()


def test_a_message_looked_for_again_is_our_copy_not_the_users_identical_one(server: DovecotServer) -> None:
    """The user already had a byte-identical message with the same date: the lookup after a lost APPEND
    answer takes our newer copies, one each, so undo never removes the user's."""
    login = "dst2@fast.test"
    when = dt.datetime(2019, 9, 9, 9, 9, tzinfo=TZ)
    same = Outgoing(message(77), (), when, "<m77@fast.test>")
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        c.create_folder("Twice")
        c.append("Twice", same.data, msg_time=when)
        c.select_folder("Twice", readonly=True)
        [users] = c.search("ALL")
    target = ImapTarget(session(server, login))
    target.append_pipelined([("Twice", [same, same])])
    first = target.find("Twice", same)
    second = target.find("Twice", same, {str(first.uid)} if first else set())
    target.close()
    uids = [p.uid for p in (first, second) if p is not None]
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        c.select_folder("Twice", readonly=True)
        ours = sorted(set(c.search("ALL")) - {users})
    assert len(ours) == 2 and sorted(uids) == ours  # two copies, each claimed once, neither the user's


def test_pipelined_listing_matches_one_folder_at_a_time(server: DovecotServer) -> None:
    login = "src@fast.test"
    names = ["Liste/Eins", "Liste/Leer", "Liste/Zwei \"quoted\"", "Liste/Überall"]
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        for n, name in enumerate(names):
            c.create_folder(name)
            for i in range(0 if "Leer" in name else 3 + n):
                c.append(name, message(100 * n + i, 60_000 if i == 1 else 0), msg_time=dt.datetime(2022, 1, 1, tzinfo=TZ))
        c.select_folder(names[0])
        c.delete_messages(c.search("ALL")[:1])  # a gap in the UIDs
        c.expunge()
        want, large = [], []
        for name in names:
            info = c.select_folder(name, readonly=True)
            want.append((int(info[b"UIDVALIDITY"]), sorted(c.search("ALL"))))
            large.append(sorted(c.search(["LARGER", 50_000])))

    source = ImapSource(session(server, login))
    assert source.select_many(names) == [(v, uids, []) for v, uids in want]
    assert source.select_many(names, larger_than=50_000) == [(v, uids, big) for (v, uids), big in zip(want, large, strict=True)]
    assert [len(big) for big in large] == [1, 0, 1, 1]  # the first folder's was not the one expunged
    without = ImapSource(session(server, login))
    without.client.has_capability = lambda _cap: False  # type: ignore[method-assign]  # a server without ESEARCH
    assert without.select_many(names, larger_than=50_000) == [(v, uids, []) for v, uids in want]
    without.close()
    assert [source.select_many([name])[0][:2] for name in names] == want
    assert want[1] == (want[1][0], []) and want[0][1][0] > 1
    with pytest.raises(imaplib.IMAP4.error, match="Liste/Fehlt"):
        source.select_many([names[0], "Liste/Fehlt", names[2]])
    assert [(v, u) for v, u, _ in source.select_many(names[2:])] == want[2:]  # still in step after a refusal
    source.open_folder(names[3])
    assert sorted(source.fetch_bodies(want[3][1])) == want[3][1]  # imaplib's own commands work afterwards
    source.close()


def fill_folder(server: DovecotServer, login: str, name: str, count: int, first: int) -> tuple[int, list[int]]:
    """A new folder with ``count`` messages; its UIDVALIDITY and UIDs as imapclient reads them."""
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        seed(c, {name: [Message(message(first + i), (), dt.datetime(2023, 1, 1, tzinfo=TZ)) for i in range(count)]})
        validity = int(c.select_folder(name, readonly=True)[b"UIDVALIDITY"])
        return validity, sorted(c.search("ALL"))


def test_listing_a_large_folder_uses_uid_ranges_not_one_number_per_message(
        server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    login = "src@fast.test"
    validity, uids = fill_folder(server, login, "Viele", 60, first=1000)
    source = ImapSource(session(server, login))
    assert source.client.has_capability("ESEARCH")
    # As if the folder held 150,000 messages: a plain SEARCH answer would now be too long a line.
    assert source.client._imap.max_line == LISTING_MAX_LINE  # room for servers without ESEARCH
    monkeypatch.setattr(source.client._imap, "max_line", 120)
    assert source.select_many(["Viele"]) == [(validity, uids, [])]
    monkeypatch.undo()
    source.close()


def test_a_listing_whose_answers_do_not_add_up_is_taken_again_folder_by_folder(
        server: DovecotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters.imap import source as source_imap

    login = "src@fast.test"
    validity, uids = fill_folder(server, login, "Kurz", 7, first=2000)
    validity_b, uids_b = fill_folder(server, login, "Lang", 5, first=3000)
    real = source_imap._esearch_all
    answers = 0

    def short(imap: imaplib.IMAP4, tag: bytes) -> list[int] | None:  # a server that loses part of one answer
        nonlocal answers
        answers += 1
        found = real(imap, tag)
        return found[:3] if found and answers == 1 else found

    monkeypatch.setattr(source_imap, "_esearch_all", short)
    source = ImapSource(session(server, login))
    # EXISTS said 7: "Kurz" is listed again, whole, and the answers for "Lang" behind it in the pipeline stay its own
    assert source.select_many(["Kurz", "Lang"]) == [(validity, uids, []), (validity_b, uids_b, [])]
    source.close()


class _Sink:
    def __init__(self) -> None:
        self.placed: dict[str, Placed] = {}
        self.rejected: dict[str, str] = {}

    def placed_(self, record: MailRecord, where: Placed, created: Sequence[CreatedThing], note: str = "") -> None:
        self.placed[record.key] = where

    def rejected_(self, record: MailRecord, error: ItemRejected, created: Sequence[CreatedThing] = ()) -> None:
        self.rejected[record.key] = str(error)

    def undoable(self, created: Sequence[CreatedThing]) -> None:
        pass


def _lanes_target(server: DovecotServer, login: str, allowed: int,
                  opened: list[ImapTarget]) -> tuple[ImapTarget, ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=allowed)

    def lane() -> ImapTarget:
        made = ImapTarget(session(server, login))
        opened.append(made)
        return made

    return ImapTarget(session(server, login), reopen=lane, lanes=allowed, pool=pool), pool


def _write(target: ImapTarget, folders: list[str], per_folder: int, wanted: int, start: int) -> tuple[_Sink, WriteLanes]:
    refs = {name: FolderRef(folder_id=f"f-{name}", path=[name]) for name in folders}
    target.ensure_folders(folders)
    records = []
    for ref in refs.values():
        for _ in range(per_folder):
            n = start + len(records)
            data = message(n)
            records.append(MailRecord(MailMeta(item_key=f"{ref.folder_id}:{n}", folder=ref, flags=["\\Seen"],
                                               internaldate=dt.datetime(2021, 1, 1, tzinfo=TZ) + dt.timedelta(hours=n),
                                               size=len(data), message_id=f"<m{n}@fast.test>"), data))
    sink = _Sink()
    lanes = WriteLanes(wanted=wanted)
    ctx = WriteContext(migration_id="m", pair_id="p", inflight=frozenset(), known={}, write_ahead=lambda _t: None,
                       snapshots=_NoSnapshots(), folders={r.folder_id: name for name, r in refs.items()}, lanes=lanes)
    target.write(records, ctx, cast(Any, type("S", (), {"placed": sink.placed_, "rejected": sink.rejected_,
                                                       "undoable": sink.undoable})()))
    return sink, lanes


class _NoSnapshots:
    def keep_rules_before(self, item_keys: Any, rule_ids: Sequence[str]) -> None:
        pass

    def rules_before(self, item_key: str) -> set[str] | None:
        return None


def test_with_literal_plus_a_batch_goes_through_as_many_lanes_as_the_loader_asks(server: DovecotServer) -> None:
    """Six folders of 60 messages (12 MULTIAPPENDs) through three sessions: every message lands once, where the
    sink was told, byte-identical; one session when one is asked for, and lanes above a lowered number close."""
    login = "lanes@fast.test"
    server.add_user(login, "pw-lanes")
    USERS[login] = "pw-lanes"
    opened: list[ImapTarget] = []
    target, pool = _lanes_target(server, login, 4, opened)
    assert target.literal_plus
    folders = [f"L{i}" for i in range(6)]
    sink, lanes = _write(target, folders, 60, wanted=3, start=0)
    assert not sink.rejected and len(sink.placed) == 360
    assert lanes.used == 3 and lanes.messages == 360 and lanes.seconds == 0.0  # timed by the durable write path
    assert len(opened) == 2  # two further lanes, logged in when the batch asked for them
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        for name in folders:
            c.select_folder(name, readonly=True)
            got = c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
            assert len(got) == 60
            placed = {p.uid for p in sink.placed.values() if p.folder == name}
            assert placed == set(got)
            assert all(b"\\Seen" in d[b"FLAGS"] for d in got.values())
            ids = sorted(int(d[b"BODY[]"].split(b"<m", 1)[1].split(b"@", 1)[0]) for d in got.values())
            first = folders.index(name) * 60
            assert ids == list(range(first, first + 60))
    sink, lanes = _write(target, folders, 10, wanted=1, start=1000)
    assert len(sink.placed) == 60 and lanes.used == 1
    assert sum(1 for lane in opened if lane.client._imap.state != "LOGOUT") == 0  # all closed: one asked for
    target.close()
    pool.shutdown()


def test_a_lane_that_fails_fails_the_write_after_every_lane_finished(server: DovecotServer) -> None:
    login = "lanes2@fast.test"
    server.add_user(login, "pw-lanes2")
    USERS[login] = "pw-lanes2"
    opened: list[ImapTarget] = []
    target, pool = _lanes_target(server, login, 2, opened)
    target.ensure_folders(["A", "B"])
    target.warm(2)
    target._opened()
    [lane] = opened
    lane.client.shutdown()  # its connection is gone: its share fails
    job_a = ("A", [Outgoing(message(1), (), dt.datetime(2020, 5, 5, tzinfo=TZ))])
    job_b = ("B", [Outgoing(message(2), (), dt.datetime(2020, 5, 5, tzinfo=TZ))])
    target._asked = 2
    with pytest.raises(Transient):
        target.append_jobs([job_a, job_b])
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        assert c.folder_status("A", [b"MESSAGES"])[b"MESSAGES"] == 1  # the healthy lane's share was written
    target.close()
    pool.shutdown()


def test_a_session_takes_its_capabilities_from_the_greeting_and_the_login_answer(server: DovecotServer) -> None:
    """No CAPABILITY command: the greeting's list before the login, the login answer's after it (with what only
    a logged-in session is offered), the same lists the server answers when asked."""
    opts = ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=30)
    client = open_imap("127.0.0.1", server.imap_port, "none", False, opts)
    assert client._imap.tagnum == 0  # nothing sent yet
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as asked:
        before = asked._imap.capabilities  # imaplib's own CAPABILITY command
        asked.login("src@fast.test", USERS["src@fast.test"])
        after = asked.capabilities()
    assert client._imap.capabilities == before
    send_login(client, "127.0.0.1", "src@fast.test", USERS["src@fast.test"])
    assert client.capabilities() == after and client.has_capability("ESEARCH") and b"ESEARCH" not in before
    assert client._imap.tagnum == 1  # the LOGIN alone
    client.logout()


def test_the_namespace_and_the_folders_come_in_one_round_trip(server: DovecotServer) -> None:
    login = "src@fast.test"
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        c.create_folder("Runde/Zwei")
        c.create_folder("Runde/Über")
        personal = c.namespace().personal
        want = {(name, delim.decode(), frozenset(f.decode() for f in flags)) for flags, delim, name in c.list_folders()}
    source = ImapSource(session(server, login))
    imap = source.client._imap
    seen: list[str] = []
    send, readline = imap.send, imap.readline

    def sent(data: bytes) -> None:
        seen.append(data.split()[1].decode())
        send(data)

    def read() -> bytes:
        seen.append("read")
        return readline()

    imap.send, imap.readline = sent, read  # type: ignore[method-assign]
    listed = source.list_folders()
    assert seen[:3] == ["NAMESPACE", "LIST", "read"] and set(seen[3:]) == {"read"}  # both sent, then the answers
    assert source.prefix == (personal[0][0] if personal else "")
    assert {(f.name, f.delimiter, frozenset(f.flags)) for f in listed} == want
    assert {"Runde/Zwei", "Runde/Über"} <= {f.name for f in listed}
    seen.clear()
    assert source.list_folders() == listed and seen[0] == "LIST"  # the namespace is asked once
    source.close()


def exact(i: int, size: int) -> bytes:
    """A message of exactly ``size`` bytes."""
    head = f"From: a@fast.test\r\nMessage-ID: <h{i}@fast.test>\r\nSubject: head {i}\r\n\r\n".encode()
    return head + b"y" * (size - len(head))


def test_short_messages_of_a_group_come_with_their_metadata(server: DovecotServer) -> None:
    """Each message's first bytes are read with its metadata: one shorter than that needs no second round
    trip; one as long or longer (or above the inline limit, read in pieces) is read again whole. Every message
    arrives byte-identical with its flags and date, as imapclient reads them."""
    login = "dst2@fast.test"
    sizes = {"HeadA": [1_000, 4_999, 1_200], "HeadB": [5_000, 8_000, 40_000]}
    when = dt.datetime(2016, 6, 6, 6, 6, tzinfo=TZ)
    with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as c:
        c.login(login, USERS[login])
        seed(c, {name: [Message(exact(10 * n + i, size), ("\\Seen",) if i else ("$Work",), when)
                        for i, size in enumerate(sizes_)] for n, (name, sizes_) in enumerate(sizes.items())})
        c.normalise_times = False
        want: dict[tuple[str, int], dict[bytes, Any]] = {}
        validity: dict[str, int] = {}
        for name in sizes:
            validity[name] = int(c.select_folder(name, readonly=True)[b"UIDVALIDITY"])
            for uid, data in c.fetch(c.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
                want[(name, uid)] = data
    endpoint = EndpointSpec(type="imap", host="h", port=1, security="none", login="l", password_sealed="x.y")
    tasks = [ExtractTask(migration_id="m", task_id=f"m:{name}", source=endpoint, uids=[1, 2, 3],
                         uidvalidity=validity[name], folder=FolderRef(folder_id=name.lower(), path=[name],
                                                                      source_name=name)) for name in sizes]
    limits = FetchLimits(inline_limit=16_384, fetch_batch_bytes=6 * 5_000)  # heads of 5,000 bytes
    source = ImapSource(session(server, login))
    asked: list[list[tuple[str, list[int]]]] = []
    bodies_many = source.fetch_bodies_many

    def counted(reads: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, bytes]]:
        asked.append([(name, list(uids)) for name, uids in reads])
        return bodies_many(reads)

    source.fetch_bodies_many = counted  # type: ignore[method-assign]
    got: dict[tuple[str, int], bytes] = {}
    for owner, event in source.fetch_group(tasks, limits):
        if isinstance(event, MailItem):
            key = (owner.folder.source_name, int(event.meta.item_key.rsplit(":", 1)[1]))
            got[key] = event.data
            assert set(event.meta.flags) - {"\\Recent"} == {f.decode() for f in want[key][b"FLAGS"]} - {"\\Recent"}
            assert event.meta.internaldate == want[key][b"INTERNALDATE"]
        elif isinstance(event, MailChunk):
            key = (owner.folder.source_name, int(event.item_key.rsplit(":", 1)[1]))
            got[key] = got.get(key, b"") + event.data
    # 5,000 bytes asked: the 5,000-byte message might go on, so it is read again, as is the 8,000-byte one.
    assert asked == [[("HeadB", [1, 2])]]
    assert got == {key: data[b"BODY[]"] for key, data in want.items()}
    asked.clear()
    only_short = [tasks[0]]
    assert sum(isinstance(e, MailItem) for _t, e in source.fetch_group(only_short, limits)) == 3
    assert asked == []  # one round trip for all
    source.close()
