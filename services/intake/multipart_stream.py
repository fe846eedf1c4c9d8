"""An incremental multipart/form-data (RFC 7578) parser: feed it chunks, get part events back. Pure code.

No web framework here: the PST upload feeds it the request body chunk by chunk and decides what to do
with each part, so the parser can be tested alone with any chunking. Body data is handed out as soon
as it cannot be the start of the next boundary, so memory use is bounded by the chunk size, whatever
the size of a part.
"""

from __future__ import annotations

import email.message
import email.utils
from dataclasses import dataclass

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
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        raise MultipartError("send the file as multipart/form-data")
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 200:
        raise MultipartError("the multipart/form-data body has no boundary")
    return boundary.encode("latin-1", "replace")


def _disposition(headers: bytes) -> PartStart:
    text = headers.decode("utf-8", "replace")  # browsers send file names as raw UTF-8
    msg = email.message.Message()
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError("a part header line has no colon")
        if name.strip().lower() == "content-disposition":
            msg["Content-Disposition"] = value.strip()
    if msg["Content-Disposition"] is None or msg.get_content_disposition() != "form-data":
        raise MultipartError("a part has no Content-Disposition: form-data header")
    raw_name = msg.get_param("name", header="content-disposition")
    raw_file = msg.get_param("filename", header="content-disposition")
    if raw_name is None:
        raise MultipartError("a part has no name")
    filename = email.utils.collapse_rfc2231_value(raw_file) if raw_file is not None else None
    return PartStart(email.utils.collapse_rfc2231_value(raw_name), filename)


class MultipartParser:
    """Feed it the body in chunks of any size; each ``feed`` returns the part events those bytes complete."""

    def __init__(self, boundary: bytes) -> None:
        self._delim = b"\r\n--" + boundary
        self._buf = bytearray(b"\r\n")  # so the first boundary looks like every other one
        self._state = "preamble"

    @property
    def finished(self) -> bool:
        """The closing boundary has been seen (what follows it, the epilogue, is ignored)."""
        return self._state == "done"

    def feed(self, chunk: bytes) -> list[PartEvent]:
        if self._state == "done":
            return []
        self._buf += chunk
        out: list[PartEvent] = []
        buf, delim = self._buf, self._delim
        while True:
            if self._state in ("preamble", "body"):
                at = buf.find(delim)
                if at < 0:
                    safe = len(buf) - (len(delim) - 1)
                    if safe > 0:
                        if self._state == "body":
                            out.append(PartData(bytes(buf[:safe])))
                        del buf[:safe]
                    return out
                if self._state == "body":
                    if at:
                        out.append(PartData(bytes(buf[:at])))
                    out.append(PartEnd())
                del buf[:at + len(delim)]
                self._state = "after_boundary"
            elif self._state == "after_boundary":
                if len(buf) < 2:
                    return out
                if buf[:2] == b"--":
                    self._state = "done"
                    buf.clear()
                    return out
                eol = buf.find(b"\r\n")
                if eol < 0:
                    if len(buf) > 256:
                        raise MultipartError("a boundary line is not followed by a line break")
                    return out
                if buf[:eol].strip(b" \t"):
                    raise MultipartError("a boundary line is followed by other text")
                del buf[:eol + 2]
                self._state = "headers"
            elif self._state == "headers":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if buf.startswith(b"\r\n"):
                        raise MultipartError("a part has no headers")
                    if len(buf) > HEADER_MAX_BYTES:
                        raise MultipartError("a part's headers are too long")
                    return out
                out.append(_disposition(bytes(buf[:end])))
                del buf[:end + 4]
                self._state = "body"
