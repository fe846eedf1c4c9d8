"""The four services' cores in one process: intake's create → extractor → loader → tracker, over the
in-memory broker and stores, between two in-memory accounts (no network, no processes).

Each test drives the real handlers (``Extractor.handle``, ``Loader.handle``, ``Tracker.handle``) the
way the worker loop does: poll a batch, handle it, commit. A "crash" drops what the worker sent but
did not flush, builds the worker anew and redelivers from its last commit. What the target must hold
is written out in the tests, not derived from the adapters.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from services.extractor.service import Extractor
from services.extractor.sources import SourcePool
from services.intake.migration_start import MigrationDraft, create_migration
from services.loader.service import Loader
from services.tracker.metrics import TrackerMetrics
from services.tracker.service import Tracker
from shared import migration_state as ms
from shared import redis_keys as k
from shared import topics
from shared.adapters import registry
from shared.adapters.memory.account import MemItem, MemoryAccount, MemoryServer
from shared.adapters.memory.system import memory_system
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.config import Settings
from shared.credential_seal import MasterKeys, generate_master_key, new_data_key, seal
from shared.credentials import UNDO_SEAL_SIDE, CredentialStore, seal_context
from shared.edges import Delivered
from shared.errors import Transient
from shared.events import ControlCommand, EndpointSpec, ExtractTask, FolderItem, MailChunk, MailItem, decode
from shared.memory.broker import MemoryBroker, MemoryConsumer, MemoryProducer
from shared.memory.records import MemoryRecords
from shared.metrics import ServiceMetrics
from shared.net_guard import AllowList

SRC, DST = "ann@old.test", "ann@new.test"
PAIR = "pair-ann"
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
INLINE = 2_000  # messages above this travel as chunks
CONTACT_A = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bea\r\nEND:VCARD\r\n"
CONTACT_B = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Carl\r\nEND:VCARD\r\n"
THEIR_AUTO_REPLY = '{"state": "enabled", "internal": "on holiday"}'
OWN_AUTO_REPLY = '{"state": "disabled", "internal": "mine"}'


def message(n: int, size: int = 0) -> bytes:
    head = f"From: a@old.test\r\nMessage-ID: <m{n}@old.test>\r\nSubject: message {n}\r\n\r\n".encode()
    return head + b"x" * max(10, size - len(head))


#: The source mailbox: folder → (message number, flags, size). Projekte/2026 exists only as a parent.
SOURCE = {
    "INBOX": [(1, ("\\Seen",), 0), (2, (), 0), (3, ("\\Flagged", "$Work"), 0)],
    "Projekte": [(4, (), 0)],
    "Projekte/2026/Q1": [(5, ("\\Seen",), 0), (6, (), 6_500), (7, ("\\Answered",), 0)],
    "Sent": [(8, ("\\Seen",), 0)],
    "Leer": [],
}
#: Where each source folder's messages must land on the target (its Sent folder is "Sent Items").
LANDS_IN = {"INBOX": "INBOX", "Projekte": "Projekte", "Projekte/2026/Q1": "Projekte/2026/Q1",
            "Sent": "Sent Items", "Leer": "Leer"}
OWN = message(99)  # the user's own message on the target: never touched


def when(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def fill_source(src: MemoryAccount) -> None:
    for folder, msgs in SOURCE.items():
        src.folder(folder, "\\Sent" if folder == "Sent" else None)
        for n, flags, size in msgs:
            src.add(folder, message(n, size), flags, when(n))
    src.add_item(MemItem("contact", CONTACT_A, "Bea"))
    src.add_item(MemItem("contact", CONTACT_B, "Carl"))
    src.settings["auto_reply"] = THEIR_AUTO_REPLY


def fill_target(dst: MemoryAccount) -> None:
    dst.folder("Sent Items", "\\Sent")
    dst.add("INBOX", OWN, ("\\Seen",), when(99))
    dst.settings["auto_reply"] = OWN_AUTO_REPLY


def mailbox(acc: MemoryAccount) -> dict[str, Counter[tuple[bytes, tuple[str, ...], datetime]]]:
    """Every folder's messages as (bytes, flags, date), read from the account's store directly."""
    return {name: Counter((m.data, m.flags, m.internaldate) for m in f.messages.values())
            for name, f in acc.folders.items()}


def expected_after_copy() -> dict[str, Counter[tuple[bytes, tuple[str, ...], datetime]]]:
    out: dict[str, Counter[tuple[bytes, tuple[str, ...], datetime]]] = {
        "INBOX": Counter({(OWN, ("\\Seen",), when(99)): 1}), "Sent Items": Counter(), "Projekte/2026": Counter()}
    for folder, msgs in SOURCE.items():
        out.setdefault(LANDS_IN[folder], Counter()).update((message(n, size), flags, when(n)) for n, flags, size in msgs)
    return out


def expected_before() -> dict[str, Counter[tuple[bytes, tuple[str, ...], datetime]]]:
    return {"INBOX": Counter({(OWN, ("\\Seen",), when(99)): 1}), "Sent Items": Counter()}


@dataclass
class Cores:
    """The services' cores over the memory broker and stores, driven like the worker loop drives them."""

    tmp: Path
    server: MemoryServer = field(default_factory=MemoryServer)
    broker: MemoryBroker = field(default_factory=MemoryBroker)
    records: MemoryRecords = field(default_factory=MemoryRecords)
    keys: MasterKeys = field(default_factory=lambda: MasterKeys.parse(generate_master_key()))
    crashes: Counter[str] = field(default_factory=Counter)
    loader: Loader = field(init=False)

    def __post_init__(self) -> None:
        self.src = self.server.account(SRC, "pw-old")
        self.dst = self.server.account(DST, "pw-new")
        self.creds = CredentialStore(self.records, self.keys)
        self.settings = Settings(spool_dir=self.tmp, inline_limit=INLINE, fetch_batch_bytes=5_000, task_size=2,
                                 extract_connections=2, load_connections=2)
        self.env = AdapterEnv(connect=ConnectOptions(allow=AllowList.parse("")))
        self.workers: dict[str, tuple[Callable[[Sequence[Delivered]], list[tuple[str, int, int]]],
                                      MemoryConsumer, MemoryProducer]] = {}
        for name in ("extractor", "loader", "tracker"):
            self.start_worker(name)

    def start_worker(self, name: str) -> None:
        """A worker process (anew after a crash): its own producer, its consumer group's member."""
        producer = self.broker.producer()
        metrics = ServiceMetrics(CollectorRegistry(), name)
        handler: Callable[[Sequence[Delivered]], list[tuple[str, int, int]]]
        if name == "extractor":
            handler = Extractor(self.settings, self.records, producer, SourcePool(self.creds, self.env), metrics).handle
            reads = [topics.MIGRATIONS_REQUESTED, topics.EXTRACT_TASKS]
        elif name == "loader":
            self.loader = Loader(self.settings, self.records, producer, self.creds, self.env, metrics)
            handler = self.loader.handle
            reads = [topics.ITEMS, topics.MIGRATIONS_CONTROL, topics.MIGRATIONS_REQUESTED]
        else:
            handler = Tracker(self.records, self.creds, producer, TrackerMetrics(CollectorRegistry(), metrics)).handle
            reads = [topics.PROGRESS]
        self.workers[name] = (handler, self.broker.consumer(name, reads), producer)

    def migrate(self, options: list[str], target_host: str = "memory.test") -> str:
        spec = EndpointSpec(type="imap", host="memory.test", port=993, security="tls", login="", password_sealed="")
        draft = MigrationDraft(source=spec.model_copy(update={"login": SRC}),
                               target=spec.model_copy(update={"login": DST, "host": target_host}),
                               passwords=("pw-old", "pw-new"), options=options, notify_email=None, pair_id=PAIR,
                               login=SRC)
        return create_migration(self.records, self.broker.producer(), self.keys, draft)

    def undo(self, mid: str) -> None:
        """What intake does for an undo: the target password sealed under a fresh data key, then the command."""
        data_key = new_data_key()
        self.records.keys[k.data_key(mid)] = self.keys.wrap(data_key, mid).encode()
        assert self.records.transition(mid, ms.UNDOING) is not None
        producer = self.broker.producer()
        producer.send(topics.MIGRATIONS_CONTROL, mid, ControlCommand(
            migration_id=mid, command="undo",
            target_password_sealed=seal(data_key, "pw-new", seal_context(mid, UNDO_SEAL_SIDE))))
        producer.flush()

    def step(self, name: str, batch_size: int = 50) -> bool:
        handler, consumer, producer = self.workers[name]
        batch = consumer.poll_batch(batch_size)
        if not batch:
            return False
        try:
            offsets = handler(batch)
        except Transient:  # the worker dies: what it did not flush is lost, its batch comes again
            self.crashes[name] += 1
            producer.drop_pending()
            self.start_worker(name)
            return True
        consumer.commit(offsets)
        return True

    def drain(self, only: Sequence[str] = ("extractor", "loader", "tracker")) -> None:
        for _ in range(500):
            if not any([self.step(name) for name in only]):
                return
        raise AssertionError("the services did not settle")

    def status(self, mid: str) -> dict[str, str]:
        return self.records.fields(mid)


