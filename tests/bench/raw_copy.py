"""The raw pipelined copy: what a direct copier reaches on this machine, with no broker and no state.

One process, ``readers`` connections reading 200-message slices with ``UID FETCH (FLAGS INTERNALDATE
BODY.PEEK[])`` and ``writers`` connections writing them as 50-message MULTIAPPENDs with LITERAL+ (RFC 7888),
a bounded queue between them. Flags (but ``\\Recent``) and INTERNALDATE go over exactly as the source
wrote them. The caller checks the copy message by message (the benchmark's ``check``: byte-identical).
"""

from __future__ import annotations

import queue
import re
import threading
import time

from tests.bench.baselines import LineResult, RawImap

FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
DATE = re.compile(rb'INTERNALDATE "([^"]+)"')
LITERAL = re.compile(rb"\{(\d+)\}\r\n$")
DONE = None


def _fetch(conn: RawImap, uids: list[int]) -> list[tuple[bytes, bytes, bytes]]:
    """(flags, INTERNALDATE, bytes) of each message, in the server's order."""
    tag = conn._next_tag()
    conn.sock.sendall(tag + b" UID FETCH " + ",".join(map(str, uids)).encode() +
                      b" (FLAGS INTERNALDATE BODY.PEEK[])\r\n")
    out = []
    while True:
        line = conn.rfile.readline()
        if not line:
            raise ConnectionError("the source closed the connection")
        if line.startswith(tag + b" "):
            if not line[len(tag) + 1:].startswith(b"OK"):
                raise RuntimeError(f"FETCH failed: {line[:200]!r}")
            return out
        m = LITERAL.search(line)
        if m is None:
            continue
        data = conn.rfile.read(int(m.group(1)))
        rest = conn.rfile.readline()  # the FETCH answer's remainder, where the server may put FLAGS
        head = line + rest
        flags = FLAGS.search(head)
        date = DATE.search(head)
        if flags is None or date is None:
            raise RuntimeError(f"FETCH answer without FLAGS or INTERNALDATE: {head[:200]!r}")
        kept = b" ".join(f for f in flags.group(1).split() if f.lower() != b"\\recent")
        out.append((kept, date.group(1), data))


def raw_copy(host: str, port: int, src: tuple[str, str], dst: tuple[str, str], folders: list[str], *,
             readers: int = 4, writers: int = 4, fetch_batch: int = 200, append_batch: int = 50) -> LineResult:
    res = LineResult()
    t0 = time.perf_counter()

    def connect(account: tuple[str, str]) -> RawImap:
        c = RawImap(host, port)
        c.login(*account)
        return c

    lister, maker = connect(src), connect(dst)
    existing = set(maker.list_names())
    jobs: queue.Queue[tuple[str, list[int]]] = queue.Queue()
    for folder in folders:
        if folder not in existing and folder.upper() != "INBOX":
            maker.create(folder)
        maker.select(folder)  # each folder opened once before several sessions write (see raw_append)
        uids = lister.uids(folder)
        for i in range(0, len(uids), fetch_batch):
            jobs.put((folder, uids[i:i + fetch_batch]))
    lister.close()
    maker.close()
    ready: queue.Queue[tuple[str, list[tuple[bytes, bytes, bytes]]] | None] = queue.Queue(maxsize=4 * writers)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def read() -> None:
        try:
            conn = connect(src)
            selected = ""
            try:
                while True:
                    try:
                        folder, uids = jobs.get_nowait()
                    except queue.Empty:
                        return
                    if folder != selected:
                        conn.select(folder)
                        selected = folder
                    msgs = _fetch(conn, uids)
                    for i in range(0, len(msgs), append_batch):
                        ready.put((folder, msgs[i:i + append_batch]))
            finally:
                conn.close()
        except BaseException as exc:
            errors.append(exc)

    def write() -> None:
        try:
            conn = connect(dst)
            try:
                while (job := ready.get()) is not DONE:
                    folder, msgs = job
                    conn.multiappend_raw(folder, msgs)
                    with lock:
                        res.messages += len(msgs)
                        res.bytes += sum(len(m[2]) for m in msgs)
            finally:
                conn.close()
        except BaseException as exc:
            errors.append(exc)
            while ready.get() is not DONE:  # keep the readers from blocking on a full queue
                pass

    reading = [threading.Thread(target=read, daemon=True) for _ in range(readers)]
    writing = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
    for t in [*reading, *writing]:
        t.start()
    for t in reading:
        t.join()
    for _ in writing:
        ready.put(DONE)
    for t in writing:
        t.join()
    if errors:
        raise errors[0]
    res.seconds = time.perf_counter() - t0
    res.extra = {"readers": readers, "writers": writers, "fetch_batch": fetch_batch, "append_batch": append_batch}
    return res
