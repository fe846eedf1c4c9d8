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
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from services.extractor.plan import plan_emails
from services.extractor.sources import SourcePool
from shared import migration_state as ms
from shared import topics
from shared.adapters import registry
from shared.adapters.descriptor import Reading
from shared.adapters.pim_items import ITEM_TYPE
from shared.adapters.ports import FetchLimits, ItemListing, Source, WholeItem
from shared.config import Settings
from shared.dead_letters import send_undecodable
from shared.edges import Delivered, ProducerEdge
from shared.errors import (
    ConnectionCheckFailed,
    EventError,
    MailferryError,
    NotSupported,
    SecretUnavailable,
    Transient,
)
from shared.events import (
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
from shared.folder_refs import folder_refs
from shared.kafka_edge import next_offsets
from shared.mail_filters import OUTSIDE_WINDOW, in_window, wanted_folders
from shared.metrics import ServiceMetrics
from shared.migration_records import MigrationRecords, RedisRecords

log = logging.getLogger(__name__)
SERVICE = "extractor"
OPERATION = ms.EMAILS
FLUSHED_MEMORY = 10_000
METRIC_EVERY = 50
TASKS_PER_SLOT = 4  # tasks taken per batch for each slot: a slow task then delays little else


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
                 metrics: ServiceMetrics, stopping: threading.Event | None = None) -> None:
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

    # -- edge: a batch of Kafka messages, committed after all their output is flushed
    def handle(self, batch: Sequence[Delivered]) -> list[tuple[str, int, int]]:
        """Plan requests in order; extract tasks side by side, one source session per slot.

        A task whose output was already flushed (a retry of a batch where another task
        failed) is not run again: its items are in Kafka.
        """
        tasks: list[ExtractTask] = []
        for msg in batch:
            try:
                event = decode(msg.value() or b"")
            except EventError as exc:
                send_undecodable(self.producer, self.metrics, msg, exc)
                continue
            if isinstance(event, MigrationRequested):
                first = registry.ordered(event.options)
                if first:
                    self.start_operation(event, first[0])
            elif isinstance(event, OperationRequested):
                spec = self.records.spec(event.migration_id)
                if spec is not None:
                    self.start_operation(spec, event.operation)
            elif isinstance(event, ExtractTask) and event.task_id not in self._flushed:
                tasks.append(event)
        self._run_all(tasks)  # it ends with a flush: everything this batch sent is in Kafka
        return next_offsets(batch)

    def _run_all(self, tasks: list[ExtractTask]) -> None:
        """Tasks from a queue, one worker thread per slot (each with its own source sessions), so a
        long task holds up one slot, not the batch; then one flush for all their output."""
        queue = deque(sorted((t for t in tasks if runs_in_parallel(t)), key=lambda t: not t.large))
        one_by_one = [t for t in tasks if not runs_in_parallel(t)]
        finished: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(slot: int) -> None:
            while True:
                with lock:
                    if not queue or errors or self.stopping.is_set():
                        return
                    task = queue.popleft()
                try:
                    with self.metrics.stage("task"):
                        self.run(task, slot)
                    with lock:
                        finished.append(task.task_id)
                except SlotUnavailable as exc:
                    # The server allows fewer sessions than slots: the task goes back, this slot stops.
                    log.info("a further source session was refused; fewer tasks run side by side",
                             extra={"migration_id": task.migration_id, "slot": slot, "error": str(exc)[:200]})
                    with lock:
                        queue.appendleft(task)
                    return
                except Exception as exc:
                    with lock:
                        errors.append(exc)

        slots = min(len(queue), max(1, self.settings.extract_connections))
        futures = [self.workers.submit(work, slot) for slot in range(slots)]
        for task in one_by_one:
            if self.stopping.is_set():
                break
            try:
                with self.metrics.stage("task"):
                    self.run(task, 0)
                finished.append(task.task_id)
            except Exception as exc:
                errors.append(exc)
                break
        for fut in futures:
            fut.result()
        if queue and not errors and not self.stopping.is_set():
            work(0)  # handed back by slots the server refused, after slot 0 had already run dry
        self.producer.flush()  # what the finished tasks sent is in Kafka: a retry need not run them again
        for task_id in finished:
            self._flushed[task_id] = None
        while len(self._flushed) > FLUSHED_MEMORY:
            self._flushed.pop(next(iter(self._flushed)))
        if errors:
            raise errors[0]
        if len(finished) < len(tasks):  # stopping (SIGTERM): what did not run is not committed
            raise Transient(f"stopping: {len(tasks) - len(finished)} extract tasks not run, they come again")

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
            with self.metrics.stage("plan"):
                self._plan(ev, operation)
        except Exception:
            self.pool.drop(mid)  # a broken session must not be reused by the retry
            raise
        self.producer.flush()
        self.records.set_plan_lock(mid, operation, "done")

    def _plan(self, ev: MigrationRequested, operation: str) -> None:
        if operation == OPERATION:
            self.plan_emails(ev)
        else:
            self.plan_items(ev, operation)

    def plan_emails(self, ev: MigrationRequested) -> None:
        """List the source (folders first, so the loader creates them while the rest is planned), ask the
        ledger once, publish the plan (:func:`services.extractor.plan.plan_emails`)."""
        mid = ev.migration_id
        try:
            source = self.pool.get(mid, ev.source)  # first: a server with a session limit must grant this one
            self._progress(OperationStarted(migration_id=mid, operation=OPERATION))
            refs = wanted_folders(folder_refs(source.list_folders(), source.prefix, source.marks_special_use),
                                  ev.filters)
            for ref, _selectable in refs:  # first: the loader logs in and creates them while the rest is planned
                self.producer.send(topics.ITEMS, f"{mid}/{ref.folder_id}", FolderItem(migration_id=mid, folder=ref))
            listings = self._list_all(ev, source, [ref for ref, selectable in refs if selectable])
            known = set(self.records.ledger(ev.pair_id).lookup([key for li in listings.values() for key in li.keys]))
            plan = plan_emails(mid, ev.source, refs, listings, known, self.settings.task_size, ev.filters)
        except (ConnectionCheckFailed, SecretUnavailable, NotSupported) as exc:
            self.pool.drop(mid)
            self._fail(mid, exc)
            return
        for i in range(0, len(plan.skipped), 1000):
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=plan.skipped[i:i + 1000]))
        # Large tasks first: each then heads its partition, so the first poll of any extractor takes them;
        # a poll takes partitions one after another, so _run_all orders the tasks it got once more.
        for task in plan.tasks:
            self.producer.send(topics.EXTRACT_TASKS, task.task_id, task)
        self._progress(OperationPlanned(migration_id=mid, operation=OPERATION, total=plan.total,
                                        folders=len(refs), tasks=len(plan.tasks)))
        log.info("planned", extra={"migration_id": mid, "folders": len(refs), "messages": plan.total,
                                   "tasks": len(plan.tasks), "large": sum(t.large for t in plan.tasks),
                                   "already_copied": len(plan.skipped)})

    def _list_all(self, ev: MigrationRequested, source: Source, folders: list[FolderRef]) -> dict[str, ItemListing]:
        """Every folder's items, in one call. IMAP lists them on the first session with every command
        pipelined (one round trip for all folders), while the sessions the tasks will want log in
        beside it. Listing on one session also means each folder's index exists before several
        sessions open it at once (Dovecot 2.3 can kill a session on a lock deadlock otherwise)."""
        if registry.system(ev.source.type).parallel_reads:
            for slot in range(1, min(len(folders), max(1, self.settings.extract_connections))):
                self.workers.submit(self._warm, ev, slot)
        return source.list_items(folders, larger_than=self.settings.fetch_batch_bytes)

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
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
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
            reader.close()

    def _publish_all(self, mid: str, operation: str, items: Sequence[Event]) -> None:
        """An operation read whole at plan time (few, small items): its items, then its plan."""
        for item in items:
            self.producer.send(topics.ITEMS, f"{mid}/{operation}", item)
        self.metrics.item(ITEM_TYPE[operation], "extracted", len(items))
        self._progress(OperationPlanned(migration_id=mid, operation=operation, total=len(items), folders=0,
                                        tasks=0))
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

    def run(self, task: ExtractTask, slot: int = 0) -> None:
        mid = task.migration_id
        opened = False
        windowed = task.received_before is not None or task.received_since is not None
        try:
            with self.pool.lease(mid, task.source, slot) as source:
                opened = True
                count = nbytes = 0  # counted in the metric a few dozen at a time: it costs more than a send
                outside: set[str] = set()  # large messages whose first chunk was outside the date window
                for event in source.fetch(task, self.limits):
                    if windowed and isinstance(event, (MailItem, MailChunk)) and self._outside(task, event, outside):
                        continue
                    if isinstance(event, (MailItem, MailChunk)):
                        self.producer.send(topics.ITEMS, f"{mid}/{task.folder.folder_id}", event)
                        count += isinstance(event, MailItem) or event.last
                        nbytes += len(event.data)
                        if count >= METRIC_EVERY:
                            self.metrics.item("email", "extracted", count, nbytes)
                            count = nbytes = 0
                    else:
                        self._progress(event)
                self.metrics.item("email", "extracted", count, nbytes)
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
            if slot > 0 and not opened and isinstance(exc, ConnectionCheckFailed):
                raise SlotUnavailable(str(exc)) from None  # a further session refused: not the migration's end
            self.pool.drop(mid)
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=[
                ItemResult(item_key=key, result="failed", folder=task.folder.display, reason=str(exc))
                for key in task_keys(task)]))
            self._fail(mid, exc)
        except Exception:
            # A dropped connection and the like: reconnect on the retry of this task.
            self.pool.drop(mid, slot)
            raise


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service extractor``."""
    from services.runtime import ServiceContext, run_service
    from shared.worker_loop import Handler, PoisonHandler

    def make(ctx: ServiceContext) -> tuple[Handler, PoisonHandler]:
        extractor = Extractor(settings, RedisRecords(ctx.redis), ctx.producer,
                              SourcePool(ctx.credentials, ctx.adapters), ctx.metrics, stop)
        return extractor.handle, extractor.poison

    run_service(SERVICE, settings, stop, [topics.MIGRATIONS_REQUESTED, topics.EXTRACT_TASKS], make,
                batch_size=TASKS_PER_SLOT * max(1, settings.extract_connections))
