"""An uploaded PST file in the spool (``$SPOOL/pst/<random>.part``, renamed ``.pst`` once accepted).

Written in 1 MiB pieces in a worker thread and hashed on the way, so the event loop never blocks on the
disk and the file is never read twice. Until ``accept`` it carries the ``.part`` suffix: a crash leaves
only files that are plainly unfinished.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from shared.spool import PST_DIR

WRITE_BUFFER = 1 << 20


@dataclass
class SpoolUpload:
    """The upload's file in the spool, written in 1 MiB pieces (in a worker thread), hashed on the way."""

    directory: Path
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    size: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    _fd: int | None = None
    _pending: bytearray = field(default_factory=bytearray)

    @property
    def part_path(self) -> Path:
        return self.directory / f"{self.token}.part"

    @property
    def final_path(self) -> Path:
        return self.directory / f"{self.token}.pst"

    @property
    def relative(self) -> str:
        """The path the migration carries: relative to the spool, so every service resolves it on its own mount."""
        return f"{PST_DIR}/{self.token}.pst"

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(self.part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)

    async def add(self, data: bytes) -> None:
        self.size += len(data)
        self._pending += data
        if len(self._pending) >= WRITE_BUFFER:
            await self.flush()

    async def flush(self) -> None:
        if self._pending:
            piece, self._pending = bytes(self._pending), bytearray()
            await run_in_threadpool(self._write, piece)

    def _write(self, piece: bytes) -> None:
        assert self._fd is not None
        self.sha256.update(piece)
        view = memoryview(piece)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def accept(self) -> None:
        """Checked and accepted: the file gets its final name (a crash before leaves only ``.part`` files)."""
        self.close()
        os.replace(self.part_path, self.final_path)

    def discard(self) -> None:
        self.close()
        self._pending = bytearray()
        for path in (self.part_path, self.final_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
