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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import redis
from confluent_kafka import Message

from services.extractor.plan import folder_refs, split
from services.extractor.sources import Source, SourcePool
from shared import migration_state as ms
from shared import option_rules, topics
from shared import redis_keys as k
from shared.adapters.ews import item_source as ews_pim
from shared.adapters.ews.mail_source import EwsSource, ews_item_key
from shared.adapters.fetch_whole import as_chunks
from shared.adapters.imap.fetch_task import Limits, run_task
from shared.adapters.imap.source import ImapSource
from shared.adapters.pim_items import ITEM_TYPE
from shared.adapters.pop3.maildrop import pop3_item_key
from shared.adapters.pop3.source import Pop3Mailbox
from shared.adapters.pst.items import read_pst
from shared.adapters.pst.source import PstSource, pst_item_key
from shared.adapters.sieve.client import connect_sieve, sieve_port, sieve_security
from shared.config import Settings
from shared.dead_letters import send_undecodable
from shared.errors import ConnectionCheckFailed, EventError, MailferryError, SecretUnavailable, Transient
from shared.events import (
    Event,
    ExtractTask,
    FolderItem,
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
    SieveScriptItem,
    decode,
    decode_as,
)
from shared.item_keys import item_key
from shared.kafka_edge import EventProducer, next_offsets
from shared.ledger import Ledger
from shared.metrics import ServiceMetrics
from shared.status_store import StatusStore

log = logging.getLogger(__name__)
SERVICE = "extractor"
OPERATION = ms.EMAILS
PLAN_LOCK_SECONDS = 14 * 24 * 3600
# Sources that take several sessions at once, so a migration's tasks can run side by side.
PARALLEL_SOURCES = ("imap", "ews")
FLUSHED_MEMORY = 10_000
METRIC_EVERY = 50
TASKS_PER_SLOT = 4  # tasks taken per batch for each slot: a slow task then delays little else


class SlotUnavailable(Exception):
    """A further session to the source could not be opened (a per-user session limit, say)."""


def task_ref_key(task: ExtractTask, ref: str) -> str:
    """The item key of one item a task names by reference (sources without UIDs)."""
    if task.source.type == "pop3":
        return pop3_item_key(ref)
    if task.source.type == "pst":
        return pst_item_key(task.folder.folder_id, ref)
    return ews_item_key(task.folder.folder_id, ref)


