"""The lines mailferry is measured against: mbsync, a naive copy, and the raw FETCH / APPEND limit.

* ``run_mbsync`` — Debian's isync (``mbsync``), IMAP → IMAP, ``Sync Pull`` with ``CopyArrivalDate``.
* ``naive_copy`` — one connection per side, ``FETCH`` one message, ``APPEND`` it (a synchronising
  literal, so two round trips), next: the floor any migrator must beat.
* ``raw_fetch`` — the fastest way to read: ``UID FETCH`` of 200 messages a command over several
  connections, straight sockets, no parsing beyond the literals.
* ``raw_append`` — the fastest way the server takes mail in: ``MULTIAPPEND`` (RFC 3502) with
  ``LITERAL+`` (RFC 7888), 50 messages a command, over several connections.

Each returns a :class:`LineResult`; checking the copy is the caller's job except for
``raw_fetch``, whose check is that every message's sha256 matches the planned mailbox.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.datetime_util import datetime_to_INTERNALDATE
from imapclient.imap_utf7 import encode as utf7_encode

from mailferry.seed import Message
from mailferry.verify import Fingerprint


@dataclass
class LineResult:
    messages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# -- a minimal raw IMAP client (sockets, literals, LITERAL+) -----------------------------------------

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


def _quote(name: str) -> bytes:
    enc: bytes = utf7_encode(name)
    return b'"' + enc.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class RawImap:
    """Just enough IMAP to measure the server: login, select, UID FETCH, MULTIAPPEND with LITERAL+."""

    def __init__(self, host: str, port: int, timeout: float = 300.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb", buffering=1 << 20)
        self._tag = 0
        greeting = self.rfile.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(f"unexpected greeting {greeting!r}")

    def _next_tag(self) -> bytes:
        self._tag += 1
        return b"R%d" % self._tag

    def _read_until(self, tag: bytes, on_literal: Callable[[bytes], None] | None = None) -> list[bytes]:
        """Read responses until the tagged one; literals go to ``on_literal``. Returns untagged lines."""
        lines: list[bytes] = []
        while True:
            line = self.rfile.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            while (m := _LITERAL.search(line)) is not None:
                data = self.rfile.read(int(m.group(1)))
                if on_literal is not None:
                    on_literal(data)
                line = line + b"<literal>" + self.rfile.readline()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(f"command failed: {line[:300]!r}")
                return lines
            lines.append(line)

    def command(self, cmd: bytes, on_literal: Callable[[bytes], None] | None = None) -> list[bytes]:
        tag = self._next_tag()
        self.sock.sendall(tag + b" " + cmd + b"\r\n")
        return self._read_until(tag, on_literal)

    def login(self, user: str, password: str) -> None:
        self.command(b"LOGIN " + _quote(user) + b" " + _quote(password))

    def select(self, folder: str, readonly: bool = True) -> None:
        self.command((b"EXAMINE " if readonly else b"SELECT ") + _quote(folder))

    def uids(self, folder: str) -> list[int]:
        self.select(folder)
        out: list[int] = []
        for line in self.command(b"UID SEARCH ALL"):
            if line.startswith(b"* SEARCH"):
                out.extend(int(x) for x in line.split()[2:])
        return out

    def fetch_bodies(self, uids: list[int], on_body: Callable[[bytes], None]) -> None:
        self.command(b"UID FETCH " + ",".join(map(str, uids)).encode() + b" (BODY.PEEK[])", on_body)

    def multiappend(self, folder: str, msgs: list[Message]) -> None:
        """One APPEND command carrying every message, each as a non-synchronising literal."""
        self.multiappend_raw(folder, [(" ".join(m.flags).encode(), datetime_to_INTERNALDATE(m.internaldate).encode(),
                                       m.data) for m in msgs])

    def multiappend_raw(self, folder: str, msgs: list[tuple[bytes, bytes, bytes]]) -> None:
        """The same with each message's flags and INTERNALDATE as the server wrote them: (flags, date, bytes)."""
        tag = self._next_tag()
        parts = [tag, b" APPEND ", _quote(folder)]
        for flags, date, data in msgs:
            parts += [b" (", flags, b') "', date, b'" {', str(len(data)).encode(), b"+}\r\n", data]
        parts.append(b"\r\n")
        self.sock.sendall(b"".join(parts))
        self._read_until(tag)

    def create(self, folder: str) -> None:
        self.command(b"CREATE " + _quote(folder))

    def list_names(self) -> list[str]:
        # Only used on our own Dovecot, whose names come back quoted; enough for the benchmark.
        from imapclient.imap_utf7 import decode as utf7_decode

        names = []
        for line in self.command(b'LIST "" "*"'):
            m = re.match(rb'\* LIST \([^)]*\) (?:"[^"]*"|NIL) (.*)\r\n$', line)
            if m:
                raw = m.group(1)
                if raw.startswith(b'"'):
                    raw = raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
                names.append(utf7_decode(raw))
        return names

    def close(self) -> None:
        try:
            self.command(b"LOGOUT")
        except (OSError, RuntimeError, ConnectionError):
            pass
        self.rfile.close()
        self.sock.close()


