"""The PST upload's multipart/form-data parser on its own: no server, any chunking."""

from __future__ import annotations

import pytest

from services.intake.multipart_stream import (
    HEADER_MAX_BYTES,
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartEvent,
    PartStart,
    boundary_of,
)

BOUNDARY = b"XyZ42"
# A field, then a file whose data holds a near-boundary ("\r\n--XyZ4") and a CRLF right before the real one.
BODY = (b"--XyZ42\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\n{\"type\": \"imap\"}\r\n"
        b"--XyZ42\r\nContent-Disposition: form-data; name=\"file\"; filename=\"mail.pst\"\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n!BDN\r\n--XyZ4\r\n\r\n"
        b"\r\n--XyZ42--\r\n")
EXPECTED = [("target", None, b'{"type": "imap"}'), ("file", "mail.pst", b"!BDN\r\n--XyZ4\r\n\r\n")]


def feed_all(parser: MultipartParser, chunks: list[bytes]) -> list[PartEvent]:
    return [ev for chunk in chunks for ev in parser.feed(chunk)]


def parts_of(events: list[PartEvent]) -> list[tuple[str, str | None, bytes]]:
    """Events folded into (name, filename, data), checking every part is ended before the next starts."""
    parts: list[tuple[str, str | None, bytes]] = []
    open_part = False
    for ev in events:
        if isinstance(ev, PartStart):
            assert not open_part
            parts.append((ev.name, ev.filename, b""))
            open_part = True
        elif isinstance(ev, PartData):
            assert open_part
            name, filename, data = parts[-1]
            parts[-1] = (name, filename, data + ev.data)
        else:
            assert isinstance(ev, PartEnd) and open_part
            open_part = False
    assert not open_part
    return parts


def test_a_boundary_split_across_two_chunks_is_still_found() -> None:
    for cut in range(1, len(BODY)):  # every place, inside each boundary and each header block included
        parser = MultipartParser(BOUNDARY)
        assert parts_of(feed_all(parser, [BODY[:cut], BODY[cut:]])) == EXPECTED, cut
        assert parser.finished, cut


def test_one_byte_at_a_time() -> None:
    parser = MultipartParser(BOUNDARY)
    assert parts_of(feed_all(parser, [BODY[i:i + 1] for i in range(len(BODY))])) == EXPECTED
    assert parser.finished


def test_a_field_sent_before_the_file_is_complete_before_the_file_starts() -> None:
    events = MultipartParser(BOUNDARY).feed(BODY)
    file_starts = next(i for i, ev in enumerate(events) if isinstance(ev, PartStart) and ev.name == "file")
    assert events[:file_starts] == [PartStart("target", None), PartData(b'{"type": "imap"}'), PartEnd()]


def test_a_large_part_is_handed_out_while_it_arrives_not_at_its_end() -> None:
    parser = MultipartParser(BOUNDARY)
    head = b"--XyZ42\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pst\"\r\n\r\n"
    assert parser.feed(head) == [PartStart("file", "big.pst")]
    chunk = b"x" * 65535 + b"\r"  # ends like the start of a boundary: that byte may be held back
    handed_out = 0
    for n in range(1, 21):
        events = parser.feed(chunk)
        assert all(isinstance(ev, PartData) for ev in events)
        handed_out += sum(len(ev.data) for ev in events if isinstance(ev, PartData))
        assert n * len(chunk) - handed_out <= len(BOUNDARY) + 4  # held back: only what may start a boundary
    rest = parser.feed(b"\r\n--XyZ42--")
    assert rest[-1] == PartEnd() and parser.finished
    assert handed_out + sum(len(ev.data) for ev in rest if isinstance(ev, PartData)) == 20 * len(chunk)


def test_the_closing_boundary_ends_the_body_and_the_epilogue_is_ignored() -> None:
    parser = MultipartParser(BOUNDARY)
    parser.feed(BODY[:-10])
    assert not parser.finished  # an upload cut short is told apart from a complete one
    parser.feed(BODY[-10:])
    assert parser.finished
    assert parser.feed(b"\r\n--XyZ42\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ny") == []