class Extractor:
    def __init__(self, settings: Settings, r: redis.Redis, producer: EventProducer, pool: SourcePool,
                 metrics: ServiceMetrics, stopping: threading.Event | None = None) -> None:
        self.settings = settings
        self.r = r
        self.status = StatusStore(r)
        self.producer = producer
        self.pool = pool
        self.metrics = metrics
        self.limits = Limits(settings.inline_limit, settings.fetch_batch_bytes)
        self.workers = ThreadPoolExecutor(max_workers=max(1, settings.extract_connections),
                                          thread_name_prefix="extract")
        self.stopping = stopping or threading.Event()  # set on SIGTERM: start no further task
        self._flushed: dict[str, None] = {}  # task ids whose output is in Kafka (insertion-ordered, bounded)

    # -- edge: a batch of Kafka messages, committed after all their output is flushed
    def handle(self, batch: list[Message]) -> list[tuple[str, int, int]]:
        """Plan requests in order; extract tasks side by side, one source session per slot.

        A task whose output was already flushed (a retry of a batch where another task
        failed) is not run again: its items are in Kafka.
        """
        tasks: list[ExtractTask] = []
        for msg in batch:
            try:
                event = decode(msg.value())
            except EventError as exc:
                send_undecodable(self.producer, self.metrics, msg, exc)
                continue
            if isinstance(event, MigrationRequested):
                first = option_rules.ordered(event.options)
                if first:
                    self.start_operation(event, first[0])
            elif isinstance(event, OperationRequested):
                raw = self.r.get(k.spec(event.migration_id))
                if raw is not None:
                    self.start_operation(decode_as(raw, MigrationRequested), event.operation)
            elif isinstance(event, ExtractTask) and event.task_id not in self._flushed:
                tasks.append(event)
        self._run_all(tasks)  # it ends with a flush: everything this batch sent is in Kafka
        return next_offsets(batch)

    def _run_all(self, tasks: list[ExtractTask]) -> None:
        """Tasks from a queue, one worker thread per slot (each with its own source sessions), so a
        long task holds up one slot, not the batch; then one flush for all their output."""
        # POP3 locks its mailbox per session and a PST reader is not thread-safe: those go one by one.
        queue = deque(sorted((t for t in tasks if t.source.type in PARALLEL_SOURCES), key=lambda t: not t.large))
        one_by_one = [t for t in tasks if t.source.type not in PARALLEL_SOURCES]
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

    def poison(self, batch: list[Message], exc: Exception) -> None:
        """A task or request that keeps failing: its items are reported failed, the migration goes on."""
        for msg in batch:
            try:
                event = decode(msg.value())
            except EventError:
                continue
            reason = f"internal error while reading the source ({type(exc).__name__})"
            if isinstance(event, ExtractTask):
                self.pool.drop(event.migration_id)
                if event.task_id in self._flushed:
                    continue  # this one's output is in Kafka; another task of the batch failed
                keys = [item_key(event.folder.folder_id, event.uidvalidity, u) for u in event.uids]
                keys += [task_ref_key(event, r) for r in event.refs]
                self._progress(ItemResults(migration_id=event.migration_id, operation=OPERATION, results=[
                    ItemResult(item_key=k, result="failed", folder=event.folder.display, reason=reason)
                    for k in keys]))
            elif isinstance(event, (MigrationRequested, OperationRequested)):
                operation = event.operation if isinstance(event, OperationRequested) else \
                    next(iter(option_rules.ordered(event.options)), "")
                if self.r.get(k.plan_lock(event.migration_id, operation)) == b"done":
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
        lock = k.plan_lock(mid, operation)
        if self.r.get(lock) == b"done":
            log.info("operation already planned", extra={"migration_id": mid, "operation": operation})
            return
        state = self.status.fields(mid).get("state", "")
        if state in ms.FINAL or state == ms.UNDOING:
            return
        if state == ms.CANCELLING:
            self._progress(OperationSkipped(migration_id=mid, operation=operation))
            return
        self.r.set(lock, "planning", ex=PLAN_LOCK_SECONDS)
        if state == ms.QUEUED:
            self._progress(MigrationValidating(migration_id=mid))
        try:
            with self.metrics.stage("plan"):
                self._plan(ev, operation)
        except Exception:
            self.pool.drop(mid)  # a broken session must not be reused by the retry
            raise
        self.producer.flush()
        self.r.set(lock, "done", ex=PLAN_LOCK_SECONDS)

    def _plan(self, ev: MigrationRequested, operation: str) -> None:
        mid = ev.migration_id
        if operation == OPERATION:
            self.plan_emails(ev)
        elif operation == "rules" and ev.source.type == "imap":
            self.plan_rules(ev)
        elif ev.source.type in ("ews", "pst"):
            self.plan_pim(ev, operation)
        else:
            self._fail(mid, MailferryError(f"the {operation} operation is not available for this source"))

    def plan_emails(self, ev: MigrationRequested) -> None:
        mid = ev.migration_id
        try:
            source = self.pool.get(mid, ev.source)  # first: a server with a session limit must grant this one
            self._progress(OperationStarted(migration_id=mid, operation=OPERATION))
            listed = source.list_folders()
            refs = folder_refs(listed, source.prefix, source.marks_special_use)
            ledger = Ledger(self.r, ev.pair_id)
            tasks: list[ExtractTask] = []
            skipped: list[ItemResult] = []
            total = 0
            for ref, _selectable in refs:  # first: the loader logs in and creates them while the rest is planned
                self.producer.send(topics.ITEMS, f"{mid}/{ref.folder_id}", FolderItem(migration_id=mid, folder=ref))
            listing = self._list_all(ev, source, [ref.source_name for ref, selectable in refs if selectable])
            for ref, selectable in refs:
                if not selectable:
                    continue
                uidvalidity, uids, refs_, large = listing[ref.source_name]
                keys = ([item_key(ref.folder_id, uidvalidity, u) for u in uids] if uids
                        else [source.key(ref.folder_id, r) for r in refs_])  # type: ignore[union-attr]
                total += len(keys)
                known = ledger.known_keys(keys)
                skipped += [ItemResult(item_key=key, result="skipped", folder=ref.display,
                                       subject=f"UID {u}" if uids else "item " + key.rsplit(":", 1)[-1][:8],
                                       reason="already copied to the target by an earlier migration")
                            for key, u in zip(keys, uids or refs_, strict=True) if key in known]
                new_uids = [u for key, u in zip(keys, uids, strict=False) if key not in known]
                new_refs = [r for key, r in zip(keys, refs_, strict=False) if key not in known]
                size = self.settings.task_size
                big = set(large).intersection(new_uids)
                for uid in sorted(big):  # alone, and published and run first: they must not end the run
                    tasks.append(ExtractTask(
                        migration_id=mid, task_id=f"{mid}:{ref.folder_id}:{uidvalidity}:large:{uid}",
                        source=ev.source, folder=ref, uidvalidity=uidvalidity, uids=[uid], large=True))
                for n, part in enumerate(split([u for u in new_uids if u not in big], size)):
                    tasks.append(ExtractTask(
                        migration_id=mid, task_id=f"{mid}:{ref.folder_id}:{uidvalidity}:{n}", source=ev.source,
                        folder=ref, uidvalidity=uidvalidity, uids=part))
                for n in range(0, len(new_refs), size):
                    tasks.append(ExtractTask(
                        migration_id=mid, task_id=f"{mid}:{ref.folder_id}:refs:{n // size}", source=ev.source,
                        folder=ref, uidvalidity=0, uids=[], refs=new_refs[n:n + size]))
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
            self.pool.drop(mid)
            self._fail(mid, exc)
            return
        for i in range(0, len(skipped), 1000):
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=skipped[i:i + 1000]))
        # Large tasks first: each then heads its partition, so the first poll of any extractor takes them;
        # a poll takes partitions one after another, so _run_all orders the tasks it got once more.
        for task in sorted(tasks, key=lambda t: not t.large):
            self.producer.send(topics.EXTRACT_TASKS, task.task_id, task)
        self._progress(OperationPlanned(migration_id=mid, operation=OPERATION, total=total,
                                        folders=len(refs), tasks=len(tasks)))
        log.info("planned", extra={"migration_id": mid, "folders": len(refs), "messages": total,
                                   "tasks": len(tasks), "large": sum(t.large for t in tasks),
                                   "already_copied": len(skipped)})

    def _list_all(self, ev: MigrationRequested, source: Source, names: list[str]
                  ) -> dict[str, tuple[int, list[int], list[str], list[int]]]:
        """Every folder's items. IMAP lists them on the first session with every command
        pipelined (one round trip for all folders), while the sessions the tasks will want log in
        beside it. Listing on one session also means each folder's index exists before several
        sessions open it at once (Dovecot 2.3 can kill a session on a lock deadlock otherwise)."""
        if not isinstance(source, ImapSource):
            return {name: self._list_items(source, name) for name in names}
        for slot in range(1, min(len(names), max(1, self.settings.extract_connections))):
            self.workers.submit(self._warm, ev, slot)
        listed = source.select_many(names, larger_than=self.settings.fetch_batch_bytes)
        return {name: (validity, uids, [], large) for name, (validity, uids, large) in zip(names, listed, strict=True)}

    def _warm(self, ev: MigrationRequested, slot: int) -> None:
        try:
            with self.pool.lease(ev.migration_id, ev.source, slot):
                pass
        except Exception as exc:  # the slot's first real use logs in again and reports what fails
            log.info("a further source session did not open yet", extra={"migration_id": ev.migration_id,
                                                                          "error": type(exc).__name__})

    @staticmethod
    def _list_items(source: EwsSource | Pop3Mailbox | PstSource, name: str
                    ) -> tuple[int, list[int], list[str], list[int]]:
        """(0, [], item ids, []) for sources without UIDs."""
        return 0, [], source.item_ids(name), []

    def plan_pim(self, ev: MigrationRequested, operation: str) -> None:
        """Contacts, groups, calendars, tasks, rules, auto-reply from Exchange: read them all now."""
        mid = ev.migration_id
        self._progress(OperationStarted(migration_id=mid, operation=operation))
        try:
            source = self.pool.get(mid, ev.source)
            if isinstance(source, EwsSource):
                items = list(ews_pim.read(source.account, operation, mid))
            elif isinstance(source, PstSource):
                items = list(read_pst(source.reader, operation, mid))
            else:
                raise MailferryError(f"{operation} can only be read from Exchange or a PST file")
        except (ConnectionCheckFailed, SecretUnavailable, MailferryError) as exc:
            self.pool.drop(mid)
            self._fail(mid, exc)
            return
        self._publish_all(mid, operation, items)

    def _publish_all(self, mid: str, operation: str, items: Sequence[Event]) -> None:
        """An operation read whole at plan time (few, small items): its items, then its plan."""
        for item in items:
            self.producer.send(topics.ITEMS, f"{mid}/{operation}", item)
        self.metrics.item(ITEM_TYPE[operation], "extracted", len(items))
        self._progress(OperationPlanned(migration_id=mid, operation=operation, total=len(items), folders=0,
                                        tasks=0))
        log.info("planned", extra={"migration_id": mid, "operation": operation, "items": len(items)})

    def plan_rules(self, ev: MigrationRequested) -> None:
        """Sieve scripts are few and small: read them all now, no tasks needed."""
        mid = ev.migration_id
        self._progress(OperationStarted(migration_id=mid, operation="rules"))
        try:
            spec = ev.source
            password = self.pool.creds.password(mid, spec, "source")
            sieve = connect_sieve(spec.host, sieve_port(spec.sieve_port), sieve_security(spec.security),
                                  spec.tls_verify, spec.login, password, self.pool.opts)
            try:
                scripts = sieve.list_scripts()
                items = [SieveScriptItem(migration_id=mid, item_key=f"sieve:{name}", name=name,
                                         script=sieve.get_script(name), active=active)
                         for name, active in scripts.items()]
            finally:
                sieve.logout()
        except (ConnectionCheckFailed, SecretUnavailable) as exc:
            self._progress(OperationPlanned(migration_id=mid, operation="rules", total=1, folders=0, tasks=0))
            self._progress(ItemResults(migration_id=mid, operation="rules", results=[ItemResult(
                item_key="sieve:unavailable", item_type="rule", result="failed", reason=str(exc))]))
            return
        self._publish_all(mid, "rules", items)

    # -- running a task
    def run(self, task: ExtractTask, slot: int = 0) -> None:
        mid = task.migration_id
        opened = False
        try:
            with self.pool.lease(mid, task.source, slot) as source:
                opened = True
                if isinstance(source, ImapSource):
                    events: Iterator[Event] = run_task(task, source, self.limits)
                else:
                    events = self._run_by_refs(task, source)
                count = nbytes = 0  # counted in the metric a few dozen at a time: it costs more than a send
                for event in events:
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
            keys = [item_key(task.folder.folder_id, task.uidvalidity, u) for u in task.uids]
            if task.refs:
                keys += [task_ref_key(task, r) for r in task.refs]
            self._progress(ItemResults(migration_id=mid, operation=OPERATION, results=[
                ItemResult(item_key=key, result="failed", folder=task.folder.display, reason=str(exc))
                for key in keys]))
            self._fail(mid, exc)
        except Exception:
            # A dropped connection and the like: reconnect on the retry of this task.
            self.pool.drop(mid, slot)
            raise

    def _run_by_refs(self, task: ExtractTask, source: EwsSource | Pop3Mailbox | PstSource) -> Iterator[Event]:
        """Items fetched whole (EWS, POP3 and PST give a message in one piece), chunked when large."""
        seen: set[str] = set()
        for item in source.fetch(task):
            if isinstance(item, ItemResults):  # a PST item that could not be read: reported, not sent
                seen.update(r.item_key for r in item.results)
                yield item
                continue
            seen.add(item.meta.item_key)
            yield from as_chunks(item, self.limits.inline_limit)
        gone = [source.key(task.folder.folder_id, r) for r in task.refs]
        gone = [k for k in gone if k not in seen]
        if gone:
            yield ItemResults(migration_id=task.migration_id, operation=OPERATION, results=[
                ItemResult(item_key=k, result="skipped", folder=task.folder.display,
                           reason="deleted from the source while the migration ran") for k in gone])


def serve(settings: Settings, stop: threading.Event) -> None:
    """Entry for ``mailferry service extractor``."""
    from services.runtime import ServiceContext, run_service
    from shared.worker_loop import Handler, PoisonHandler

    def make(ctx: ServiceContext) -> tuple[Handler, PoisonHandler]:
        extractor = Extractor(settings, ctx.redis, ctx.producer, SourcePool(ctx.credentials, ctx.connect_options,
                                                                               spool=settings.spool),
                              ctx.metrics, stop)
        return extractor.handle, extractor.poison

    run_service(SERVICE, settings, stop, [topics.MIGRATIONS_REQUESTED, topics.EXTRACT_TASKS], make,
                batch_size=TASKS_PER_SLOT * max(1, settings.extract_connections))