@pytest.fixture
def cores(tmp_path: Path) -> Iterator[Cores]:
    made = Cores(tmp_path)
    fill_source(made.src)
    fill_target(made.dst)
    with registry.registered(memory_system(made.server, "imap")):  # the memory system stands in for IMAP
        yield made


def test_the_loader_logs_in_to_the_target_as_soon_as_a_migration_is_accepted(cores: Cores) -> None:
    """Before the extractor has planned anything, the loader has logged in; its batches then write through that
    session (one target login for the whole copy)."""
    mid = cores.migrate(["emails"], target_host="other.memory.test")
    assert cores.step("loader")  # only the accepted migration is there for it yet
    cores.loader._ahead.shutdown(wait=True)
    assert cores.dst.logins == 1
    cores.drain()
    assert cores.status(mid)["state"] == "completed"
    assert mailbox(cores.dst) == expected_after_copy()
    assert cores.dst.logins == 1


def test_no_login_ahead_to_the_server_the_extractor_is_logging_in_to(cores: Cores) -> None:
    """Source and target on one server: a busy server that refuses the extractor's login must not get the
    loader's at the same moment, before the back-off is known (tests/e2e/test_provider_back_off.py)."""
    cores.migrate(["emails"])
    assert cores.step("loader")
    cores.loader._ahead.shutdown(wait=True)
    assert cores.dst.logins == 0


