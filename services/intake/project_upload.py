"""Receiving a project's CSV as multipart/form-data, streamed to a temporary file, never held whole.

Parts: ``project`` (the settings, JSON, small: kept in memory up to :data:`SETTINGS_MAX`) and ``rows``
(the CSV file, written to disk as it arrives up to :data:`CSV_MAX_BYTES`). The file is then read line by
line (UTF-8, a BOM allowed; bytes that are not UTF-8 become U+FFFD, which the row check refuses with the
line they are on).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

from services.intake.multipart_stream import MultipartError, MultipartParser, PartData, PartEnd, PartStart, boundary_of

#: 50,000 rows of a few hundred bytes each, with room to spare.
CSV_MAX_BYTES = 64 * 1024 * 1024
SETTINGS_MAX = 64 * 1024


class UploadRefused(ValueError):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass
class Received:
    settings: bytes | None
    csv_path: Path | None
    has_rows: bool = False


async def receive(request: Request, spool: Path) -> Received:
    """The parts of the request; the CSV is in a file in ``spool`` the caller deletes (see :func:`spooled`)."""
    try:
        parser = MultipartParser(boundary_of(request.headers.get("content-type", "")))
    except MultipartError as exc:
        raise UploadRefused(415, str(exc)) from None
    spool.mkdir(parents=True, exist_ok=True)
    out = Received(None, None)
    current: str | None = None
    seen: set[str] = set()
    settings = bytearray()
    size = 0
    fd, name = tempfile.mkstemp(prefix="project-", suffix=".csv", dir=spool)
    out.csv_path = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                for ev in parser.feed(chunk):
                    if isinstance(ev, PartStart):
                        if ev.name not in ("project", "rows"):
                            raise UploadRefused(422, f"unknown part {ev.name[:40]!r}: send project and rows")
                        if ev.name in seen:  # two would be glued together: refused, not guessed at
                            raise UploadRefused(422, f"{ev.name}: sent twice; send each part once", ev.name)
                        seen.add(ev.name)
                        current = ev.name
                    elif isinstance(ev, PartData) and current == "rows":
                        size += len(ev.data)
                        if size > CSV_MAX_BYTES:
                            raise UploadRefused(413, f"the CSV is larger than {CSV_MAX_BYTES} bytes")
                        f.write(ev.data)
                    elif isinstance(ev, PartData) and current == "project":
                        settings += ev.data
                        if len(settings) > SETTINGS_MAX:
                            raise UploadRefused(413, f"the project part is larger than {SETTINGS_MAX} bytes")
                    elif isinstance(ev, PartEnd):
                        if current == "project":
                            out.settings = bytes(settings)
                        current = None
        if not parser.finished:
            raise UploadRefused(422, "the multipart body ended before its closing boundary")
        if "rows" not in seen:
            raise UploadRefused(422, "rows: the CSV file (part rows) is missing", "rows")
        out.has_rows = True
    except MultipartError as exc:
        out.csv_path.unlink(missing_ok=True)
        raise UploadRefused(422, str(exc)) from None
    except (UploadRefused, ClientDisconnect):
        out.csv_path.unlink(missing_ok=True)
        raise
    return out


@contextmanager
def csv_lines(path: Path) -> Iterator[Iterator[str]]:
    """The file's lines as text, for :func:`services.intake.project_csv.parse`; deleted afterwards."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            yield iter(f)
    finally:
        path.unlink(missing_ok=True)
