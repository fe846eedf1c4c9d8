"""A benchmark line reports what arrived on its target, counted there: not the planned totals.

mbsync adds an ``X-TUID:`` header to every message it copies, so the bytes on its target are more
than the bytes planned; the line used to report the planned messages and bytes whatever arrived.
Here the mbsync line copies a small mailbox on a real Dovecot, and the test counts the target itself.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from imapclient import IMAPClient

from mailferry import seed
from mailferry.dovecot import DovecotServer
from mailferry.seed import Message
from tests.bench import mailbox as mbox
from tests.bench import run


def test_the_mbsync_line_reports_the_messages_and_bytes_on_its_target(tmp_path: Path) -> None:
    rng = random.Random(4)
    layout = {"INBOX": [Message(seed.generated(i, rng), ("\\Seen",), datetime(2021, 1, 1 + i, tzinfo=UTC))
                        for i in range(6)],
              "Projects": [Message(seed.generated(10 + i, rng), (), datetime(2021, 2, 1 + i, tzinfo=UTC))
                           for i in range(4)]}
    bench = run.Bench(run.Config(), tmp_path)
    targets: list[str] = []
    bench.drop_account = targets.append  # type: ignore[method-assign]  # keep the target to count it here
    with DovecotServer(tmp_path / "dovecot") as server:
        bench.dovecot = server
        bench.layout = layout
        bench.src = bench.account("src")
        with bench.client(bench.src) as c:
            mbox.seed(c, layout)
        row = bench.line("mbsync", "mbsync", 0.0, server.imap_port, None)
        assert targets, row
        counted_messages = counted_bytes = 0
        with IMAPClient("127.0.0.1", port=server.imap_port, ssl=False) as b:
            b.login(targets[0], bench.passwords[targets[0]])
            for _flags, _delim, name in b.list_folders():
                b.select_folder(name, readonly=True)
                for data in b.fetch(b.search("ALL"), ["BODY.PEEK[]"]).values():
                    counted_messages += 1
                    counted_bytes += len(data[b"BODY[]"])
        server.destroy()
    planned = mbox.total_bytes(layout)
    assert counted_messages == 10
    assert counted_bytes > planned  # mbsync's X-TUID headers
    assert (row["messages"], row["bytes"]) == (counted_messages, counted_bytes), row