def test_nested_folders_and_every_item_kind_arrive_exactly(cores: Cores) -> None:
    mid = cores.migrate(["emails", "contacts", "auto_reply"])
    cores.drain()
    st = cores.status(mid)
    assert st["state"] == "completed", st
    assert (st["done:email"], st["total:email"], st["done:folder"], st["total:folder"]) == ("8", "8", "6", "6")
    assert (st["done:contact"], st["done:auto_reply"]) == ("2", "1")
    assert mailbox(cores.dst) == expected_after_copy()
    assert sorted(i.payload for i in cores.dst.items.values()) == [CONTACT_A, CONTACT_B]
    assert cores.dst.settings["auto_reply"] == THEIR_AUTO_REPLY
    assert cores.records.keys.get(k.data_key(mid)) is None  # the credentials went at the end


def test_a_loader_crash_between_write_and_ledger_copies_nothing_twice(cores: Cores) -> None:
    cores.dst.lose_answers = 3  # the first three writes land, and the loader dies before it hears so
    mid = cores.migrate(["emails", "contacts"])
    cores.drain()
    assert cores.crashes["loader"] == 3
    st = cores.status(mid)
    assert st["state"] == "completed", st
    assert (st["done:email"], st["done:contact"], st.get("failed:email", "0")) == ("8", "2", "0")
    assert mailbox(cores.dst) == expected_after_copy()
    assert sorted(i.payload for i in cores.dst.items.values()) == [CONTACT_A, CONTACT_B]


def test_a_delta_pass_copies_nothing_and_says_so(cores: Cores) -> None:
    first = cores.migrate(["emails", "contacts"])
    cores.drain()
    assert cores.status(first)["state"] == "completed"
    again = cores.migrate(["emails", "contacts"])
    cores.drain()
    st = cores.status(again)
    assert st["state"] == "completed", st
    assert (st["skipped:email"], st.get("done:email", "0"), st["skipped:contact"]) == ("8", "0", "2")
    assert mailbox(cores.dst) == expected_after_copy()
    assert len(cores.dst.items) == 2
    reasons = {r["reason"] for r in cores.records.report(again)}
    assert reasons == {"already copied to the target by an earlier migration"}


