"""multipart/form-data (RFC 7578) for the PST upload, parsed as it streams by python-multipart's parser.

Feed it chunks, get part events back; no web framework here, so it can be tested alone with any chunking.
python-multipart hands out body data as soon as it cannot be the start of the next boundary and keeps no
buffer of its own, so memory use is bounded by the chunk size, whatever the size of a part. What is ours:
the events ``pst_upload.receive`` consumes, the limit on a part's header block, and the checks of the
part headers (``Content-Disposition: form-data`` with a name), each refused with what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser as _Parser
from python_multipart.multipart import parse_options_header

HEADER_MAX_BYTES = 16 * 1024  # one part's header block


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class PartStart:
    """A part begins: its form field name, and the file name if the part is a file."""

    name: str
    filename: str | None


@dataclass(frozen=True)
class PartData:
    """The next piece of the current part's body (a part usually arrives in many)."""

    data: bytes


@dataclass(frozen=True)
class PartEnd:
    """The current part is complete."""


PartEvent = PartStart | PartData | PartEnd


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type; raises MultipartError for any other type."""
    kind, params = parse_options_header(content_type)
    if kind.strip() != b"multipart/form-data":
        raise MultipartError("send the file as multipart/form-data")
    boundary = params.get(b"boundary", b"")
    if not 0 < len(boundary) <= 200:
        raise MultipartError("the multipart/form-data body has no boundary")
    return boundary


def _part_start(headers: list[tuple[bytes, bytes]]) -> PartStart:
    if not headers:
        raise MultipartError("a part has no headers")
    disposition = next((value for name, value in headers if name.lower() == b"content-disposition"), None)
    # latin-1 keeps the bytes as they came: browsers send file names as raw UTF-8
    kind, params = parse_options_header(disposition.decode("latin-1")) if disposition is not None else (b"", {})
    if kind.strip() != b"form-data":
        raise MultipartError("a part has no Content-Disposition: form-data header")
    if b"name" not in params:
        raise MultipartError("a part has no name")
    filename = params.get(b"filename")
    return PartStart(params[b"name"].decode("utf-8", "replace"),
                     filename.decode("utf-8", "replace") if filename is not None else None)


def _reason(exc: MultipartParseError) -> str:
    """python-multipart's message, said in terms of the upload."""
    text = str(exc)
    if "header size" in text:
        return "a part's headers are too long"
    if "header" in text.lower():
        return f"a part header line is malformed ({text})"
    if "boundary" in text.lower():
        return f"a boundary line is followed by other text than a line break ({text})"
    return text


class MultipartParser:
    """Feed it the body in chunks of any size; each ``feed`` returns the part events those bytes complete."""

    def __init__(self, boundary: bytes) -> None:
        self._events: list[PartEvent] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._field = bytearray()
        self._value = bytearray()
        self._header_bytes = 0
        self._finished = False
        self._first = b"\r\n--" + boundary
        self._preamble: bytearray | None = bytearray(b"\r\n")  # until the first boundary is found
        self._parser = _Parser(boundary, {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self._events.append(_part_start(self._headers)),
            "on_part_data": lambda data, start, end: self._events.append(PartData(bytes(data[start:end]))),
            "on_part_end": lambda: self._events.append(PartEnd()),
            "on_end": self._end,
        }, max_header_count=HEADER_MAX_BYTES // 4, max_header_size=HEADER_MAX_BYTES)

    @property
    def finished(self) -> bool:
        """The closing boundary has been seen (what follows it, the epilogue, is ignored)."""
        return self._finished

    def feed(self, chunk: bytes) -> list[PartEvent]:
        if self._finished:
            return []
        if self._preamble is not None:
            chunk = self._after_preamble(chunk)
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise MultipartError(_reason(exc)) from None
        events, self._events = self._events, []
        return [ev for ev in events if not (isinstance(ev, PartData) and not ev.data)]

    def _after_preamble(self, chunk: bytes) -> bytes:
        """RFC 2046 5.1.1 lets text precede the first boundary; python-multipart wants the boundary first."""
        assert self._preamble is not None
        self._preamble += chunk
        at = self._preamble.find(self._first)
        if at < 0:
            del self._preamble[: max(0, len(self._preamble) - len(self._first) + 1)]  # cannot hold its start
            return b""
        rest, self._preamble = bytes(self._preamble[at + 2 :]), None
        return rest

    def _part_begin(self) -> None:
        self._headers, self._header_bytes = [], 0

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > HEADER_MAX_BYTES:
            raise MultipartError("a part's headers are too long")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]
        self._count(end - start)

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]
        self._count(end - start)

    def _header_end(self) -> None:
        self._headers.append((bytes(self._field).strip(), bytes(self._value).strip()))
        self._field.clear()
        self._value.clear()
        self._count(3)  # the colon and the line break

    def _end(self) -> None:
        self._finished = True
