"""Test and demo mailboxes: the real messages of the shared corpus plus generated ones.

Deterministic for a given seed, so a benchmark run or a failing test can be
reproduced. Works without the corpus (generated messages only).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from imapclient import IMAPClient

CORPUS_CANDIDATES = (Path(__file__).resolve().parents[2] / "shared" / "corpora" / "eml",)
FLAG_SETS: tuple[tuple[str, ...], ...] = (
    (), ("\\Seen",), ("\\Seen", "\\Flagged"), ("\\Answered", "\\Seen"), ("$Label1",),
    ("\\Seen", "$Important", "Work"), ("\\Deleted", "\\Seen"),
)
DEMO_FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Projects", "Projects/2024",
                "Projects/2024/Q1", "Données/Été 2024", "日本語/メール", "Empty folder")
WORDS = ("mail", "ferry", "migration", "folder", "invoice", "meeting", "report", "draft", "holiday",
         "budget", "roadmap", "release", "Kafka", "Dovecot", "über", "café", "naïve", "日本")


@dataclass(frozen=True)
class Message:
    data: bytes
    flags: tuple[str, ...]
    internaldate: datetime


def corpus_dir() -> Path | None:
    for c in CORPUS_CANDIDATES:
        if c.is_dir():
            return c
    return None


def corpus_messages(root: Path | None = None) -> list[bytes]:
    root = root or corpus_dir()
    if root is None:
        return []
    return [p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size > 0]


def generated(i: int, rng: random.Random, size: int | None = None) -> bytes:
    """One plausible message; ``size`` forces an attachment that makes it about that large."""
    date = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(5_000_000))
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 7)))
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 400)))
    head = (f"From: Sender {i % 37} <sender{i % 37}@example.net>\r\nTo: demo@example.test\r\n"
            f"Subject: [{i}] {subject}\r\nDate: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
            f"Message-ID: <gen-{i}-{rng.randrange(10**9)}@mailferry.test>\r\nMIME-Version: 1.0\r\n")
    if not size:
        return (head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                + body + "\r\n").encode()
    raw = rng.randbytes(max(size * 3 // 4, 1))
    import base64

    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n").decode()
    return (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n--b1\r\n"
            'Content-Type: application/octet-stream; name="data.bin"\r\nContent-Transfer-Encoding: base64\r\n'
            'Content-Disposition: attachment; filename="data.bin"\r\n\r\n' + b64 + "--b1--\r\n").encode()


def plan_mailbox(generated_count: int, *, seed: int = 7, folders: tuple[str, ...] = DEMO_FOLDERS,
                 with_corpus: bool = True, big_sizes: tuple[int, ...] = ()) -> dict[str, list[Message]]:
    """Messages per folder. The corpus goes to INBOX; generated ones spread over the rest."""
    rng = random.Random(seed)
    tz = timezone(timedelta(hours=2))
    layout: dict[str, list[Message]] = {f: [] for f in folders}

    def when() -> datetime:
        return datetime(2016, 1, 1, tzinfo=tz) + timedelta(seconds=rng.randrange(250_000_000))

    if with_corpus:
        for data in corpus_messages():
            layout["INBOX"].append(Message(data, rng.choice(FLAG_SETS), when()))
    fillable = [f for f in folders if f != "Empty folder"]
    for i in range(generated_count):
        layout[fillable[i % len(fillable)]].append(Message(generated(i, rng), rng.choice(FLAG_SETS), when()))
    for n, size in enumerate(big_sizes):
        layout["Archive" if "Archive" in layout else fillable[0]].append(
            Message(generated(10**6 + n, rng, size), ("\\Seen",), when()))
    return layout


def batches(items: list[Message], n: int) -> Iterator[list[Message]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def seed(client: IMAPClient, layout: dict[str, list[Message]]) -> dict[str, int]:
    """Create the folders and APPEND (MULTIAPPEND) the messages; returns counts per folder."""
    counts: dict[str, int] = {}
    for folder, msgs in layout.items():
        if folder.upper() != "INBOX" and not client.folder_exists(folder):
            client.create_folder(folder)
        for group in batches(msgs, 50):
            client.multiappend(folder, [{"msg": m.data, "flags": m.flags, "date": m.internaldate} for m in group])
        counts[folder] = len(msgs)
    return counts