def folder_records(broker: MemoryBroker) -> dict[str, list[str]]:
    """The folder names on the ``ledger`` topic, read as a rebuild reads them: key → the path it records."""
    out = {}
    for part in broker.topics.get(broker.name(topics.LEDGER), []):
        for m in part:
            key = (m.key() or b"").decode()
            if "|~folder~" in key:
                out[key] = json.loads(json.loads(m.value() or b"")[1])
    return out


def test_a_folder_named_like_the_targets_sent_folder_gets_its_own_and_keeps_it_in_a_delta_pass(cores: Cores) -> None:
    """The source's flagged Sent goes to the target's "Sent Items", where the user's own "Sent Items" would land
    too: it is given "Sent Items (2)" (the extractor asks the target once), on the record before any folder is
    made, and a delta pass puts its new mail there without asking the target again."""
    cores.src.folder("Sent Items")
    cores.src.add("Sent Items", message(20), (), when(20))
    first = cores.migrate(["emails"])
    cores.drain()
    assert cores.status(first)["state"] == "completed"
    expected = {**expected_after_copy(), "Sent Items (2)": Counter({(message(20), (), when(20)): 1})}
    assert mailbox(cores.dst) == expected
    assert cores.dst.logins == 2  # the loader's, and the extractor's to ask where names land
    paths = sorted(folder_records(cores.broker).values())
    assert paths == [["Leer"], ["Projekte"], ["Projekte", "2026"], ["Projekte", "2026", "Q1"], ["Sent Items (2)"]]
    notes = {(r["folder"], r["reason"]) for r in cores.records.report(first) if r["item_type"] == "folder"}
    assert notes == {("Sent Items", "named “Sent Items (2)” on the target: its own name meets another folder's there")}
    cores.src.add("Sent Items", message(21), (), when(21))
    again = cores.migrate(["emails"])
    cores.drain()
    assert cores.status(again)["state"] == "completed"
    expected["Sent Items (2)"][(message(21), (), when(21))] = 1
    assert mailbox(cores.dst) == expected
    assert cores.dst.logins == 3  # the loader's for the second migration only
    assert sorted(folder_records(cores.broker).values()) == paths


def test_undo_removes_exactly_what_was_copied_and_puts_the_setting_back(cores: Cores) -> None:
    mid = cores.migrate(["emails", "contacts", "auto_reply"])
    cores.drain()
    cores.dst.add("Projekte", message(77), (), when(77))  # the user files a message into a copied folder
    cores.undo(mid)
    cores.drain()
    st = cores.status(mid)
    assert st["state"] == "undone", st
    after = mailbox(cores.dst)
    assert after == {**expected_before(), "Projekte": Counter({(message(77), (), when(77)): 1})}
    assert cores.dst.items == {}
    assert cores.dst.settings["auto_reply"] == OWN_AUTO_REPLY
    # 8 messages and 2 contacts removed; of the 4 folders it created, the one the user filed into is kept
    assert (st["undo_removed_messages"], st["undo_removed_folders"], st["undo_restored_settings"]) == ("10", "3", "1")
    assert json.loads(st["undo_kept_reasons"]) == [
        "Projekte was kept: it holds 1 message that the migration did not put there"]
    assert st["undo_done"] == st["undo_total"] == "15"  # 8 messages, 2 contacts, 4 folders, the auto-reply


def test_cancel_finishes_the_running_operation_and_starts_no_other(cores: Cores) -> None:
    mid = cores.migrate(["emails", "contacts"])
    cores.drain(only=("extractor", "tracker"))  # planned and running, nothing loaded yet
    assert cores.records.transition(mid, ms.CANCELLING) == ms.RUNNING  # intake's cancel
    cores.drain()
    st = cores.status(mid)
    assert st["state"] == "cancelled", st
    assert "planned:contacts" not in st and "requested:contacts" not in st
    assert mailbox(cores.dst) == expected_after_copy()  # the running operation went to its end
    assert cores.dst.items == {}  # contacts never started


