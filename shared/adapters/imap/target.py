"""IMAP target adapter: folders, APPEND / MULTIAPPEND with flags and dates, search.

Every write returns where the thing landed (folder, UIDVALIDITY, UID) from the
server's UIDPLUS answer, which becomes the undo record. Without UIDPLUS the UID
is found by searching, so undo still knows exactly what to remove.

With LITERAL+ a session pipelines every (MULTI)APPEND it is given, so one round trip carries its
share of a batch; without it each APPEND waits for the server. Either way the batch's groups can be
dealt over several sessions ("lanes") writing side by side: as many as the loader asks for in
``WriteContext.lanes`` (chosen from what the server sustained), at most ``AdapterEnv.write_sessions``.
One session costs a Dovecot on tmpfs the least CPU (several contend for the account's index locks),
but a server that spends its time on its disk takes mail in faster through several.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import replace

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.exceptions import IMAPClientError

from shared import folder_map
from shared.adapters.imap import flags as imap_flags
from shared.adapters.imap.errors import translated
from shared.adapters.imap.listing import folders_and_prefix
from shared.adapters.mail_batches import deal, undeal, write_mail
from shared.adapters.ports import Announce, Outgoing, Placed, PlacementSink, WriteContext
from shared.adapters.records import MailRecord
from shared.errors import FoldersRefused, ItemRejected, Throttled, Transient
from shared.host_leases import SessionRefused
from shared.uid_sets import expand_uid_set

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)
# Messages below this size are copied into the command buffer; larger ones are sent from their own buffer.
SMALL_LITERAL = 256 * 1024
# Flags a client may not set on APPEND.
_NOT_SETTABLE = {"\\recent"}
# A lane the session caps refused is asked for again only after this long (each try costs a Redis round trip).
LANE_RETRY_SECONDS = 5.0


def parse_appenduid(response: bytes | str) -> tuple[int, list[int]] | None:
    raw = response.encode() if isinstance(response, str) else response
    m = _APPENDUID.search(raw)
    if not m:
        return None
    return int(m.group(1)), expand_uid_set(m.group(2).decode())


def create_arguments(folder: bytes, use: str | None) -> tuple[bytes, ...]:
    """CREATE's arguments: the (quoted) name, and ``(USE (\\Archive))`` when it is created for a use."""
    return (folder, b"(USE (" + use.encode("ascii") + b"))") if use else (folder,)


def append_limit(caps: Collection[str]) -> int | None:
    """The ``APPENDLIMIT=n`` a server announces (RFC 7889), None without one (or without a number: the limit
    differs by folder)."""
    for cap in caps:
        name, _eq, value = cap.partition("=")
        if name.upper() == "APPENDLIMIT" and value.isdigit():
            return int(value)
    return None


def settable_flags(flags: Sequence[str]) -> tuple[str, ...]:
    return tuple(f for f in flags if f.lower() not in _NOT_SETTABLE)


