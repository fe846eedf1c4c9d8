"""The extractor: plans a migration into tasks, and runs tasks into item events.

Consumes ``migrations.requested`` (plan) and ``extract.tasks`` (run). Planning
lists the folders, leaves out what the ledger says is already on the target
(delta pass) and publishes one task per folder slice, so every replica can take
a share of a large mailbox. Each message is committed only after its output is
flushed to Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from services.extractor.folder_naming import FolderNaming
from services.extractor.plan import changed_validity, plan_emails, validity_key
from services.extractor.read_together import runs_now, take_group
from services.extractor.sources import SourcePool
from services.extractor.task_chains import chained, next_in_chain
from shared import migration_state as ms
from shared import topics
from shared.adapters import registry
from shared.adapters.descriptor import Reading
from shared.adapters.pim_items import ITEM_TYPE, too_large
from shared.adapters.ports import Fetched, FetchLimits, GroupedSource, ItemListing, Source, WholeItem
from shared.config import Settings
from shared.dead_letters import send_undecodable
from shared.edges import Delivered, ProducerEdge
from shared.errors import (
    ConnectionCheckFailed,
    EventError,
    MailferryError,
    NotSupported,
    SecretUnavailable,
    ServerBusy,
    ServerUnreachable,
    Throttled,
    Transient,
)
from shared.events import (
    EndpointSpec,
    Event,
    ExtractTask,
    FolderItem,
    FolderRef,
    ItemResult,
    ItemResults,
    MailChunk,
    MailItem,
    MigrationFailed,
    MigrationRequested,
    MigrationValidating,
    OperationPlanned,
    OperationRequested,
    OperationSkipped,
    OperationStarted,
    decode,
)
from shared.flow_window import FlowWindow, held_back
from shared.folder_refs import folder_refs
from shared.host_leases import HostLeases, SessionRefused
from shared.item_keys import items_record_key
from shared.kafka_edge import next_offsets
from shared.ledger import LedgerEntry, ledger_record
from shared.mail_filters import OUTSIDE_WINDOW, in_window, wanted_folders
from shared.metrics import ServiceMetrics
from shared.migration_records import MigrationRecords, RedisRecords
from shared.session_target import SessionTarget

log = logging.getLogger(__name__)
SERVICE = "extractor"
OPERATION = ms.EMAILS
FLUSHED_MEMORY = 10_000
METRIC_EVERY = 50
TASKS_PER_SLOT = 12  # tasks taken per batch for each slot: small migrations run one session each, so a batch
# must hold several of them to keep the slots busy (a slow task still delays only its own batch)
START_SESSIONS = 4  # a migration's first session target; it grows while its throughput does
TARGETS_MEMORY = 10_000
HELD_BACK_PAUSE = 0.1
IDLE_SECONDS = 15.0  # an idle session holds a lease on its server's cap: give it back soon


@dataclass
class Round:
    """One round of a migration's tasks in a batch, for the session rule."""

    started: float
    used: int = 0  # the most sessions busy at once
    messages: int = 0
    tasks: int = 0

    def rate(self, now: float) -> float:
        return self.messages / max(1e-6, now - self.started)


class SlotUnavailable(Exception):
    """A further session to the source could not be opened (a per-user session limit, say)."""


def task_keys(task: ExtractTask) -> list[str]:
    """The item keys of a task, without a session (to report it failed)."""
    found = registry.SYSTEMS.get(task.source.type)
    return found.task_keys(task) if found else []


def runs_in_parallel(task: ExtractTask) -> bool:
    """Whether the source takes several sessions at once, so a migration's tasks can run side by side.
    (POP3 locks its mailbox per session and a PST reader is not thread-safe: those go one by one.)"""
    found = registry.SYSTEMS.get(task.source.type)
    return found is not None and found.parallel_reads