def _run_workers(n: int, jobs: Iterable[Any], work: Callable[[RawImap, Any], None],
                 connect: Callable[[], RawImap]) -> None:
    q: queue.Queue[Any] = queue.Queue()
    for j in jobs:
        q.put(j)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            conn = connect()
            try:
                while True:
                    try:
                        job = q.get_nowait()
                    except queue.Empty:
                        return
                    work(conn, job)
            finally:
                conn.close()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def raw_fetch(host: str, port: int, login: str, password: str, expected: dict[str, Counter[str]], *,
              connections: int = 4, batch: int = 200) -> tuple[LineResult, bool]:
    """Read every message once with batched UID FETCH over ``connections`` sockets."""
    res = LineResult()
    got: dict[str, Counter[str]] = {f: Counter() for f in expected}
    lock = threading.Lock()
    t0 = time.perf_counter()

    def connect() -> RawImap:
        c = RawImap(host, port)
        c.login(login, password)
        return c

    lister = connect()
    jobs = []
    for folder in expected:
        uids = lister.uids(folder)
        jobs += [(folder, uids[i:i + batch]) for i in range(0, len(uids), batch)]
    lister.close()
    selected: dict[int, str] = {}

    def work(conn: RawImap, job: tuple[str, list[int]]) -> None:
        folder, uids = job
        if selected.get(id(conn)) != folder:
            conn.select(folder)
            selected[id(conn)] = folder
        digests: list[str] = []
        nbytes = 0

        def body(data: bytes) -> None:
            nonlocal nbytes
            nbytes += len(data)
            digests.append(hashlib.sha256(data).hexdigest())

        conn.fetch_bodies(uids, body)
        with lock:
            got[folder].update(digests)
            res.messages += len(digests)
            res.bytes += nbytes

    _run_workers(connections, jobs, work, connect)
    res.seconds = time.perf_counter() - t0
    ok = all(got[f] == expected[f] for f in expected)
    if not ok:
        bad = [f for f in expected if got[f] != expected[f]]
        res.notes.append(f"fetched bytes differ from the seeded mailbox in {bad}")
    res.extra = {"connections": connections, "batch": batch}
    return res, ok


def raw_append(host: str, port: int, login: str, password: str, layout: dict[str, list[Message]], *,
               connections: int = 4, batch: int = 50) -> LineResult:
    """Write the planned mailbox with MULTIAPPEND + LITERAL+ over ``connections`` sockets."""
    res = LineResult()
    t0 = time.perf_counter()
    c = RawImap(host, port)
    c.login(login, password)
    existing = set(c.list_names())
    for folder in layout:
        if folder not in existing and folder.upper() != "INBOX":
            c.create(folder)
    # Open every folder once before the parallel APPENDs: Dovecot 2.3.19 otherwise sometimes panics
    # ("fcntl(dovecot.list.index.log) ... Resource deadlock avoided") when several sessions of a new
    # account open its folders for the first time at once, and drops the connection.
    for folder in layout:
        c.select(folder)
    c.close()
    jobs = [(f, msgs[i:i + batch]) for f, msgs in layout.items() for i in range(0, len(msgs), batch)]
    lock = threading.Lock()

    def connect() -> RawImap:
        conn = RawImap(host, port)
        conn.login(login, password)
        return conn

    def work(conn: RawImap, job: tuple[str, list[Message]]) -> None:
        folder, msgs = job
        conn.multiappend(folder, msgs)
        with lock:
            res.messages += len(msgs)
            res.bytes += sum(len(m.data) for m in msgs)

    _run_workers(connections, jobs, work, connect)
    res.seconds = time.perf_counter() - t0
    res.extra = {"connections": connections, "batch": batch}
    return res


# -- the naive copy ------------------------------------------------------------------------------