class ImapTarget:
    """Writes to one account (the :class:`~shared.adapters.ports.MailTarget`). Not thread-safe: one per thread.

    ``reopen`` logs in another session to the same account, for the lanes; ``lanes`` is how many
    sessions may write side by side (this one included) and ``pool`` the threads they run on."""

    def __init__(self, client: IMAPClient, reopen: Callable[[], ImapTarget] | None = None, lanes: int = 1,
                 pool: Executor | None = None) -> None:
        self.client = client
        self._reopen = reopen
        self._lanes = lanes
        self._pool = pool
        self._extra: list[ImapTarget] = []  # further sessions, opened when first needed
        self._opening: list[Future[ImapTarget | None]] = []  # lanes logging in (see :meth:`warm`)
        self._refused_at = -LANE_RETRY_SECONDS  # when the session caps last refused a further lane
        self._asked: int | None = None  # sessions the loader allows the batch being written
        self._lanes_used = 0
        self._sent = 0
        self.on_close: Callable[[], None] | None = None  # gives a lane's lease back
        client.normalise_times = False
        # NAMESPACE and LIST pipelined: a new session costs one round trip here, not two (make load opens a
        # target session per small migration, each waiting for a lease on a full host).
        listed, prefix = folders_and_prefix(client)
        self.prefix = prefix or ""
        caps = {c.decode().upper() if isinstance(c, bytes) else str(c).upper() for c in client.capabilities()}
        self.delimiter = next((f.delimiter for f in listed if f.delimiter), "/")
        self.specials = folder_map.target_special_names(listed, self.prefix, "SPECIAL-USE" in caps)
        # RFC 6154: a folder created for a special folder the target lacks can carry that use.
        self.create_special_use = "CREATE-SPECIAL-USE" in caps
        self._create_uses: dict[str, str] = {}
        self.existing = {f.name for f in listed}
        self.multiappend = "MULTIAPPEND" in caps
        self.uidplus = "UIDPLUS" in caps
        self.literal_plus = "LITERAL+" in caps
        # RFC 7889: the largest message the server takes. A larger one is refused here, never sent (a server
        # may end the connection on a literal above its limit, losing the batch's other messages with it).
        self.append_limit = append_limit(caps)
        self._permanent: dict[str, frozenset[str] | None] = {}  # folder → its PERMANENTFLAGS, read once
        self._keyword_too_long: int | None = None  # the shortest keyword length the target refused

    # -- the Target port ---------------------------------------------------------------------
    def write(self, records: Sequence[MailRecord], ctx: WriteContext, sink: PlacementSink) -> None:
        if ctx.lanes is not None:
            self._asked = ctx.lanes.wanted  # kept: the next batch's folders warm this many lanes
        self._lanes_used, self._sent = 0, 0
        try:
            write_mail(self, records, ctx, sink)
        finally:
            if ctx.lanes is not None:
                ctx.lanes.used, ctx.lanes.messages = self._lanes_used, self._sent

    @property
    def _want(self) -> int:
        """Sessions a batch may use: the loader's last choice, else (none made) one with LITERAL+ and all lanes
        without it."""
        asked = self._asked if self._asked is not None else 1 if self.literal_plus else self._lanes
        return max(1, min(self._lanes, asked))

    def append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """Every job pipelined on this session, or dealt over the lanes (each pipelines its share as far as
        it can). Results in job order. A lane that fails fails the call, after every lane has finished:
        nothing is still being written when the batch is retried. A message above the APPENDLIMIT is refused
        without being sent."""
        if self.append_limit is None or all(len(m.data) <= self.append_limit for _f, msgs in jobs for m in msgs):
            return self._append_jobs(jobs)
        limit = self.append_limit
        sent = [(folder, [m for m in msgs if len(m.data) <= limit]) for folder, msgs in jobs]
        written = iter(self._append_jobs([job for job in sent if job[1]]))
        out: list[list[Placed | ItemRejected]] = []
        for (_folder, msgs), (_f, fitting) in zip(jobs, sent, strict=True):
            done = iter(next(written) if fitting else [])
            out.append([next(done) if len(m.data) <= limit else ItemRejected(
                f"not sent: larger than the target's APPENDLIMIT of {limit} bytes") for m in msgs])
        return out

    def _append_jobs(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        self._learn_permanent([folder for folder, msgs in jobs if any(m.flags for m in msgs)])
        lanes = self._sessions(len(jobs))
        self._lanes_used = max(self._lanes_used, len(lanes))
        self._sent += sum(len(msgs) for _f, msgs in jobs)
        if len(lanes) == 1:
            return self.append_pipelined(jobs)
        assert self._pool is not None
        futures = [self._pool.submit(lane.append_pipelined, share)
                   for lane, share in zip(lanes, deal(jobs, len(lanes)), strict=False) if share]
        wait(futures)
        for f in futures:
            if (exc := f.exception()) is not None:
                raise exc
        return undeal([f.result() for f in futures], len(jobs))

    def _sessions(self, jobs: int) -> list[ImapTarget]:
        """This session and as many further lanes as the batch may use (``_want``) and has jobs for. Lanes
        log in side by side when first needed; one the session caps refuse is not opened (and not asked
        for again for a while); lanes above a lowered number are closed, giving their leases back."""
        if self._pool is None or self._reopen is None:
            return [self]
        self._opened()
        while len(self._extra) > self._want - 1:
            self._extra.pop().close()
        want = min(self._want, jobs)
        if want <= 1:
            return [self]
        if want - 1 > len(self._extra):
            self.warm(want)
            self._opened()
        return [self, *self._extra[:want - 1]]

    def warm(self, sessions: int | None = None) -> None:
        """Start logging in further lanes (up to ``sessions`` in all, by default as many as the last batch
        could use) on the pool, without waiting, so the next batch finds them open: called when folders are
        created, a lane logs in while that round trip is under way."""
        if self._pool is None or self._reopen is None or self._opening \
                or time.monotonic() - self._refused_at < LANE_RETRY_SECONDS:
            return
        reopen = self._reopen

        def opened() -> ImapTarget | None:
            try:
                lane = reopen()
            except SessionRefused:
                return None
            lane._permanent = self._permanent  # a folder's PERMANENTFLAGS are read once for all lanes
            return lane

        missing = min(sessions or self._want, self._lanes) - 1 - len(self._extra)
        self._opening = [self._pool.submit(opened) for _ in range(max(0, missing))]

    def _opened(self) -> None:
        """The lanes being logged in, waited for; one the session caps refused is not asked for again soon.
        A login that failed otherwise fails the batch (it is retried)."""
        opening, self._opening = self._opening, []
        wait(opening)
        for f in opening:
            if f.exception() is None and f.result() is not None:
                self._extra.append(f.result())  # type: ignore[arg-type]
        if any(f.exception() is None and f.result() is None for f in opening):
            self._refused_at = time.monotonic()
        for f in opening:
            if (exc := f.exception()) is not None:
                raise exc

    def folder_name(self, path: Sequence[str]) -> str:
        name = folder_map.target_name(path, self.specials, self.delimiter, self.prefix)
        use = folder_map.created_use(path, self.specials)
        if use and self.create_special_use:
            self._create_uses[name] = use
        return name

    def folder_key(self, path: Sequence[str]) -> str:
        """IMAP names are case-sensitive but for INBOX (:func:`shared.folder_map.compared_name`)."""
        return folder_map.compared_name(folder_map.target_name(path, self.specials, self.delimiter, self.prefix),
                                        self.delimiter)

    def ensure_folder(self, name: str, announce: Announce | None = None) -> list[str]:
        """Create the folder and any missing parents; returns the names actually created."""
        return self.ensure_folders([name], announce)

    @translated("CREATE")
    def ensure_folders(self, names: Sequence[str], announce: Announce | None = None) -> list[str]:
        """Create the folders and their missing parents, with every CREATE and SUBSCRIBE pipelined:
        a distant server costs one round trip, not two per folder. Returns the names created. The further
        lanes start logging in meanwhile (:meth:`warm`). ``announce`` hears the names missing from the
        session's LIST before any CREATE is sent."""
        self.warm()
        wanted: list[str] = []
        for name in names:
            for each in [*folder_map.ancestors(name, self.delimiter), name]:
                if each not in self.existing and each.upper() != "INBOX" and each not in wanted:
                    wanted.append(each)
        if wanted and announce is not None:
            announce(list(wanted))
        imap = self.client._imap
        tags = []
        for name in wanted:  # parents come before their children, and the server runs commands in order
            folder = self.client._normalise_folder(name)
            tags.append((name, imap._command("CREATE", *create_arguments(folder, self._create_uses.get(name))),
                         imap._command("SUBSCRIBE", folder)))
        created: list[str] = []
        refused: dict[str, str] = {}
        for name, create_tag, subscribe_tag in tags:  # every answer is read, so the session stays in step
            try:
                typ, data = imap._command_complete("CREATE", create_tag)
                if typ != "OK" and b"[USEATTR]" in b" ".join(d for d in data if isinstance(d, bytes)).upper():
                    # The server cannot give this folder that use (RFC 6154): a plain folder, then.
                    typ, data = imap._simple_command("CREATE", self.client._normalise_folder(name))
            except imaplib.IMAP4.abort as exc:
                raise Transient(f"connection lost during CREATE: {exc}") from None
            except imaplib.IMAP4.error as exc:  # BAD: a name this server cannot take
                typ, data = "BAD", [str(exc).encode()]
            with contextlib.suppress(imaplib.IMAP4.error):  # subscription is a nicety; some servers do not keep it
                imap._command_complete("SUBSCRIBE", subscribe_tag)
            if typ == "OK":
                created.append(name)
            elif b"ALREADYEXISTS" not in b" ".join(d for d in data if isinstance(d, bytes)).upper() \
                    and (typ == "BAD" or not self.client.folder_exists(name)):
                answer = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
                refused[name] = f"the target refused to create folder {name!r}: {answer[:200]}"
                continue
            self.existing.add(name)
        if refused:  # a name this server cannot take costs its own folder, never the others of the batch
            raise FoldersRefused(created, refused)
        return created

    def uidvalidity(self, folder: str) -> int:
        return int(self.client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def _storable(self, folder: str, msgs: Sequence[Outgoing]) -> list[tuple[Outgoing, tuple[str, ...]]]:
        """Each message with only the flags this folder can store, and the ones left out (see
        :mod:`shared.adapters.imap.flags`). The folder's PERMANENTFLAGS are read once, when flags first go there."""
        if folder not in self._permanent and any(m.flags for m in msgs):
            self._permanent[folder] = self._permanent_flags(folder)
        out = []
        for m in msgs:
            kept, left = imap_flags.storable(settable_flags(m.flags), self._permanent.get(folder),
                                             self._keyword_too_long)
            out.append((replace(m, flags=kept), left))
        return out

    def _learn_permanent(self, folders: Sequence[str]) -> None:
        """The PERMANENTFLAGS of the batch's folders not known yet, with their SELECTs pipelined and one
        UNSELECT after them: one round trip for the batch, not two per folder (a small mailbox of 12 folders
        spent half a second here at 20 ms). Read once for this session and its lanes."""
        todo = [f for f in dict.fromkeys(folders) if f not in self._permanent]
        if len(todo) < 2 or not self.client.has_capability("UNSELECT"):
            for folder in todo:
                self._permanent[folder] = self._permanent_flags(folder)
            return
        imap = self.client._imap
        try:
            imap.untagged_responses = {}
            tags = [(folder, imap._command("SELECT", self.client._normalise_folder(folder))) for folder in todo]
            imap.state = "SELECTED"  # as imaplib's select() sets it once a SELECT answered; UNSELECT needs it
            unselect = imap._command("UNSELECT")
            for folder, tag in tags:
                try:
                    typ, _data = imap._command_complete("SELECT", tag)
                except imaplib.IMAP4.abort:
                    raise
                except imaplib.IMAP4.error:  # BAD: unknown, the APPEND's answer will tell
                    typ = "BAD"
                lines = imap.untagged_responses.pop("OK", [])
                imap.untagged_responses = {}
                self._permanent[folder] = imap_flags.permanent_flags(_permanent_in(lines)) if typ == "OK" else None
            with contextlib.suppress(imaplib.IMAP4.error):  # BAD when the last SELECT failed: nothing selected
                imap._command_complete("UNSELECT", unselect)
        except imaplib.IMAP4.abort as exc:
            raise Transient(f"connection lost during SELECT: {exc}") from None
        except OSError as exc:
            raise Transient(f"SELECT failed on the connection: {_short(exc)}") from None
        finally:
            imap.state = "AUTH"
            imap.untagged_responses = {}

    def _permanent_flags(self, folder: str) -> frozenset[str] | None:
        """SELECT (not EXAMINE: a read-only folder lists no permanent flag); None when unknown. UNSELECT
        afterwards, so the session does not gather the folder's news while messages go in."""
        try:
            info = self.client.select_folder(folder)
            if self.client.has_capability("UNSELECT"):
                self.client.unselect_folder()
        except imaplib.IMAP4.abort as exc:
            raise Transient(f"connection lost during SELECT: {exc}") from None
        except (IMAPClientError, imaplib.IMAP4.error):
            return None  # the APPEND's answer will tell
        return imap_flags.permanent_flags(info.get(b"PERMANENTFLAGS"))

    def append(self, folder: str, msg: Outgoing) -> Placed:
        [(msg, left)] = self._storable(folder, [msg])
        try:
            return replace(self._append_once(folder, msg), not_kept=left)
        except ItemRejected as exc:
            return self._without_refused_keywords(folder, msg, left, str(exc))

    def _append_once(self, folder: str, msg: Outgoing) -> Placed:
        try:
            resp = self.client.append(folder, msg.data, flags=msg.flags, msg_time=msg.internaldate)
        except imaplib.IMAP4.abort as exc:
            raise Transient(f"connection lost during APPEND: {exc}") from None
        except (IMAPClientError, imaplib.IMAP4.error) as exc:
            _not_now(str(exc))
            raise ItemRejected(f"the target refused the message: {_short(exc)}") from None
        return self._placed(folder, resp, [msg])[0]

    def _without_refused_keywords(self, folder: str, msg: Outgoing, left: tuple[str, ...], refusal: str) -> Placed:
        """After the target refused ``msg``: when its answer speaks of keywords, the message goes again with
        fewer of them, at most :data:`~shared.adapters.imap.flags.KEYWORD_RETRIES` times, the last with none."""
        for attempt in range(imap_flags.KEYWORD_RETRIES):
            fewer = imap_flags.fewer_keywords(msg.flags, refusal, last=attempt == imap_flags.KEYWORD_RETRIES - 1) \
                if imap_flags.about_keywords(refusal) else None
            if fewer is None:
                break
            if fewer.refused_length is not None:  # keywords this long will not be sent again
                self._keyword_too_long = min(self._keyword_too_long or fewer.refused_length, fewer.refused_length)
            msg, left = replace(msg, flags=fewer.flags), (*left, *fewer.left)
            try:
                return replace(self._append_once(folder, msg), not_kept=left)
            except ItemRejected as exc:
                refusal = str(exc)
        raise ItemRejected(refusal)

    def append_many(self, folder: str, msgs: Sequence[Outgoing]) -> list[Placed | ItemRejected]:
        """MULTIAPPEND (RFC 3502) when offered: one round trip for the group.

        MULTIAPPEND is all or nothing, so when the server refuses the group the
        messages go one by one, to find out which one it refuses.
        """
        if len(msgs) > 1 and self.multiappend:
            prepared = self._storable(folder, msgs)
            try:
                placed = self._multiappend(folder, [m for m, _left in prepared])
                return [replace(p, not_kept=left) for p, (_m, left) in zip(placed, prepared, strict=True)]
            except ItemRejected:
                pass
        return self._one_by_one(folder, msgs)

    def _one_by_one(self, folder: str, msgs: Sequence[Outgoing]) -> list[Placed | ItemRejected]:
        out: list[Placed | ItemRejected] = []
        for m in msgs:
            try:
                out.append(self.append(folder, m))
            except ItemRejected as exc:
                out.append(exc)
        return out

    @translated("APPEND")
    def append_pipelined(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """Several (MULTI)APPEND commands in flight on this one session, answers read afterwards.

        With LITERAL+ (RFC 7888) nothing waits for the server between commands, so a
        distant server costs one round trip for all of ``jobs``, not one per command.
        A refused command is retried one message at a time, with synchronizing
        literals, to find out which message the server refuses.
        """
        if not self.literal_plus or (not self.multiappend and any(len(m) > 1 for _f, m in jobs)):
            return [self.append_many(folder, msgs) for folder, msgs in jobs]
        prepared = [self._storable(folder, msgs) for folder, msgs in jobs]  # before anything is in flight
        imap = self.client._imap
        try:
            tags = [self._send_append(imap, folder, [m for m, _left in ready])
                    for (folder, _msgs), ready in zip(jobs, prepared, strict=True)]
            answers = [imap._command_complete("APPEND", tag) for tag in tags]
        except imaplib.IMAP4.abort as exc:
            raise Transient(f"connection lost during APPEND: {exc}") from None
        except (imaplib.IMAP4.error, OSError) as exc:
            raise Transient(f"APPEND failed on the connection: {_short(exc)}") from None
        for typ, data in answers:  # "not now" for one command: the whole batch again, after a back-off
            if str(typ).upper() != "OK":
                _not_now(b" ".join(d if isinstance(d, bytes) else str(d).encode() for d in (data or [])
                                   if d is not None).decode("utf-8", "replace"))
        out: list[list[Placed | ItemRejected]] = []
        for (folder, msgs), ready, (typ, data) in zip(jobs, prepared, answers, strict=True):
            text = b" ".join(d if isinstance(d, bytes) else str(d).encode() for d in (data or []) if d is not None)
            if str(typ).upper() == "OK":
                placed = self._placed(folder, text, [m for m, _left in ready])
                out.append([replace(p, not_kept=left) for p, (_m, left) in zip(placed, ready, strict=True)])
            elif len(msgs) == 1:
                [(msg, left)] = ready
                refusal = f"the target refused the message: {text.decode('utf-8', 'replace')[:300]}"
                try:
                    out.append([self._without_refused_keywords(folder, msg, left, refusal)])
                except ItemRejected as exc:
                    out.append([exc])
            else:
                out.append(self._one_by_one(folder, msgs))
        return out

    def _send_append(self, imap: imaplib.IMAP4, folder: str, msgs: Sequence[Outgoing]) -> bytes:
        """Write one APPEND command with non-synchronizing literals; the message bytes go out
        as they are (no line-ending rewrite), small ones gathered into few writes. Returns its tag."""
        tag: bytes = imap._new_tag()
        parts: list[bytes | memoryview] = [tag, b" APPEND ", self.client._normalise_folder(folder)]
        pending = 0
        for m in msgs:
            flags = b" ".join(f.encode("utf-8") for f in m.flags)
            date = datetime_to_INTERNALDATE(m.internaldate).encode("ascii")
            parts.append(b" (" + flags + b') "' + date + b'" {' + str(len(m.data)).encode("ascii") + b"+}\r\n")
            if len(m.data) >= SMALL_LITERAL:
                imap.send(b"".join(parts))
                imap.send(memoryview(m.data))
                parts, pending = [], 0
                continue
            parts.append(m.data)
            pending += len(m.data)
            if pending >= SMALL_LITERAL:
                imap.send(b"".join(parts))
                parts, pending = [], 0
        parts.append(b"\r\n")
        imap.send(b"".join(parts))
        return tag

    def _multiappend(self, folder: str, msgs: Sequence[Outgoing]) -> list[Placed]:
        try:
            resp = self.client.multiappend(folder, [
                {"msg": m.data, "flags": m.flags, "date": m.internaldate} for m in msgs])
        except imaplib.IMAP4.abort as exc:
            raise Transient(f"connection lost during MULTIAPPEND: {exc}") from None
        except (IMAPClientError, imaplib.IMAP4.error) as exc:
            _not_now(str(exc))
            raise ItemRejected(f"the target refused a message: {_short(exc)}") from None
        # imapclient hands back imaplib's raw (type, data) here, and does not check for NO.
        typ, data = resp if isinstance(resp, tuple) else ("OK", [resp])
        text = b" ".join(d if isinstance(d, bytes) else str(d).encode() for d in (data or []) if d is not None)
        if str(typ).upper() != "OK":
            _not_now(text.decode("utf-8", "replace"))
            raise ItemRejected(f"the target refused a message: {text.decode('utf-8', 'replace')[:300]}")
        return self._placed(folder, text, msgs)

    def _placed(self, folder: str, resp: bytes | str, msgs: Sequence[Outgoing]) -> list[Placed]:
        parsed = parse_appenduid(resp)
        if parsed and len(parsed[1]) == len(msgs):
            return [Placed(folder, parsed[0], uid) for uid in parsed[1]]
        # No UIDPLUS: find each message to learn its UID (slow path, still exact).
        out: list[Placed] = []
        for m in msgs:
            found = self.find(folder, m, {str(p.uid) for p in out})
            if found is None:
                raise Transient("message appended but not found again on the target")
            out.append(found)
        return out

    def folder_ref(self, name: str) -> str:
        """IMAP names folders by name; nothing more to record."""
        return ""

    @translated("the search for a message written before")
    def find(self, folder: str, msg: Outgoing, exclude: Collection[str] = frozenset()) -> Placed | None:
        """Look for this message on the target: same size and INTERNALDATE, same Message-ID if any.

        ``exclude`` holds UIDs already claimed by other items, so two identical
        source messages never resolve to one target copy. The newest match wins: UIDs only grow, so
        our APPEND is above a byte-identical copy the user already had, which undo must not take.
        """
        self.client.select_folder(folder, readonly=True)
        size = len(msg.data)
        uids: list[int] = []
        if msg.message_id and msg.message_id.isascii() and '"' not in msg.message_id:
            uids = self.client.search(["HEADER", "Message-ID", msg.message_id])
        if not uids:
            uids = self.client.search(["LARGER", max(size - 1, 0), "SMALLER", size + 1])
        uids = [u for u in uids if str(u) not in exclude]
        if not uids:
            return None
        info = self.client.fetch(uids, ["INTERNALDATE", "RFC822.SIZE"])
        uidvalidity = int(self.client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])
        want = int(msg.internaldate.timestamp())
        for uid in sorted(info, reverse=True):
            d = info[uid]
            if int(d[b"INTERNALDATE"].timestamp()) == want and int(d[b"RFC822.SIZE"]) == size:
                return Placed(folder, uidvalidity, int(uid))
        return None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # lanes still logging in are closed with the rest
            self._opened()
        for lane in self._extra:
            lane.close()
        self._extra = []
        try:
            self.client.logout()
        except Exception:
            with contextlib.suppress(OSError):  # a lane whose connection broke is closed with the rest
                self.client.shutdown()
        finally:
            if self.on_close is not None:
                self.on_close()


_PERMANENTFLAGS = re.compile(rb"\[PERMANENTFLAGS \((?P<data>[^)]*)\)\]", re.IGNORECASE)


def _permanent_in(lines: Sequence[bytes | str]) -> tuple[bytes, ...] | None:
    """The flags of an untagged ``OK [PERMANENTFLAGS (...)]`` among a SELECT's OK lines; None when none came."""
    for line in lines:
        m = _PERMANENTFLAGS.search(line.encode() if isinstance(line, str) else line)
        if m:
            return tuple(m.group("data").split())
    return None


def _t(v: bytes | str) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


#: An APPEND answered with these (RFC 5530: a subsystem down, a lock held) was refused for now, not for the
#: message; ``[LIMIT]`` is not among them: Dovecot names a message too large with it.
APPEND_NOT_NOW = ("[UNAVAILABLE]", "[INUSE]")


def _not_now(answer: str) -> None:
    """A refused APPEND whose answer says "not now" (:data:`APPEND_NOT_NOW`) is no refusal of the message:
    :class:`Throttled`, so the batch goes again after a back-off (the in-flight marks make the retry look
    for what did go in); any other refusal is the message's own."""
    if any(code in answer.upper() for code in APPEND_NOT_NOW):
        raise Throttled(f"the target is busy (APPEND): {answer[:200]}")


def _short(exc: BaseException) -> str:
    return str(exc)[:300]