class Extractor:
    def __init__(self, settings: Settings, records: MigrationRecords, producer: ProducerEdge, pool: SourcePool,
                 metrics: ServiceMetrics, stopping: threading.Event | None = None,
                 flow: FlowWindow | None = None) -> None:
        self.settings = settings
        self.records = records
        self.producer = producer
        self.pool = pool
        self.metrics = metrics
        self.limits = FetchLimits(settings.inline_limit, settings.fetch_batch_bytes)
        self.workers = ThreadPoolExecutor(max_workers=max(1, settings.extract_connections),
                                          thread_name_prefix="extract")
        self.stopping = stopping or threading.Event()  # set on SIGTERM: start no further task
        self._flushed: dict[str, None] = {}  # task ids whose output is in Kafka (insertion-ordered, bounded)
        self.flow = flow  # how far each migration runs ahead of its loading, and which tasks already ran
        self._targets: dict[str, SessionTarget] = {}  # per migration, in this replica
        self.naming = FolderNaming(records, producer, pool)

    # -- edge: a batch of Kafka messages, committed after all their output is flushed
    def handle(self, batch: Sequence[Delivered]) -> list[tuple[str, int, int]]:
        """Plan requests in order; extract tasks side by side, one source session per slot.

        A task whose output was already flushed (a retry of a batch where another task
        failed, or a chain's task published twice) is not run again: its items are in Kafka.
        """
        tasks: list[ExtractTask] = []
        plans: dict[str, list[Event]] = {}  # per migration, its plan requests in order
        for msg in batch:
            try:
                event = decode(msg.value() or b"")
            except EventError as exc:
                send_undecodable(self.producer, self.metrics, msg, exc)
                continue
            if isinstance(event, (MigrationRequested, OperationRequested)):
                plans.setdefault(event.migration_id, []).append(event)
            elif isinstance(event, ExtractTask) and event.task_id not in self._flushed:
                tasks.append(event)
        self._plan_all(list(plans.values()))
        self._run_all(self._runnable(tasks))  # it ends with a flush: everything this batch sent is in Kafka
        return next_offsets(batch)

    def _plan_all(self, plans: list[list[Event]]) -> None:
        """Plan the batch's migrations side by side (a plan is a login and a listing: round trips), each
        migration's requests in order; a failed plan fails the batch once the others are done (a retry does
        not plan those again: their plan lock says done)."""
        if len(plans) <= 1:
            for events in plans:
                self._plan_in_order(events)
            return
        futures = [self.workers.submit(self._plan_in_order, events) for events in plans]
        errors = [exc for fut in futures if (exc := fut.exception()) is not None]
        if errors:
            raise errors[0]

    def _plan_in_order(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, MigrationRequested):
                first = registry.ordered(event.options)
                if first:
                    self.start_operation(event, first[0])
            elif isinstance(event, OperationRequested):
                spec = self.records.spec(event.migration_id)
                if spec is not None:
                    self.start_operation(spec, event.operation)

    def _runnable(self, tasks: list[ExtractTask]) -> list[ExtractTask]:
        """The tasks to run now: not those already run, and a migration too far ahead of its loading has its
        tasks sent to the end of the queue (sent with this batch's flush, before the commit)."""
        if self.flow is None or not tasks:
            return tasks
        by_mid: dict[str, list[str]] = {}
        for t in tasks:
            by_mid.setdefault(t.migration_id, []).append(t.task_id)
        done = {tid for mid, ids in by_mid.items() for tid in self.flow.done(mid, ids)}
        ahead = self.flow.ahead(by_mid)
        out: list[ExtractTask] = []
        for t in tasks:
            if t.task_id in done:
                continue
            if held_back(ahead.get(t.migration_id, 0), self.flow.window):
                self.producer.send(topics.EXTRACT_TASKS, t.task_id, t)
                continue
            out.append(t)
        if tasks and not out:
            self.stopping.wait(HELD_BACK_PAUSE)  # only held-back tasks: give the loaders a moment
        return out

    def _run_all(self, tasks: list[ExtractTask]) -> None:
        """Tasks from a queue on worker threads, each task on a session of its migration's own (slot 0, 1…):
        a migration runs at most its session target of tasks at once (:mod:`shared.session_target`), so
        a long task holds up one slot, not the batch; then one flush for all their output, and the next
        task of every finished task's chain."""
        queue = deque(sorted((t for t in tasks if runs_in_parallel(t)), key=lambda t: not t.large))
        one_by_one = [t for t in tasks if not runs_in_parallel(t)]
        finished: list[ExtractTask] = []
        errors: list[BaseException] = []
        throttled: set[str] = set()
        cond = threading.Condition()
        limit = {t.migration_id: self._target(t).sessions for t in queue}
        in_use: dict[str, set[int]] = {mid: set() for mid in limit}  # a session is never shared by two threads
        rounds = {mid: Round(time.monotonic()) for mid in limit}
        busy: dict[str, int] = dict.fromkeys(limit, 0)
        surplus: list[tuple[str, int]] = []  # sessions above a lowered target: closed after the batch

        def pick() -> tuple[ExtractTask, int] | None:
            for i, task in enumerate(queue):
                mid = task.migration_id
                slot = next((n for n in range(limit[mid]) if n not in in_use[mid]), None)
                if slot is not None:
                    del queue[i]
                    in_use[mid].add(slot)
                    busy[mid] += 1
                    rounds[mid].used = max(rounds[mid].used, busy[mid])
                    return task, slot
            return None

        def done(mid: str, slot: int, sent: int) -> None:
            """A task ended: its slot goes back; after as many tasks as the migration's target, one round of the
            session rule (:mod:`shared.session_target`) — more slots open at once, or fewer are given back."""
            busy[mid] -= 1
            in_use[mid].discard(slot)
            rd = rounds[mid]
            rd.messages += sent
            rd.tasks += 1
            if rd.tasks >= limit[mid]:
                now = time.monotonic()
                target = self._targets[mid].observe(rd.messages, now - rd.started, rd.used)
                if target != limit[mid]:
                    log.info("session target changed", extra={"migration_id": mid, "sessions": target,
                                                               "messages_per_second": round(rd.rate(now))})
                limit[mid] = target
                rounds[mid] = Round(now, used=busy[mid])
            if slot >= limit[mid]:
                surplus.append((mid, slot))

        def work() -> None:
            while True:
                with cond:
                    while True:
                        if not queue or errors or self.stopping.is_set():
                            return
                        picked = pick()
                        if picked is not None:
                            break
                        cond.wait(0.2)  # every queued task's migration is at its target: wait for a slot
                    task, slot = picked
                    group = [task, *take_group(queue, task, self.settings.task_size)]
                mid = task.migration_id
                try:
                    with self.metrics.stage("task"):
                        n = self.run_group(group, slot)
                    with cond:
                        finished.extend(group)
                        counts[mid] = counts.get(mid, 0) + n
                        done(mid, slot, n)
                        cond.notify_all()
                except SlotUnavailable as exc:
                    # The server (or the session cap) allows fewer sessions: the task goes back, and this
                    # migration runs on the sessions it has.
                    log.info("a further source session was refused; fewer tasks run side by side",
                             extra={"migration_id": mid, "slot": slot, "error": str(exc)[:200]})
                    with cond:
                        queue.extendleft(reversed(group))
                        busy[mid] -= 1
                        in_use[mid].discard(slot)
                        limit[mid] = max(1, slot)
                        cond.notify_all()
                except Exception as exc:
                    with cond:
                        in_use[mid].discard(slot)  # its session was dropped by run()
                        if isinstance(exc, (Throttled, ServerBusy)):
                            throttled.add(mid)
                        errors.append(exc)
                        cond.notify_all()

        counts: dict[str, int] = {}
        threads = min(len(queue), max(1, self.settings.extract_connections))
        futures = [self.workers.submit(work) for _ in range(threads)]
        for task in one_by_one:
            if self.stopping.is_set():
                break
            try:
                with self.metrics.stage("task"):
                    counts[task.migration_id] = counts.get(task.migration_id, 0) + self.run(task, 0)
                finished.append(task)
            except Exception as exc:
                errors.append(exc)
                break
        for fut in futures:
            fut.result()
        for mid in throttled:
            if mid in self._targets:
                self._targets[mid].throttled()
        for mid, slot in surplus:
            self.pool.drop(mid, slot)  # its lease goes back to the host's cap
        for task in finished:  # the chain goes on, to the end of the queue, in the same flush
            following = next_in_chain(task)
            if following is not None:
                self.producer.send(topics.EXTRACT_TASKS, following.task_id, following)
        self.producer.flush()  # what the finished tasks sent is in Kafka: a retry need not run them again
        for task in finished:
            self._flushed[task.task_id] = None
        if self.flow is not None:
            self.flow.mark_done([(t.migration_id, t.task_id) for t in finished])
            self.flow.extracted(counts)
        while len(self._flushed) > FLUSHED_MEMORY:
            self._flushed.pop(next(iter(self._flushed)))
        if errors:
            raise errors[0]
        if len(finished) < len(tasks):  # stopping (SIGTERM): what did not run is not committed
            raise Transient(f"stopping: {len(tasks) - len(finished)} extract tasks not run, they come again")

    def _target(self, task: ExtractTask) -> SessionTarget:
        return self._target_for(task.migration_id, task.source)

    def _target_for(self, mid: str, source: EndpointSpec) -> SessionTarget:
        """The migration's session target in this replica, capped by the host's and account's caps."""
        found = self._targets.get(mid)
        if found is None:
            caps = self.settings.session_caps
            host = registry.session_host(source)
            cap = min(self.settings.extract_connections, self.settings.migration_share,
                      *((caps.for_host(host), caps.account_default) if host else ()))
            found = self._targets[mid] = SessionTarget(cap=cap, sessions=min(cap, START_SESSIONS))
            while len(self._targets) > TARGETS_MEMORY:
                self._targets.pop(next(iter(self._targets)))
        return found

    def poison(self, batch: Sequence[Delivered], exc: Exception) -> None:
        """A task or request that keeps failing: its items are reported failed, the migration goes on."""
        for msg in batch:
            try:
                event = decode(msg.value() or b"")
            except EventError:
                continue
            reason = f"internal error while reading the source ({type(exc).__name__})"
            if isinstance(event, ExtractTask):
                self.pool.drop(event.migration_id)
                if event.task_id in self._flushed:
                    continue  # this one's output is in Kafka; another task of the batch failed
                self._progress(ItemResults(migration_id=event.migration_id, operation=OPERATION, results=[
                    ItemResult(item_key=k, result="failed", folder=event.folder.display, reason=reason)
                    for k in task_keys(event)]))
            elif isinstance(event, (MigrationRequested, OperationRequested)):
                operation = event.operation if isinstance(event, OperationRequested) else \
                    next(iter(registry.ordered(event.options)), "")
                if self.records.plan_lock(event.migration_id, operation) == "done":
                    continue  # planned fine; a task of the same batch failed
                self._fail(event.migration_id, MailferryError(reason))
            send_undecodable(self.producer, self.metrics, msg, EventError(f"poison message: {exc}"))
        self.producer.flush()

    def _progress(self, event: Event) -> None:
        self.producer.send(topics.PROGRESS, event.migration_id, event)

    def _fail(self, mid: str, exc: MailferryError) -> None:
        log.warning("migration failed", extra={"migration_id": mid, "error": str(exc), "kind": exc.code})
        self.metrics.error(exc.code)
        self._progress(MigrationFailed(migration_id=mid, code=exc.code, reason=str(exc)))

    # -- planning
    def start_operation(self, ev: MigrationRequested, operation: str) -> None:
        """Plan one operation, once, unless the migration is being cancelled."""
        mid = ev.migration_id
        if self.records.plan_lock(mid, operation) == "done":
            log.info("operation already planned", extra={"migration_id": mid, "operation": operation})
            return
        state = self.records.state(mid)
        if state in ms.FINAL or state == ms.UNDOING:
            return
        if state == ms.CANCELLING:
            self._progress(OperationSkipped(migration_id=mid, operation=operation))
            return
        self.records.set_plan_lock(mid, operation, "planning")
        if state == ms.QUEUED:
            self._progress(MigrationValidating(migration_id=mid))
        try:
            with self.metrics.stage("plan"), self.pool.hold(mid):
                now = self._plan(ev, operation)
        except Exception:
            self.pool.drop(mid)  # a broken session must not be reused by the retry
            raise
        sent = self._run_now(now)
        self.producer.flush()
        if sent and self.flow is not None:
            self.flow.extracted({mid: sent})
        self.records.set_plan_lock(mid, operation, "done")

    def _plan(self, ev: MigrationRequested, operation: str) -> list[ExtractTask]:
        if operation == OPERATION:
            return self.plan_emails(ev)
        self.plan_items(ev, operation)
        return []

    def _run_now(self, tasks: list[ExtractTask]) -> int:
        """A small mailbox's tasks (:func:`runs_now`), read at once on the session that listed it: they do not
        travel through the broker first. If the read fails they are published after all and take the usual way
        (any replica, retries, poison reports); a message read twice is still placed once (the loader's ledger).
        Returns the messages sent."""
        if not tasks:
            return 0
        try:
            with self.metrics.stage("task"):
                return self.run_group(tasks, 0)
        except Exception as exc:
            log.info("a small mailbox read at planning failed; its tasks are queued",
                     extra={"migration_id": tasks[0].migration_id, "error": str(exc)[:200]})
            for task in chained(tasks, self.settings.migration_share):
                self.producer.send(topics.EXTRACT_TASKS, task.task_id, task)
            return 0

    def plan_emails(self, ev: MigrationRequested) -> list[ExtractTask]:
        """List the source (folders first, so the loader creates them while the rest is planned), ask the
        ledger once, publish the plan (:func:`services.extractor.plan.plan_emails`). Returns the tasks to run
        now instead of publishing them (:func:`runs_now`)."""
        mid = ev.migration_id
        try:
            source = self.pool.get(mid, ev.source)  # first: a server with a session limit must grant this one
            self.pool.gate.wait(registry.session_host(ev.source))
            self._progress(OperationStarted(migration_id=mid, operation=OPERATION))
            refs = wanted_folders(folder_refs(source.list_folders(), source.prefix, source.marks_special_use),
                                  ev.filters)
            refs = self.naming.name(ev, refs)  # one target folder each, as an earlier pass of the pair named it
            source = self.pool.get(mid, ev.source)  # the same session, unless naming had to give it back
            for ref, _selectable in refs:  # first: the loader logs in and creates them while the rest is planned
                self.producer.send(topics.ITEMS, items_record_key(mid), FolderItem(migration_id=mid, folder=ref))
            self.producer.flush()  # sent now, not after the producer's linger: the loader starts 10 ms sooner
            listings = self._list_all(ev, source, [ref for ref, selectable in refs if selectable])
            known, look_first = self._ledger_view(ev, refs, listings)
            plan = plan_emails(mid, ev.source, refs, listings, known, self.settings.task_size, ev.filters,
                               look_first)
        except ServerBusy as exc:  # not the migration's end: every replica waits, then the plan is tried again
            self.pool.gate.throttled(registry.session_host(ev.source), exc.backoff_seconds)
            raise
        except (ConnectionCheckFailed, SecretUnavailable, NotSupported) as exc:
            self.pool.drop(mid)
            if dropped_for_now(exc):
                raise
            self._fail(mid, exc)
            return []
        for i in range(0, len(plan.skipped), 1000):
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=plan.skipped[i:i + 1000]))
        self._size_sessions(ev, plan.total, len(plan.tasks))
        now = runs_now(plan.tasks, self.settings.task_size)
        # Large tasks first: each then heads its partition, so the first poll of any extractor takes them;
        # a poll takes partitions one after another, so _run_all orders the tasks it got once more.
        for task in [] if now else chained(plan.tasks, self.settings.migration_share):
            self.producer.send(topics.EXTRACT_TASKS, task.task_id, task)
        self._progress(OperationPlanned(migration_id=mid, operation=OPERATION, total=plan.total,
                                        folders=len(refs), tasks=len(plan.tasks)))
        log.info("planned", extra={"migration_id": mid, "folders": len(refs), "messages": plan.total,
                                   "tasks": len(plan.tasks), "large": sum(t.large for t in plan.tasks),
                                   "already_copied": len(plan.skipped), "read_now": bool(now)})
        # Read now, its items go on one partition with its folder events, so one loader writes all of it.
        return [t.model_copy(update={"keyed_by_migration": True}) for t in plan.tasks] if now else []

    def _ledger_view(self, ev: MigrationRequested, refs: Sequence[tuple[FolderRef, bool]],
                     listings: Mapping[str, ItemListing]) -> tuple[set[str], set[str]]:
        """The listed keys the ledger has, and the folders whose UIDVALIDITY is not the one the pair first saw
        (:func:`services.extractor.plan.changed_validity`), in one lookup; a folder's first UIDVALIDITY goes on
        the record (the ``ledger`` topic, flushed, then Redis) before any of its messages is copied."""
        ledger = self.records.ledger(ev.pair_id)
        validity_keys = {validity_key(ref.folder_id): ref.folder_id for ref, _s in refs}
        found = ledger.lookup([key for li in listings.values() for key in li.keys] + list(validity_keys))
        recorded = {fid: found[key].uidvalidity for key, fid in validity_keys.items() if key in found}
        changed, new = changed_validity(listings, refs, recorded)
        if new:
            entries = {validity_key(fid): LedgerEntry(ev.migration_id, "", v, 0, 0) for fid, v in new.items()}
            for key, entry in entries.items():
                self.producer.send_raw(topics.LEDGER, ledger_record(ev.pair_id, key), entry.to_json().encode())
            self.producer.flush()
            ledger.record(entries)
        if changed:
            log.warning("folders whose UIDVALIDITY changed since an earlier pass: their messages are looked for "
                        "on the target first", extra={"migration_id": ev.migration_id, "folders": len(changed)})
        return set(found).difference(validity_keys), changed

    def _list_all(self, ev: MigrationRequested, source: Source, folders: list[FolderRef]) -> dict[str, ItemListing]:
        """Every folder's items, in one call. IMAP lists them on the first session with every command
        pipelined (one round trip for all folders). Listing on one session also means each folder's index
        exists before several sessions open it at once (Dovecot 2.3 can kill a session on a lock deadlock
        otherwise)."""
        return source.list_items(folders, larger_than=self.settings.fetch_batch_bytes)

    def _size_sessions(self, ev: MigrationRequested, messages: int, tasks: int) -> None:
        """Once the plan is known: a migration that fits in one task's size copies on the session it was
        listed on (in this replica; a further login costs more than it saves, and under a full host cap it
        takes a session from another migration); a larger one has its further sessions log in now, while
        its tasks travel through the broker — as many as it has tasks, up to its session target."""
        mid = ev.migration_id
        if not registry.system(ev.source.type).parallel_reads:
            return
        if messages <= self.settings.task_size:
            self._targets[mid] = SessionTarget(cap=1, sessions=1)
            while len(self._targets) > TARGETS_MEMORY:
                self._targets.pop(next(iter(self._targets)))
            return
        want = min(tasks, self._target_for(mid, ev.source).sessions)
        for slot in range(1, want):
            self.workers.submit(self._warm, ev, slot)

    def _warm(self, ev: MigrationRequested, slot: int) -> None:
        try:
            with self.pool.lease(ev.migration_id, ev.source, slot):
                pass
        except Exception as exc:  # the slot's first real use logs in again and reports what fails
            log.info("a further source session did not open yet", extra={"migration_id": ev.migration_id,
                                                                          "error": type(exc).__name__})

    def plan_items(self, ev: MigrationRequested, operation: str) -> None:
        """Contacts, groups, calendars, tasks, rules, auto-reply: few and small, read them all now, no tasks."""
        mid = ev.migration_id
        found = registry.SYSTEMS.get(ev.source.type)
        reading = found.readers.get(operation) if found else None
        if reading is None:
            self._fail(mid, NotSupported(f"the {operation} operation is not available for this source"))
            return
        self._progress(OperationStarted(migration_id=mid, operation=operation))
        try:
            items = self._read(mid, ev, operation, reading)
        except ServerBusy as exc:
            self.pool.gate.throttled(registry.session_host(ev.source), exc.backoff_seconds)
            raise
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
            if dropped_for_now(exc):
                raise
            if reading.unavailable_item:  # the account's other protocol is down: this operation ends, not all
                self._progress(OperationPlanned(migration_id=mid, operation=operation, total=1, folders=0, tasks=0))
                self._progress(ItemResults(migration_id=mid, operation=operation, results=[ItemResult(
                    item_key=reading.unavailable_item, item_type=ITEM_TYPE[operation], result="failed",  # type: ignore[arg-type]
                    reason=str(exc))]))
                return
            self._fail(mid, exc)
            return
        except MailferryError as exc:
            if reading.unavailable_item:
                raise
            self._fail(mid, exc)
            return
        self._publish_all(mid, operation, items)

    def _read(self, mid: str, ev: MigrationRequested, operation: str, reading: Reading) -> list[WholeItem]:
        reader = self.pool.reader(mid, ev.source, reading)
        try:
            return list(reader.read(operation, mid))
        finally:
            self.pool.close_reader(reader)

    def _publish_all(self, mid: str, operation: str, items: Sequence[Event | ItemResult]) -> None:
        """An operation read whole at plan time (few, small items): its items, then its plan; an item too large
        for one record is reported failed instead (:func:`too_large`)."""
        refused = []
        for item in items:
            if isinstance(item, ItemResult):  # an item the reader found but could not read
                refused.append(item)
                continue
            failed = too_large(item)
            if failed is None:
                self.producer.send(topics.ITEMS, f"{mid}/{operation}", item)
            else:
                refused.append(failed)
        self.metrics.item(ITEM_TYPE[operation], "extracted", len(items) - len(refused))
        self._progress(OperationPlanned(migration_id=mid, operation=operation, total=len(items), folders=0,
                                        tasks=0))
        if refused:
            self._progress(ItemResults(migration_id=mid, operation=operation, results=refused))
        log.info("planned", extra={"migration_id": mid, "operation": operation, "items": len(items)})

    # -- running a task
    def _outside(self, task: ExtractTask, event: MailItem | MailChunk, outside: set[str]) -> bool:
        """A message received outside the task's date window: reported skipped once, none of it sent."""
        meta = event.meta
        key = meta.item_key if meta is not None else getattr(event, "item_key", "")
        if meta is None:
            return key in outside
        if in_window(meta.internaldate, task):
            return False
        outside.add(key)
        self._progress(ItemResults(migration_id=task.migration_id, operation=OPERATION, results=[
            ItemResult(item_key=key, result="skipped", folder=task.folder.display, subject=meta.subject,
                       bytes=0, reason=OUTSIDE_WINDOW)]))
        return True

    def run(self, task: ExtractTask, slot: int = 0) -> int:
        """Run one task on the migration's ``slot``-th session; returns the messages it sent."""
        return self.run_group([task], slot)

    def run_group(self, tasks: Sequence[ExtractTask], slot: int = 0) -> int:
        """Run tasks of one migration on its ``slot``-th session, in one pass where the source reads them
        together (:class:`GroupedSource`); returns the messages they sent."""
        first = tasks[0]
        mid = first.migration_id
        host = registry.session_host(first.source)
        self.pool.gate.wait(host)  # a host that throttled is left alone by every replica for a while
        opened = False
        sent = 0
        try:
            with self.pool.lease(mid, first.source, slot) as source:
                opened = True
                count = nbytes = 0  # counted in the metric a few dozen at a time: it costs more than a send
                outside: set[str] = set()  # large messages whose first chunk was outside the date window
                for task, event in self._events(source, tasks):
                    windowed = task.received_before is not None or task.received_since is not None
                    if windowed and isinstance(event, (MailItem, MailChunk)) and self._outside(task, event, outside):
                        continue
                    if isinstance(event, (MailItem, MailChunk)):
                        if task.look_first and event.meta is not None:
                            event = event.model_copy(update={"meta": event.meta.model_copy(
                                update={"look_first": True})})
                        self.producer.send(topics.ITEMS, items_record_key(
                            mid, None if task.keyed_by_migration else task.folder.folder_id), event)
                        whole = isinstance(event, MailItem) or event.last
                        count += whole
                        sent += whole
                        nbytes += len(event.data)
                        if count >= METRIC_EVERY:
                            self.metrics.item("email", "extracted", count, nbytes)
                            count = nbytes = 0
                    else:
                        self._progress(event)
                self.metrics.item("email", "extracted", count, nbytes)
        except SessionRefused as exc:
            if slot > 0:
                raise SlotUnavailable(str(exc)) from None  # the cap is full: run on the sessions held
            raise Transient(str(exc)) from None
        except (Throttled, ServerBusy) as exc:
            if slot > 0 and not opened:  # a further session refused (a per-user limit): run on those held
                raise SlotUnavailable(str(exc)) from None
            self.pool.gate.throttled(host, exc.backoff_seconds)
            self.pool.drop(mid, slot)
            raise
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
            if slot > 0 and not opened and isinstance(exc, ConnectionCheckFailed):
                raise SlotUnavailable(str(exc)) from None  # a further session refused: not the migration's end
            if dropped_for_now(exc):
                self.pool.drop(mid, slot)
                raise
            self.pool.drop(mid)
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=[
                ItemResult(item_key=key, result="failed", folder=task.folder.display, reason=str(exc))
                for task in tasks for key in task_keys(task)]))
            self._fail(mid, exc)
        except Exception:
            # A dropped connection and the like: reconnect on the retry of this task.
            self.pool.drop(mid, slot)
            raise
        return sent

    def _events(self, source: Source, tasks: Sequence[ExtractTask]) -> Iterator[tuple[ExtractTask, Fetched]]:
        # Small tasks together; a small one alone too (its short messages come with their metadata).
        small = len(tasks) > 1 or (not tasks[0].large and len(tasks[0].uids) < self.settings.task_size)
        if small and isinstance(source, GroupedSource):
            yield from source.fetch_group(tasks, self.limits)
            return
        for task in tasks:
            for event in source.fetch(task, self.limits):
                yield task, event


def dropped_for_now(exc: Exception) -> bool:
    """A server that could not be reached or dropped the connection while logging in again mid-run (its logins
    were checked when the migration was accepted): retried with the batch's back-off for as long as it lasts,
    as any network trouble, never the migration's end (the stall watch ends one that never gets through)."""
    return isinstance(exc, ServerUnreachable)


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service extractor``."""
    from services.runtime import ServiceContext, run_service
    from shared.worker_loop import Handler, PoisonHandler

    def make(ctx: ServiceContext) -> tuple[Handler, PoisonHandler]:
        leases = HostLeases(ctx.redis, settings.session_caps)
        pool = SourcePool(ctx.credentials, ctx.adapters, idle_seconds=IDLE_SECONDS, leases=leases)
        extractor = Extractor(settings, RedisRecords(ctx.redis), ctx.producer, pool, ctx.metrics, stop,
                              flow=FlowWindow(ctx.redis, settings.migration_window))
        return extractor.handle, extractor.poison

    run_service(SERVICE, settings, stop, [topics.MIGRATIONS_REQUESTED, topics.EXTRACT_TASKS], make,
                batch_size=TASKS_PER_SLOT * max(1, settings.extract_connections))
