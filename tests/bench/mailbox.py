"""The benchmark's deterministic mailbox: ~12 folders and a real-world size mix.

Most messages are 2–20 KB of text (they compress like real mail), about 1 % are 200 KB–2 MB with
a random (incompressible, like photos and PDFs) base64 attachment, and one is 25 MB. The same
``--messages`` and ``--seed`` always give the same bytes, flags and dates.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from imapclient import IMAPClient

from mailferry import seed as seedlib
from mailferry.seed import DEMO_FOLDERS, FLAG_SETS, WORDS, Message

SMALL = (2_000, 20_000)
BIG = (200_000, 2_000_000)
BIG_SHARE = 0.01


@dataclass(frozen=True)
class MailboxSpec:
    messages: int = 5000
    huge_bytes: int = 25 * 1024 * 1024  # one message this big; 0 for none
    big_share: float = BIG_SHARE
    big_max: int = BIG[1]
    seed: int = 8


def _text_message(i: int, rng: random.Random, size: int) -> bytes:
    date = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(5_000_000))
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 7)))
    head = (f"From: Sender {i % 37} <sender{i % 37}@example.net>\r\nTo: bench@example.test\r\n"
            f"Subject: [{i}] {subject}\r\nDate: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
            f"Message-ID: <bench-{i}-{rng.randrange(10**9)}@mailferry.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    need = max(size - len(head.encode()), 16)
    words = rng.choices(WORDS, k=need // 7 + 1)
    lines = [" ".join(words[j:j + 10]) for j in range(0, len(words), 10)]
    return (head + "\r\n".join(lines) + "\r\n").encode()


def plan(spec: MailboxSpec) -> dict[str, list[Message]]:
    """Messages per folder ("Empty folder" stays empty), deterministic for ``spec``."""
    rng = random.Random(spec.seed)
    tz = timezone(timedelta(hours=2))
    layout: dict[str, list[Message]] = {f: [] for f in DEMO_FOLDERS}
    fillable = [f for f in DEMO_FOLDERS if f != "Empty folder"]
    count = spec.messages - (1 if spec.huge_bytes else 0)
    for i in range(count):
        if rng.random() < spec.big_share:
            size = int(BIG[0] * (spec.big_max / BIG[0]) ** rng.random())  # log-uniform
            data = seedlib.generated(i, rng, size)
        else:
            size = int(SMALL[0] * (SMALL[1] / SMALL[0]) ** (rng.random() ** 1.5))  # skewed to the small end
            data = _text_message(i, rng, size)
        when = datetime(2016, 1, 1, tzinfo=tz) + timedelta(seconds=rng.randrange(250_000_000))
        # A few folders get more mail than others, as in real accounts.
        folder = fillable[min(int(rng.random() ** 2 * len(fillable)), len(fillable) - 1)]
        layout[folder].append(Message(data, rng.choice(FLAG_SETS), when))
    if spec.huge_bytes:
        when = datetime(2016, 1, 1, tzinfo=tz) + timedelta(seconds=rng.randrange(250_000_000))
        layout["Archive"].append(Message(seedlib.generated(10**6, rng, spec.huge_bytes), ("\\Seen",), when))
    return layout


def total_bytes(layout: dict[str, list[Message]]) -> int:
    return sum(len(m.data) for msgs in layout.values() for m in msgs)


def total_messages(layout: dict[str, list[Message]]) -> int:
    return sum(len(msgs) for msgs in layout.values())


def digests(layout: dict[str, list[Message]]) -> dict[str, Counter[str]]:
    """sha256 of every message's bytes, per folder (what the raw FETCH line checks against)."""
    return {f: Counter(hashlib.sha256(m.data).hexdigest() for m in msgs) for f, msgs in layout.items()}


def seed(client: IMAPClient, layout: dict[str, list[Message]]) -> None:
    """Create the folders and fill them with MULTIAPPEND (50 messages a command)."""
    seedlib.seed(client, layout)


def describe(layout: dict[str, list[Message]]) -> dict[str, object]:
    sizes = sorted(len(m.data) for msgs in layout.values() for m in msgs)
    return {
        "messages": len(sizes),
        "bytes": sum(sizes),
        "folders": len(layout),
        "median_bytes": sizes[len(sizes) // 2] if sizes else 0,
        "over_200kb": sum(1 for s in sizes if s >= 200_000),
        "largest_bytes": sizes[-1] if sizes else 0,
    }