def test_file_names_in_utf8_and_rfc2231_ignored() -> None:
    """Browsers send raw UTF-8; RFC 7578 4.2 forbids ``filename*`` in form data, so the plain one counts."""
    body = ("--XyZ42\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Outlook ü 日本.pst\"\r\n\r\nA\r\n"
            "--XyZ42\r\nContent-Disposition: form-data; name=\"file2\"; filename*=UTF-8''Archiv%20%C3%A4.pst"
            "\r\n\r\nB\r\n--XyZ42\r\nContent-Disposition: form-data; name=\"file3\"; filename=\"a.pst\"; "
            "filename*=UTF-8''b.pst\r\n\r\nC\r\n--XyZ42--").encode()
    starts = [ev for ev in MultipartParser(BOUNDARY).feed(body) if isinstance(ev, PartStart)]
    assert starts == [PartStart("file", "Outlook ü 日本.pst"), PartStart("file2", None), PartStart("file3", "a.pst")]


def test_a_content_type_without_a_usable_boundary_is_refused() -> None:
    for no_boundary in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=" + "b" * 201):
        with pytest.raises(MultipartError, match="has no boundary"):
            boundary_of(no_boundary)
    for other_type in ("application/json", ""):
        with pytest.raises(MultipartError, match="send the file as multipart/form-data"):
            boundary_of(other_type)


def test_the_boundary_is_read_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="----WebKitForm AbC"') == b"----WebKitForm AbC"
    assert boundary_of("Multipart/Form-Data; charset=utf-8; boundary=XyZ42") == BOUNDARY


def test_part_headers_over_the_limit_are_refused_before_their_end_arrives() -> None:
    parser = MultipartParser(BOUNDARY)
    parser.feed(b"--XyZ42\r\nContent-Disposition: form-data; name=\"file\"\r\n")
    filler = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    with pytest.raises(MultipartError, match="headers are too long"):
        for _ in range(HEADER_MAX_BYTES // len(filler) + 2):
            parser.feed(filler)


def test_part_headers_of_exactly_the_limit_are_accepted() -> None:
    head = b"Content-Disposition: form-data; name=\"target\"\r\nX-Filler: "
    head += b"a" * (HEADER_MAX_BYTES - len(head))
    parser = MultipartParser(BOUNDARY)
    assert parser.feed(b"--XyZ42\r\n" + head) == []  # all of the limit waiting for the headers' end
    assert parser.feed(b"\r\n\r\nv\r\n--XyZ42--") == [PartStart("target", None), PartData(b"v"), PartEnd()]


@pytest.mark.parametrize(("body", "message"), [
    (b"--XyZ42\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ42--", "no Content-Disposition: form-data"),
    (b"--XyZ42\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ42--", "no Content-Disposition"),
    (b"--XyZ42\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ42--", "a part has no name"),
    (b"--XyZ42\r\nno colon here\r\n\r\nx\r\n--XyZ42--", "header line is malformed"),
    (b"--XyZ42\r\nContent-Disposition: form-data; name=\"a\"\r\nX\r\n\r\nx\r\n--XyZ42--", "header line is malformed"),
    (b"--XyZ42\r\n\r\nx\r\n--XyZ42--", "a part has no headers"),
    (b"--XyZ42 garbage\r\n", "followed by other text"),
    (b"--XyZ42" + b" " * 300, "followed by other text than a line break"),
])
def test_malformed_bodies_are_refused_with_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        MultipartParser(BOUNDARY).feed(body)


def test_a_preamble_before_the_first_boundary_is_ignored_whatever_the_chunking() -> None:
    body = b"This is a preamble. --XyZ4 is not a boundary\r\n" + BODY
    for size in (1, 5, 64, len(body)):
        parser = MultipartParser(BOUNDARY)
        assert parts_of(feed_all(parser, [body[i:i + size] for i in range(0, len(body), size)])) == EXPECTED, size
        assert parser.finished