def naive_copy(host: str, port: int, src: tuple[str, str], dst: tuple[str, str], *, stride: int = 1,
               time_cap: float = 0.0) -> tuple[LineResult, dict[str, Counter[Fingerprint]], bool]:
    """FETCH one, APPEND one, over one connection per side.

    With ``stride`` > 1 only every stride-th message of each folder is copied (a representative
    sample, so a slow line at high RTT still fits the time budget); ``time_cap`` stops early.
    Returns the result, the fingerprints of what was copied (for the check) and whether it is all.
    """
    res = LineResult()
    copied: dict[str, Counter[Fingerprint]] = {}
    complete = stride == 1
    t0 = time.perf_counter()
    a = IMAPClient(host, port=port, ssl=False, timeout=300)
    b = IMAPClient(host, port=port, ssl=False, timeout=300)
    for c in (a, b):  # without this, Nagle + delayed ACK add ~40 ms to each APPEND's literal
        c._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    a.normalise_times = False
    a.login(*src)
    b.login(*dst)
    target_names = {name for _f, _d, name in b.list_folders()}
    stopped = False
    for folder_flags, _delim, folder in a.list_folders():
        if {b"\\noselect", b"\\nonexistent"} & {(f if isinstance(f, bytes) else str(f).encode()).lower()
                                                  for f in folder_flags}:
            continue  # a parent that only exists through its children: creating a child makes it
        if folder not in target_names:
            b.create_folder(folder)
        copied[folder] = Counter()
        if stopped:
            continue
        a.select_folder(folder, readonly=True)
        for uid in a.search("ALL")[::stride]:
            d = a.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[uid]
            data, date = d[b"BODY[]"], d[b"INTERNALDATE"]
            flags = [f for f in d[b"FLAGS"] if f not in (b"\\Recent", "\\Recent")]
            b.append(folder, data, flags=flags, msg_time=date)
            res.messages += 1
            res.bytes += len(data)
            copied[folder][(hashlib.sha256(data).hexdigest(),
                            frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in flags),
                            int(date.timestamp()))] += 1
            if time_cap and time.perf_counter() - t0 > time_cap:
                stopped, complete = True, False
                res.notes.append(f"stopped by the {time_cap:.0f} s time cap")
                break
    res.seconds = time.perf_counter() - t0
    a.logout()
    b.logout()
    if stride > 1:
        res.notes.append(f"copied every {stride}th message of each folder (a sample); rates are per copied message")
    return res, copied, complete


# -- mbsync --------------------------------------------------------------------------------------

MBSYNC_CONFIG = """\
IMAPAccount src
Host {host}
Port {port}
User {src_user}
Pass {src_pass}
SSLType None
AuthMechs LOGIN
PipelineDepth {depth}

IMAPStore src
Account src

IMAPAccount dst
Host {host}
Port {port}
User {dst_user}
Pass {dst_pass}
SSLType None
AuthMechs LOGIN
PipelineDepth {depth}

IMAPStore dst
Account dst

Channel bench
Far :src:
Near :dst:
Patterns *
Create Near
Sync Pull
Expunge None
Remove None
CopyArrivalDate yes
SyncState {state}/
"""


def mbsync_version() -> str:
    try:
        out = subprocess.run(["mbsync", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def run_mbsync(work: Path, host: str, port: int, src: tuple[str, str], dst: tuple[str, str], *,
               pipeline_depth: str = "unlimited", timeout: float = 600) -> tuple[LineResult, int]:
    """mbsync's defaults except what an IMAP → IMAP copy needs; returns the result and exit code."""
    work.mkdir(parents=True, exist_ok=True)
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)  # an earlier run's state would tell mbsync the copy is done
    state.mkdir()
    cfg = work / "mbsyncrc"
    # "unlimited" is not a keyword of isync: leave the line out to get its default (no limit).
    text = MBSYNC_CONFIG.format(host=host, port=port, src_user=src[0], src_pass=src[1], dst_user=dst[0],
                                dst_pass=dst[1], state=state, depth=pipeline_depth)
    if pipeline_depth == "unlimited":
        text = "\n".join(line for line in text.splitlines() if not line.startswith("PipelineDepth")) + "\n"
    cfg.write_text(text)
    cfg.chmod(0o600)
    log = work / "mbsync.log"
    res = LineResult()
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(["mbsync", "-c", str(cfg), "-a"], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                res.notes.append(f"killed after {timeout:.0f} s")
                break
            time.sleep(0.02)
    res.seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    res.cpu_seconds["mbsync"] = usage.ru_utime + usage.ru_stime
    res.peak_rss_mb["mbsync"] = usage.ru_maxrss / 1024  # KiB on Linux
    tail = log.read_text(errors="replace").strip().splitlines()[-3:]
    if proc.returncode:
        res.notes.append(f"mbsync exit code {proc.returncode}: {' | '.join(tail)}")
    return res, proc.returncode