@pytest.fixture
def grouped(tmp_path: Path) -> Iterator[Cores]:
    """The cores with a source that reads small tasks together (as IMAP does) and room for the whole mailbox in
    one task: the mailbox is read at planning, on the session that listed it."""
    made = Cores(tmp_path)
    made.settings = made.settings.with_(task_size=100, fetch_batch_bytes=100_000)  # no message is "large"
    made.start_worker("extractor")
    fill_source(made.src)
    fill_target(made.dst)
    system = dataclasses.replace(memory_system(made.server, "imap"), grouped_reads=True)
    with registry.registered(system):
        yield made


def test_a_small_mailbox_is_read_at_planning_without_extract_tasks(grouped: Cores) -> None:
    mid = grouped.migrate(["emails"])
    assert grouped.step("extractor")  # the plan: listed and read in one go
    assert grouped.broker.events(topics.EXTRACT_TASKS) == []
    assert sum(isinstance(e, MailItem) for e in grouped.broker.events(topics.ITEMS)) == 7  # and one in chunks
    grouped.drain()
    st = grouped.status(mid)
    assert st["state"] == "completed", st
    assert (st["done:email"], st["total:email"]) == ("8", "8")
    assert mailbox(grouped.dst) == expected_after_copy()


def test_a_small_mailbox_whose_read_at_planning_fails_is_queued_and_copied_once(grouped: Cores) -> None:
    """The read at planning fails (a dropped connection): its tasks are published after all and run the usual
    way; every message lands once."""
    grouped.src.fail_at.add("fetch")
    mid = grouped.migrate(["emails"])
    assert grouped.step("extractor")
    assert len(grouped.broker.events(topics.EXTRACT_TASKS)) == 4  # one per folder with messages
    grouped.src.fail_at.clear()
    grouped.drain()
    st = grouped.status(mid)
    assert st["state"] == "completed", st
    assert (st["done:email"], st.get("failed:email", "0")) == ("8", "0")
    assert mailbox(grouped.dst) == expected_after_copy()


def mail_keys(broker: MemoryBroker) -> tuple[set[str], set[str]]:
    """The Kafka keys of the e-mail ``items`` records: (folder events', messages' and chunks')."""
    folders, mail = set(), set()
    for part in broker.topics.get(broker.name(topics.ITEMS), []):
        for m in part:
            ev = decode(m.value() or b"")
            if isinstance(ev, FolderItem):
                folders.add((m.key() or b"").decode())
            elif isinstance(ev, (MailItem, MailChunk)):
                mail.add((m.key() or b"").decode())
    return folders, mail


def test_a_small_mailbox_is_all_on_one_key_its_migration(grouped: Cores) -> None:
    """Read whole at planning, its folder events, messages and chunks share one key (so one partition, one loader
    replica), which keeps every folder's order too."""
    mid = grouped.migrate(["emails"])
    assert grouped.step("extractor")
    assert mail_keys(grouped.broker) == ({mid}, {mid})


def test_a_small_mailbox_queued_after_a_failed_read_keeps_its_key(grouped: Cores) -> None:
    """Its tasks, published after all, carry the key: a message whose first chunks went out before the read
    failed comes again on the same partition, in order (the loader's assembler restarts it at its first chunk)."""
    grouped.src.fail_at.add("fetch")
    mid = grouped.migrate(["emails"])
    assert grouped.step("extractor")
    tasks = grouped.broker.events(topics.EXTRACT_TASKS)
    assert tasks and all(isinstance(t, ExtractTask) and t.keyed_by_migration for t in tasks)
    grouped.src.fail_at.clear()
    grouped.drain()
    assert grouped.status(mid)["state"] == "completed"
    assert mail_keys(grouped.broker) == ({mid}, {mid})


def test_a_larger_mailbox_spreads_its_messages_by_folder(cores: Cores) -> None:
    """More than a task's worth: its messages are keyed per folder (over the partitions, so over the loaders); its
    folder events by the migration (sent before its size is known); every message still arrives once."""
    mid = cores.migrate(["emails"])
    cores.drain()
    assert cores.status(mid)["state"] == "completed"
    folders, mail = mail_keys(cores.broker)
    assert folders == {mid}
    assert len(mail) > 1 and all(key.startswith(f"{mid}/") for key in mail)
    assert mailbox(cores.dst) == expected_after_copy()
