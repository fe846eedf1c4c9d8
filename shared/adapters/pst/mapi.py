"""Pure builders that turn MAPI properties (as read from a PST/OST) into portable formats.

Nothing here touches pypff or the file system, so every rule can be unit-tested with hand-made
property dicts: RFC 5322 e-mail, vCard 3.0, iCalendar VEVENT/VTODO, compressed-RTF decompression
(MS-OXRTFCP), HTML de-encapsulation from RTF (MS-OXRTFEX, best effort) and the Outlook recurrence
blob (MS-OXOCAL AppointmentRecurrencePattern).

Properties are passed as a ``Props`` mapping: tag id (``0x0037``) for ordinary properties, or
``(property-set GUID in lower case, LID or name)`` for named properties.
"""

from __future__ import annotations

import email
import hashlib
import mimetypes
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import compressed_rtf

PropKey = int | tuple[str, int | str]
Props = Mapping[PropKey, object]

PSETID_APPOINTMENT = "00062002-0000-0000-c000-000000000046"
PSETID_TASK = "00062003-0000-0000-c000-000000000046"
PSETID_ADDRESS = "00062004-0000-0000-c000-000000000046"
PSETID_COMMON = "00062008-0000-0000-c000-000000000046"

# Ordinary property tags used below (MS-OXPROPS).
PR_IMPORTANCE = 0x0017
PR_SUBJECT = 0x0037
PR_CLIENT_SUBMIT_TIME = 0x0039
PR_SENT_REPRESENTING_NAME = 0x0042
PR_SENT_REPRESENTING_ADDRTYPE = 0x0064
PR_SENT_REPRESENTING_EMAIL = 0x0065
PR_TRANSPORT_HEADERS = 0x007D
PR_SENDER_NAME = 0x0C1A
PR_SENDER_ADDRTYPE = 0x0C1E
PR_SENDER_EMAIL = 0x0C1F
PR_DISPLAY_TO = 0x0E04
PR_DELIVERY_TIME = 0x0E06
PR_MESSAGE_FLAGS = 0x0E07
PR_BODY = 0x1000
PR_RTF_COMPRESSED = 0x1009
PR_HTML = 0x1013
PR_INTERNET_MESSAGE_ID = 0x1035
PR_REFERENCES = 0x1039
PR_IN_REPLY_TO = 0x1042
PR_FLAG_STATUS = 0x1090
PR_DISPLAY_NAME = 0x3001
PR_ADDRTYPE = 0x3002
PR_EMAIL_ADDRESS = 0x3003
PR_CREATION_TIME = 0x3007
PR_LAST_MODIFICATION_TIME = 0x3008
PR_SEARCH_KEY = 0x300B
PR_INTERNET_CPID = 0x3FDE
PR_SENDER_SMTP_ADDRESS = 0x5D01
PR_SENT_REPRESENTING_SMTP_ADDRESS = 0x5D02
PR_RECIPIENT_TYPE = 0x0C15
PR_SMTP_ADDRESS = 0x39FE
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_MIME_TAG = 0x370E
PR_ATTACH_CONTENT_ID = 0x3712

MSGFLAG_READ = 0x0001
MSGFLAG_UNSENT = 0x0008

# MIME structure headers that describe the original wire body, which a PST does not keep.
_MIME_STRUCTURE_HEADERS = frozenset(
    {"content-type", "content-transfer-encoding", "mime-version", "content-disposition", "content-id",
     "content-description", "content-md5", "content-length", "content-language-body"}
)


class RtfError(ValueError):
    """Compressed RTF that cannot be decompressed (bad header, CRC or truncated stream)."""


# --------------------------------------------------------------------------------------------
# Property helpers
# --------------------------------------------------------------------------------------------


def prop_str(props: Props, key: PropKey) -> str | None:
    """A string property, with empty strings treated as absent (Outlook writes many of those)."""
    value = props.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.strip("\x00 "):
        return value.rstrip("\x00")
    return None


def prop_int(props: Props, key: PropKey) -> int | None:
    """An integer property; booleans are not integers here."""
    value = props.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def prop_bool(props: Props, key: PropKey) -> bool | None:
    value = props.get(key)
    return bool(value) if isinstance(value, bool | int) else None


def prop_time(props: Props, key: PropKey) -> datetime | None:
    value = props.get(key)
    return value if isinstance(value, datetime) else None


def prop_bytes(props: Props, key: PropKey) -> bytes | None:
    value = props.get(key)
    return value if isinstance(value, bytes) and value else None


def clean_subject(raw: str | None) -> str:
    """Drop the two-character prefix marker Outlook stores in front of some subjects (0x01, length)."""
    if not raw:
        return ""
    if raw.startswith("\x01") and len(raw) >= 2:
        return raw[2:]
    return raw


# --------------------------------------------------------------------------------------------
# Compressed RTF (MS-OXRTFCP) and HTML de-encapsulation (MS-OXRTFEX)
# --------------------------------------------------------------------------------------------


def decompress_rtf(data: bytes) -> bytes:
    """Decompress a PR_RTF_COMPRESSED value (LZFu or uncompressed MELA) into RTF bytes."""
    if len(data) < 16:
        raise RtfError("compressed RTF is shorter than its 16-byte header")
    comp_size, raw_size = struct.unpack_from("<II", data, 0)
    if data[8:12] not in (b"LZFu", b"MELA"):
        raise RtfError(f"unknown compressed RTF type {data[8:12]!r}")
    if comp_size + 4 > len(data):
        raise RtfError(f"compressed RTF is truncated ({len(data)} of {comp_size + 4} bytes)")
    try:
        out: bytes = compressed_rtf.decompress(data)
    except Exception as exc:  # the package raises bare Exception for CRC errors
        raise RtfError(f"compressed RTF is damaged: {exc}") from exc
    return out[:raw_size] if raw_size else out


_RTF_TOKEN = re.compile(rb"\\([a-zA-Z]+)(-?\d+)? ?|\\'([0-9a-fA-F]{2})|\\(.)|([{}])|(\r\n|\n|\r)|([^\\{}\r\n]+)", re.S)


def is_html_in_rtf(rtf: bytes) -> bool:
    """True when Outlook wrapped an HTML body in RTF (\\fromhtml1 in the header)."""
    return b"\\fromhtml1" in rtf[:1024]


def html_from_rtf(rtf: bytes) -> str | None:
    """De-encapsulate HTML that Outlook stored in RTF; best effort, None when it is not HTML-in-RTF.

    Text between ``\\htmlrtf`` and ``\\htmlrtf0`` exists only for RTF readers and is dropped; the
    ``{\\*\\htmltag...}`` groups and the unsuppressed text carry the original HTML. Other ``\\*``
    destinations and the font/colour tables are skipped. The code page comes from ``\\ansicpg``.
    """
    if not is_html_in_rtf(rtf):
        return None
    cpg = re.search(rb"\\ansicpg(\d+)", rtf[:2048])
    codec = _codec_for_cpid(int(cpg.group(1))) if cpg else "cp1252"
    out = bytearray()
    state = _DeencapState()
    for m in _RTF_TOKEN.finditer(rtf):
        state.feed(m, out, codec)
    html = out.decode(codec, "replace")
    return html if "<" in html else None


class _DeencapState:
    """Group stack and suppression flags while walking RTF tokens for HTML de-encapsulation."""

    def __init__(self) -> None:
        self.stack: list[bool] = []
        self.suppressed = False
        self.depth = 0
        self.skip_from = 0  # depth of a group being skipped, 0 = none
        self.star = False
        self.uc_skip = False

    def feed(self, m: re.Match[bytes], out: bytearray, codec: str) -> None:
        word, num, hexbyte, sym, brace, _newline, text = m.groups()
        if brace is not None:
            self._brace(brace)
        elif self.skip_from:
            return
        elif word is not None:
            self._word(word.decode("ascii"), num, out, codec)
        elif sym is not None:
            self._symbol(sym, out)
        elif self.uc_skip and (hexbyte is not None or text):
            self.uc_skip = False  # the ANSI fallback after \uN is one character
            if text and not self.suppressed:
                out += text[1:]
        elif self.suppressed:
            return
        elif hexbyte is not None:
            out.append(int(hexbyte, 16))
        elif text:
            out += text

    def _brace(self, brace: bytes) -> None:
        if brace == b"{":
            self.stack.append(self.suppressed)
            self.depth += 1
            return
        if self.skip_from and self.depth <= self.skip_from:
            self.skip_from = 0
        self.depth -= 1
        if self.stack:
            self.suppressed = self.stack.pop()

    def _word(self, name: str, num: bytes | None, out: bytearray, codec: str) -> None:
        star, self.star = self.star, False
        if name in ("htmltag", "mhtmltag"):
            self.suppressed = False
        elif star or name in ("fonttbl", "colortbl", "stylesheet", "info", "pict"):
            self.skip_from = self.depth
        elif name == "htmlrtf":
            self.suppressed = num != b"0"
        elif self.suppressed:
            return
        elif name in ("par", "line"):
            out += b"\r\n"
        elif name == "tab":
            out += b"\t"
        elif name == "u" and num is not None:
            out += chr(int(num) % 0x10000).encode(codec, "xmlcharrefreplace")
            self.uc_skip = True

    def _symbol(self, sym: bytes, out: bytearray) -> None:
        if sym == b"*":
            self.star = True
        elif not self.suppressed and sym in (b"\\", b"{", b"}"):
            out += sym
        elif not self.suppressed and sym == b"~":
            out += b"\xa0"


_CPID_CODECS = {65001: "utf-8", 20127: "ascii", 28591: "latin-1", 1200: "utf-16-le", 50220: "iso2022_jp",
                932: "cp932", 936: "gbk", 949: "cp949", 950: "big5", 51932: "euc_jp", 20866: "koi8_r"}


def _codec_for_cpid(cpid: int | None) -> str:
    """Python codec for a Windows code page id, defaulting to cp1252 (Outlook's usual)."""
    if cpid is None:
        return "cp1252"
    name = _CPID_CODECS.get(cpid, f"cp{cpid}")
    try:
        "".encode(name)
    except LookupError:
        return "cp1252"
    return name


# --------------------------------------------------------------------------------------------
# E-mail
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    kind: int  # 1 To, 2 Cc, 3 Bcc (PR_RECIPIENT_TYPE)
    name: str
    address: str


@dataclass(frozen=True)
class MapiAttachment:
    """One attachment as the builder needs it; ``embedded`` is set for attached messages."""

    filename: str
    data: bytes
    mime_type: str | None = None
    content_id: str | None = None
    embedded: MapiMessage | None = None
    recurrence_exception: bool = False  # an appointment's changed occurrence, stored as an attachment


@dataclass(frozen=True)
class MapiMessage:
    """The parts of a MAPI message that go into an RFC 5322 message."""

    props: Props
    recipients: Sequence[Recipient] = ()
    attachments: Sequence[MapiAttachment] = ()
    id_hint: str = ""  # stable text used to synthesize a Message-ID when the file has none


def smtp_address(props: Props, addrtype_key: int, email_key: int, smtp_key: int) -> str:
    """Best SMTP address: the SMTP property, else the e-mail address when its type is SMTP."""
    smtp = prop_str(props, smtp_key)
    if smtp:
        return smtp
    addr = prop_str(props, email_key)
    kind = (prop_str(props, addrtype_key) or "SMTP").upper()
    if addr and kind == "SMTP" and "@" in addr:
        return addr
    return ""


def sender_of(props: Props) -> tuple[str, str]:
    """(display name, SMTP address) of the author: sent-representing first, then sender."""
    name = prop_str(props, PR_SENT_REPRESENTING_NAME) or prop_str(props, PR_SENDER_NAME) or ""
    addr = smtp_address(props, PR_SENT_REPRESENTING_ADDRTYPE, PR_SENT_REPRESENTING_EMAIL,
                        PR_SENT_REPRESENTING_SMTP_ADDRESS) or smtp_address(
        props, PR_SENDER_ADDRTYPE, PR_SENDER_EMAIL, PR_SENDER_SMTP_ADDRESS)
    return name, addr


def recipient_from_props(props: Props) -> Recipient:
    """A recipient-table row as a Recipient."""
    kind = prop_int(props, PR_RECIPIENT_TYPE) or 1
    name = prop_str(props, PR_DISPLAY_NAME) or ""
    addr = smtp_address(props, PR_ADDRTYPE, PR_EMAIL_ADDRESS, PR_SMTP_ADDRESS)
    return Recipient(kind=kind & 0x0F, name=name, address=addr)


def message_date(props: Props) -> datetime | None:
    """Date header value: submit time, else delivery, else creation time."""
    for key in (PR_CLIENT_SUBMIT_TIME, PR_DELIVERY_TIME, PR_CREATION_TIME):
        when = prop_time(props, key)
        if when is not None:
            return when
    return None


def _format_mailbox(name: str, addr: str) -> str:
    """Header text for one mailbox; a name without address becomes an empty group (RFC 5322 3.4)."""
    if addr:
        try:
            return str(Address(display_name=name, addr_spec=addr))
        except (ValueError, IndexError):
            return formataddr((name, addr))
    label = re.sub(r'[\\"]', "", name) or "undisclosed-recipients"
    return f'"{label}":;'


def _synthesized_headers(msg: MapiMessage) -> list[tuple[str, str]]:
    """From, To, Cc, Subject, Date, Message-ID and threading headers rebuilt from properties."""
    props = msg.props
    out: list[tuple[str, str]] = []
    name, addr = sender_of(props)
    if name or addr:
        out.append(("From", _format_mailbox(name, addr)))
    for kind, header in ((1, "To"), (2, "Cc")):
        boxes = [_format_mailbox(r.name, r.address) for r in msg.recipients if r.kind == kind]
        if boxes:
            out.append((header, ", ".join(boxes)))
    if not any(r.kind == 1 for r in msg.recipients):
        display_to = prop_str(props, PR_DISPLAY_TO)
        if display_to:
            out.append(("To", _format_mailbox(display_to, "")))
    out.append(("Subject", clean_subject(prop_str(props, PR_SUBJECT))))
    when = message_date(props)
    if when is not None:
        out.append(("Date", format_datetime(when.astimezone(UTC))))
    out.append(("Message-ID", prop_str(props, PR_INTERNET_MESSAGE_ID) or synthesized_message_id(msg)))
    for key, header in ((PR_IN_REPLY_TO, "In-Reply-To"), (PR_REFERENCES, "References")):
        value = prop_str(props, key)
        if value:
            out.append((header, value))
    importance = prop_int(props, PR_IMPORTANCE)
    if importance in (0, 2):
        out.append(("Importance", "low" if importance == 0 else "high"))
    return out


def synthesized_message_id(msg: MapiMessage) -> str:
    """A stable Message-ID, so that re-running an import produces the same message."""
    seed = msg.id_hint.encode() + (prop_bytes(msg.props, PR_SEARCH_KEY) or b"")
    return f"<{hashlib.sha256(seed).hexdigest()[:32]}@pst.mailferry.invalid>"


def split_header_block(text: str) -> list[tuple[str, str]]:
    """Split a raw header block into (name, raw value incl. folding) pairs, keeping the original bytes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    head = text.split("\n\n", 1)[0]
    fields: list[tuple[str, str]] = []
    for line in head.split("\n"):
        if not line:
            continue
        if line[0] in " \t" and fields:
            name, value = fields[-1]
            fields[-1] = (name, value + "\r\n" + line)
        elif ":" in line:
            name, value = line.split(":", 1)
            if name.strip() and " " not in name.strip():
                fields.append((name.strip(), value))
    return fields


def _body_parts(props: Props) -> tuple[str | None, str | None, bytes | None]:
    """(plain text, HTML, RTF) bodies, with HTML recovered from RTF when Outlook stored it there."""
    plain = prop_str(props, PR_BODY)
    html_raw = props.get(PR_HTML)
    html: str | None = None
    if isinstance(html_raw, bytes) and html_raw.strip(b"\x00"):
        html = html_raw.rstrip(b"\x00").decode(_codec_for_cpid(prop_int(props, PR_INTERNET_CPID)), "replace")
    elif isinstance(html_raw, str) and html_raw:
        html = html_raw
    rtf: bytes | None = None
    compressed = prop_bytes(props, PR_RTF_COMPRESSED)
    if compressed is not None:
        try:
            rtf = decompress_rtf(compressed)
        except RtfError:
            rtf = None
    if rtf is not None and html is None:
        html = html_from_rtf(rtf)
    if rtf is not None and (html is not None or b"\\fromtext" in rtf[:1024]):
        rtf = None  # the RTF adds nothing beyond the HTML / plain text it was made from
    return plain, html, rtf


def mime_type_for(att: MapiAttachment) -> tuple[str, str]:
    """(maintype, subtype) from the stored MIME tag, else guessed from the file name."""
    candidate = (att.mime_type or "").strip().lower()
    if not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", candidate):
        candidate = mimetypes.guess_type(att.filename)[0] or "application/octet-stream"
    maintype, subtype = candidate.split("/", 1)
    return maintype, subtype


def _add_body(mime: EmailMessage, plain: str | None, html: str | None, rtf: bytes | None) -> None:
    """Body as text/plain, text/html or multipart/alternative; RTF-only bodies stay text/rtf."""
    if plain is None and html is None and rtf is None:
        mime.set_content("", cte="7bit")
        return
    if plain is not None:
        mime.set_content(_normalize_newlines(plain))
    if html is not None:
        if plain is None:
            mime.set_content(_normalize_newlines(html), subtype="html")
        else:
            mime.add_alternative(_normalize_newlines(html), subtype="html")
    if rtf is not None:
        if plain is None and html is None:
            mime.set_content(rtf, maintype="text", subtype="rtf")
        else:
            mime.add_alternative(rtf, maintype="text", subtype="rtf")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _html_part(mime: EmailMessage) -> EmailMessage | None:
    """The text/html part, for attaching inline images next to it."""
    for part in mime.walk():
        if isinstance(part, EmailMessage) and part.get_content_type() == "text/html":
            return part
    return None


def _add_attachments(mime: EmailMessage, attachments: Iterable[MapiAttachment], html: str | None) -> None:
    """Inline images referenced by cid: go next to the HTML; everything else is an attachment."""
    for att in attachments:
        if att.embedded is not None:
            inner = email.message_from_bytes(build_rfc822(att.embedded), _class=EmailMessage, policy=policy.default)
            mime.add_attachment(inner, filename=att.filename or None)
            continue
        maintype, subtype = mime_type_for(att)
        cid = (att.content_id or "").strip("<> ")
        html_part = _html_part(mime) if cid and html and f"cid:{cid}" in html else None
        if html_part is not None:
            html_part.add_related(att.data, maintype, subtype, cid=f"<{cid}>", filename=att.filename or None,
                                  disposition="inline")
            continue
        mime.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename or "attachment",
                            cid=f"<{cid}>" if cid else None)


_SERIALIZE = policy.default.clone(linesep="\r\n", max_line_length=998)


def _kept_transport_headers(props: Props) -> list[tuple[str, str]]:
    """Transport header fields minus the MIME structure ones, values raw (folding included)."""
    transport = prop_str(props, PR_TRANSPORT_HEADERS)
    fields = split_header_block(transport or "")
    return [(n, v) for n, v in fields if n.lower() not in _MIME_STRUCTURE_HEADERS]


def _header_bytes(msg: MapiMessage, kept: list[tuple[str, str]]) -> bytes:
    """Kept transport lines byte for byte, then synthesized fields for whatever they lack."""
    raw = "".join(f"{name}:{value}\r\n" for name, value in kept).encode("utf-8", "surrogateescape")
    present = {n.lower() for n, _ in kept}
    synth = EmailMessage(policy=policy.default)
    for name, value in _synthesized_headers(msg):
        if name.lower() not in present:
            synth[name] = value
    head = synth.as_bytes(policy=_SERIALIZE).split(b"\r\n\r\n", 1)[0]
    return raw + (head + b"\r\n" if head.strip() else b"")


def _body_message(msg: MapiMessage) -> EmailMessage:
    """Only the MIME body (Content-* headers and payload) with bodies and attachments."""
    body = EmailMessage(policy=policy.default)
    plain, html, rtf = _body_parts(msg.props)
    _add_body(body, plain, html, rtf)
    _add_attachments(body, msg.attachments, html)
    for part in body.walk():
        if part is not body:
            del part["MIME-Version"]  # email adds it to every EmailMessage part; only the top needs it
    if "MIME-Version" not in body:
        body["MIME-Version"] = "1.0"
    return body


def build_rfc822(msg: MapiMessage) -> bytes:
    """An RFC 5322 message (CRLF line ends) rebuilt from MAPI properties.

    When the file kept the original transport headers, those lines are reused verbatim (trace,
    list and authentication headers, threading) except for the MIME structure headers: a PST
    stores decoded bodies and attachments, not the original wire body, so Content-Type & co. are
    rebuilt to describe the body actually emitted. Fields missing from the transport block are
    synthesized from properties.
    """
    kept = _kept_transport_headers(msg.props)
    return _header_bytes(msg, kept) + _body_message(msg).as_bytes(policy=_SERIALIZE)


# --------------------------------------------------------------------------------------------
# vCard / iCalendar text helpers
# --------------------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """vCard 3.0 / iCalendar TEXT escaping."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1 / RFC 2425 5.8.1), never inside a UTF-8 sequence."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, 74
        current += ch
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _lines(lines: Iterable[str]) -> str:
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc_stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# --------------------------------------------------------------------------------------------
# Contacts → vCard 3.0
# --------------------------------------------------------------------------------------------

_PHONES = ((0x3A08, "WORK,VOICE"), (0x3A09, "HOME,VOICE"), (0x3A1C, "CELL,VOICE"), (0x3A24, "WORK,FAX"),
           (0x3A25, "HOME,FAX"), (0x3A21, "PAGER"), (0x3A1A, "PREF,VOICE"), (0x3A1E, "CAR"), (0x3A1F, "VOICE"))
_EMAILS = ((PSETID_ADDRESS, 0x8083), (PSETID_ADDRESS, 0x8093), (PSETID_ADDRESS, 0x80A3))
_EMAIL_DISPLAY = ((PSETID_ADDRESS, 0x8084), (PSETID_ADDRESS, 0x8094), (PSETID_ADDRESS, 0x80A4))
_HOME_ADDR = (0x3A5D, 0x3A59, 0x3A5C, 0x3A5B, 0x3A5A)  # street, city, state, postal code, country
_WORK_ADDR = (0x3A29, 0x3A27, 0x3A28, 0x3A2A, 0x3A26)


def contact_emails(props: Props) -> list[str]:
    """The contact's e-mail addresses (Email1..3), SMTP ones only, in Outlook's order."""
    out: list[str] = []
    for key, display_key in zip(_EMAILS, _EMAIL_DISPLAY, strict=True):
        addr = prop_str(props, key)
        if addr and "@" in addr:
            out.append(addr)
        elif addr:
            shown = re.search(r"\(([^()\s]+@[^()\s]+)\)", prop_str(props, display_key) or "")
            if shown:
                out.append(shown.group(1))
    return out


def vcard_from_contact(props: Props, uid: str) -> str:
    """vCard 3.0 (RFC 2426) text for an IPM.Contact."""
    fn = prop_str(props, PR_DISPLAY_NAME) or prop_str(props, (PSETID_ADDRESS, 0x8005)) or ""
    n_parts = [prop_str(props, k) or "" for k in (0x3A11, 0x3A06, 0x3A44, 0x3A45, 0x3A05)]
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{_escape(uid)}", f"FN:{_escape(fn)}",
             "N:" + ";".join(_escape(p) for p in n_parts)]
    nickname = prop_str(props, 0x3A4F)
    if nickname:
        lines.append(f"NICKNAME:{_escape(nickname)}")
    for i, addr in enumerate(contact_emails(props)):
        lines.append(f"EMAIL;TYPE=INTERNET{',PREF' if i == 0 else ''}:{_escape(addr)}")
    for key, kind in _PHONES:
        number = prop_str(props, key)
        if number:
            lines.append(f"TEL;TYPE={kind}:{_escape(number)}")
    for keys, kind in ((_WORK_ADDR, "WORK"), (_HOME_ADDR, "HOME")):
        parts = [prop_str(props, k) or "" for k in keys]
        if any(parts):
            lines.append(f"ADR;TYPE={kind}:;;" + ";".join(_escape(p) for p in parts))
    company, department = prop_str(props, 0x3A16), prop_str(props, 0x3A18)
    if company or department:
        org = [company or ""] + ([department] if department else [])
        lines.append("ORG:" + ";".join(_escape(p) for p in org))
    title = prop_str(props, 0x3A17)
    if title:
        lines.append(f"TITLE:{_escape(title)}")
    birthday = prop_time(props, 0x3A42)
    if birthday is not None:
        lines.append(f"BDAY:{birthday.date().isoformat()}")
    for key in (0x3A51, 0x3A50):
        url = prop_str(props, key)
        if url:
            lines.append(f"URL:{_escape(url)}")
    note = prop_str(props, PR_BODY)
    if note and note.strip():
        lines.append(f"NOTE:{_escape(note.strip())}")
    modified = prop_time(props, PR_LAST_MODIFICATION_TIME)
    if modified is not None:
        lines.append(f"REV:{_utc_stamp(modified)}")
    lines.append("END:VCARD")
    return _lines(lines)


# --------------------------------------------------------------------------------------------
# Distribution lists
# --------------------------------------------------------------------------------------------

_ONE_OFF_UID = bytes.fromhex("812b1fa4bea310199d6e00dd010f5402")
_WRAPPED_UID = bytes.fromhex("c091add3519dcf11a4a900aa0047faa4")


def parse_multi_binary(blob: bytes) -> list[bytes]:
    """PtypMultipleBinary as a PST stores it: count, offsets, then the values back to back."""
    if len(blob) < 4:
        return []
    (count,) = struct.unpack_from("<I", blob, 0)
    if count > (len(blob) - 4) // 4:
        return []
    offsets = [*struct.unpack_from(f"<{count}I", blob, 4), len(blob)]
    return [blob[offsets[i]:offsets[i + 1]] for i in range(count)]


def parse_one_off_entry_id(entry_id: bytes) -> tuple[str, str, str] | None:
    """(display name, address type, address) from a one-off EntryID (MS-OXCDATA 2.2.5.1)."""
    if len(entry_id) < 24 or entry_id[4:20] != _ONE_OFF_UID:
        return None
    (flags,) = struct.unpack_from("<H", entry_id, 22)
    body = entry_id[24:]
    if flags & 0x8000:
        fields = body.decode("utf-16-le", "replace").split("\x00")
    else:
        fields = body.decode("cp1252", "replace").split("\x00")
    if len(fields) < 3:
        return None
    return fields[0], fields[1], fields[2]


def _binaries(props: Props, key: PropKey) -> list[bytes]:
    """A multi-valued binary property, whether already split or still in its PST encoding."""
    value = props.get(key)
    if isinstance(value, bytes):
        return parse_multi_binary(value)
    if isinstance(value, list):
        return [v for v in value if isinstance(v, bytes)]
    return []


def dist_list_members(props: Props) -> list[tuple[str, str]]:
    """(name, e-mail) per member, from the one-off member list Outlook keeps beside the member ids."""
    members: list[tuple[str, str]] = []
    for entry_id in _binaries(props, (PSETID_ADDRESS, 0x8054)):
        parsed = parse_one_off_entry_id(entry_id)
        if parsed is not None:
            members.append((parsed[0], parsed[2]))
    if members:
        return members
    for entry_id in _binaries(props, (PSETID_ADDRESS, 0x8055)):
        parsed = parse_one_off_entry_id(entry_id)
        if parsed is not None:
            members.append((parsed[0], parsed[2]))
    return members


# --------------------------------------------------------------------------------------------
# Appointments → VEVENT, with the recurrence blob (MS-OXOCAL 2.2.1.44)
# --------------------------------------------------------------------------------------------

_FILETIME_EPOCH = datetime(1601, 1, 1)
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")


def minutes_to_datetime(minutes: int) -> datetime:
    """Recurrence blobs count minutes since 1601-01-01 (in the appointment's local time)."""
    return _FILETIME_EPOCH + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Exception_:
    """A modified occurrence: where it moved to, and what changed (None = unchanged)."""

    original_start: datetime  # local time
    start: datetime
    end: datetime
    subject: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Recurrence:
    frequency: str  # DAILY / WEEKLY / MONTHLY / YEARLY
    interval: int
    by_day: tuple[str, ...] = ()
    by_month_day: int | None = None
    by_set_pos: int | None = None
    by_month: int | None = None
    count: int | None = None
    until: date | None = None
    week_start: str = "SU"
    start_date: date | None = None  # local date of the first occurrence
    start_minutes: int = 0  # local start time, minutes after midnight
    end_minutes: int = 0
    deleted: tuple[date, ...] = ()
    exceptions: tuple[Exception_, ...] = field(default=())

    def rrule(self) -> str:
        parts = [f"FREQ={self.frequency}"]
        if self.interval > 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.by_day:
            parts.append("BYDAY=" + ",".join(self.by_day))
        if self.by_month_day is not None:
            parts.append(f"BYMONTHDAY={self.by_month_day}")
        if self.by_month is not None:
            parts.append(f"BYMONTH={self.by_month}")
        if self.by_set_pos is not None:
            parts.append(f"BYSETPOS={self.by_set_pos}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        elif self.until is not None:
            parts.append(f"UNTIL={self.until.strftime('%Y%m%d')}T235959")
        parts.append(f"WKST={self.week_start}")
        return ";".join(parts)


class _Reader:
    """Little-endian cursor over a blob that raises ValueError when it runs out."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("recurrence blob is truncated")
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("recurrence blob is truncated")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def _day_mask(mask: int) -> tuple[str, ...]:
    return tuple(day for bit, day in enumerate(_DAYS) if mask & (1 << bit))


def parse_recurrence(blob: bytes) -> Recurrence:
    """Decode PidLidAppointmentRecur into an RRULE-shaped Recurrence; ValueError when malformed."""
    r = _Reader(blob)
    r.take("<H"), r.take("<H")
    freq_code, pattern, _calendar = r.take("<H"), r.take("<H"), r.take("<H")
    _first_date_time, period, _sliding = r.take("<I"), r.take("<I"), r.take("<I")
    by_day: tuple[str, ...] = ()
    by_month_day = by_set_pos = None
    if pattern == 1:
        by_day = _day_mask(r.take("<I"))
    elif pattern in (2, 3, 0xA, 0xC):
        by_month_day = -1 if pattern in (3, 0xC) else r.take("<I")
        if pattern in (3, 0xC):
            r.take("<I")
    elif pattern in (4, 0xB):
        by_day = _day_mask(r.take("<I"))
        nth = r.take("<I")
        by_set_pos = -1 if nth == 5 else nth
    end_type, occurrences, first_dow = r.take("<I"), r.take("<I"), r.take("<I")
    deleted = [r.take("<I") for _ in range(r.take("<I"))]
    modified = [r.take("<I") for _ in range(r.take("<I"))]
    start_date, end_date = r.take("<I"), r.take("<I")
    frequency = {0x200A: "DAILY", 0x200B: "WEEKLY", 0x200C: "MONTHLY", 0x200D: "YEARLY"}.get(freq_code)
    if frequency is None:
        raise ValueError(f"unknown recurrence frequency 0x{freq_code:04x}")
    interval = period
    if frequency == "DAILY" and pattern == 0:
        interval = max(1, period // 1440)
    by_month = None
    if frequency == "YEARLY":
        interval = max(1, period // 12)
        by_month = minutes_to_datetime(start_date).month
    rec = Recurrence(
        frequency=frequency, interval=max(1, interval), by_day=by_day, by_month_day=by_month_day,
        by_set_pos=by_set_pos, by_month=by_month,
        count=occurrences if end_type == 0x2022 else None,
        until=minutes_to_datetime(end_date).date() if end_type == 0x2021 else None,
        week_start=_DAYS[first_dow % 7], start_date=minutes_to_datetime(start_date).date(),
    )
    try:
        return _with_appointment_part(r, rec, deleted, modified)
    except ValueError:
        return rec  # plain RecurrencePattern (tasks) or a truncated tail: the rule itself is still good


def _with_appointment_part(r: _Reader, rec: Recurrence, deleted: list[int], modified: list[int]) -> Recurrence:
    """Read the AppointmentRecurrencePattern tail: times of day and the modified occurrences."""
    r.take("<I"), r.take("<I")
    start_minutes, end_minutes = r.take("<I"), r.take("<I")
    exceptions = [_exception_info(r) for _ in range(r.take("<H"))]
    only_deleted = sorted(set(deleted) - set(modified))
    return Recurrence(**{**rec.__dict__, "start_minutes": start_minutes, "end_minutes": end_minutes,
                         "deleted": tuple(minutes_to_datetime(d).date() for d in only_deleted),
                         "exceptions": tuple(exceptions)})


def _exception_info(r: _Reader) -> Exception_:
    """One ExceptionInfo record (MS-OXOCAL 2.2.1.44.2); 8-bit subject/location only."""
    start, end, original = r.take("<I"), r.take("<I"), r.take("<I")
    flags = r.take("<H")
    subject = location = None
    if flags & 0x0001:
        r.take("<H")
        subject = r.raw(r.take("<H")).decode("cp1252", "replace")
    for bit in (0x0002, 0x0004, 0x0008):
        if flags & bit:
            r.take("<I")
    if flags & 0x0010:
        r.take("<H")
        location = r.raw(r.take("<H")).decode("cp1252", "replace")
    for bit in (0x0020, 0x0040, 0x0080, 0x0100):
        if flags & bit:
            r.take("<I")
    return Exception_(original_start=minutes_to_datetime(original), start=minutes_to_datetime(start),
                      end=minutes_to_datetime(end), subject=subject, location=location)


@dataclass(frozen=True)
class WindowsZone:
    """PidLidTimeZoneStruct: a fixed yearly DST rule, enough for one VTIMEZONE."""

    name: str
    bias: int  # minutes, UTC = local + bias
    standard_bias: int
    daylight_bias: int
    standard: tuple[int, int, int, int] | None  # month, day-of-week, nth week, hour
    daylight: tuple[int, int, int, int] | None

    def offset(self, local: datetime) -> timedelta:
        """UTC offset at a local time (east positive)."""
        bias = self.bias + (self.daylight_bias if self._in_dst(local) else self.standard_bias)
        return timedelta(minutes=-bias)

    def _in_dst(self, local: datetime) -> bool:
        if not self.standard or not self.daylight:
            return False
        dst_start = _nth_weekday(local.year, *self.daylight)
        dst_end = _nth_weekday(local.year, *self.standard)
        if dst_start < dst_end:
            return dst_start <= local < dst_end
        return not (dst_end <= local < dst_start)

    def vtimezone(self) -> list[str]:
        lines = ["BEGIN:VTIMEZONE", f"TZID:{_escape(self.name)}"]
        std_off = _utc_offset(-(self.bias + self.standard_bias))
        if self.standard and self.daylight:
            dst_off = _utc_offset(-(self.bias + self.daylight_bias))
            for kind, rule, frm, to in (("STANDARD", self.standard, dst_off, std_off),
                                        ("DAYLIGHT", self.daylight, std_off, dst_off)):
                month, dow, nth, hour = rule
                pos = -1 if nth == 5 else nth
                lines += [f"BEGIN:{kind}", f"DTSTART:1601{month:02d}{_first_day(month, dow, nth):02d}T{hour:02d}0000",
                          f"RRULE:FREQ=YEARLY;BYMONTH={month};BYDAY={pos}{_DAYS[dow]}",
                          f"TZOFFSETFROM:{frm}", f"TZOFFSETTO:{to}", f"END:{kind}"]
        else:
            lines += ["BEGIN:STANDARD", "DTSTART:16010101T000000", f"TZOFFSETFROM:{std_off}",
                      f"TZOFFSETTO:{std_off}", "END:STANDARD"]
        lines.append("END:VTIMEZONE")
        return lines


def _utc_offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _nth_weekday(year: int, month: int, dow: int, nth: int, hour: int) -> datetime:
    """The nth (5 = last) given weekday of a month, at an hour."""
    first = datetime(year, month, 1, hour)
    day = first + timedelta(days=(dow - (first.weekday() + 1) % 7) % 7)
    for _ in range(nth - 1):
        if (day + timedelta(days=7)).month != month:
            break
        day += timedelta(days=7)
    return day


def _first_day(month: int, dow: int, nth: int) -> int:
    return _nth_weekday(1601, month, dow, nth, 0).day


def parse_timezone_struct(blob: bytes, name: str) -> WindowsZone | None:
    """Decode PidLidTimeZoneStruct (MS-OXOCAL 2.2.1.39); None when it is too short."""
    if len(blob) < 48:
        return None
    bias, std_bias, dst_bias = struct.unpack_from("<iii", blob, 0)
    std = struct.unpack_from("<8H", blob, 14)
    dst = struct.unpack_from("<8H", blob, 32)

    def rule(st: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        return (st[1], st[2], st[3], st[4]) if st[1] else None

    return WindowsZone(name=name or "Outlook time zone", bias=bias, standard_bias=std_bias, daylight_bias=dst_bias,
                       standard=rule(std), daylight=rule(dst))


def _local_stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S")


def _event_common(props: Props, uid: str) -> list[str]:
    lines = [f"UID:{_escape(uid)}"]
    stamp = prop_time(props, PR_LAST_MODIFICATION_TIME) or prop_time(props, PR_CREATION_TIME)
    lines.append(f"DTSTAMP:{_utc_stamp(stamp) if stamp else '19700101T000000Z'}")
    created = prop_time(props, PR_CREATION_TIME)
    if created is not None:
        lines.append(f"CREATED:{_utc_stamp(created)}")
    lines.append(f"SUMMARY:{_escape(clean_subject(prop_str(props, PR_SUBJECT)))}")
    body = prop_str(props, PR_BODY)
    if body and body.strip():
        lines.append(f"DESCRIPTION:{_escape(body.strip())}")
    importance = prop_int(props, PR_IMPORTANCE)
    if importance in (0, 2):
        lines.append(f"PRIORITY:{9 if importance == 0 else 1}")
    return lines


_BUSY = {0: "TRANSPARENT", 1: "OPAQUE", 2: "OPAQUE", 3: "OPAQUE", 4: "OPAQUE"}
# PidLidBusyStatus -> Outlook's own X-MICROSOFT-CDO-BUSYSTATUS, so tentative, away and elsewhere survive.
_BUSY_STATUS = {0: "FREE", 1: "TENTATIVE", 2: "BUSY", 3: "OOF", 4: "WORKINGELSEWHERE"}


def vevent_from_appointment(props: Props, uid: str, organizer: tuple[str, str] | None = None,
                            attendees: Sequence[Recipient] = ()) -> str:
    """A VCALENDAR with one VEVENT (plus overrides for modified occurrences) for an IPM.Appointment."""
    start = prop_time(props, (PSETID_APPOINTMENT, 0x820D))
    end = prop_time(props, (PSETID_APPOINTMENT, 0x820E)) or start
    all_day = bool(prop_bool(props, (PSETID_APPOINTMENT, 0x8215)))
    recurrence = _appointment_recurrence(props)
    zone = _appointment_zone(props) if recurrence is not None else None
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailferry//PST import//EN"]
    if zone is not None:
        head += zone.vtimezone()
    event = ["BEGIN:VEVENT", *_event_common(props, uid)]
    event += _event_times(start, end, all_day, recurrence, zone)
    location = prop_str(props, (PSETID_APPOINTMENT, 0x8208))
    if location:
        event.append(f"LOCATION:{_escape(location)}")
    busy = prop_int(props, (PSETID_APPOINTMENT, 0x8205))
    if busy in _BUSY:
        event += [f"TRANSP:{_BUSY[busy]}", f"X-MICROSOFT-CDO-BUSYSTATUS:{_BUSY_STATUS[busy]}"]
    if organizer and organizer[1]:
        event.append(f"ORGANIZER;CN={_param(organizer[0])}:mailto:{organizer[1]}")
    for person in attendees:
        if person.address:
            role = "OPT-PARTICIPANT" if person.kind == 2 else "REQ-PARTICIPANT"
            event.append(f"ATTENDEE;CN={_param(person.name)};ROLE={role}:mailto:{person.address}")
    if recurrence is not None:
        event.append(f"RRULE:{recurrence.rrule()}")
        event += _exdates(recurrence, zone, all_day)
    event.append("END:VEVENT")
    overrides = _override_events(props, uid, recurrence, zone, all_day) if recurrence else []
    return _lines([*head, *event, *overrides, "END:VCALENDAR"])


def _param(value: str) -> str:
    return '"' + value.replace('"', "'") + '"' if re.search(r'[;:,"]', value) else value


def _appointment_recurrence(props: Props) -> Recurrence | None:
    if not prop_bool(props, (PSETID_APPOINTMENT, 0x8223)):
        return None
    blob = prop_bytes(props, (PSETID_APPOINTMENT, 0x8216))
    if blob is None:
        return None
    try:
        return parse_recurrence(blob)
    except ValueError:
        return None


def _appointment_zone(props: Props) -> WindowsZone | None:
    blob = prop_bytes(props, (PSETID_APPOINTMENT, 0x8233))
    name = prop_str(props, (PSETID_APPOINTMENT, 0x8234)) or ""
    return parse_timezone_struct(blob, name) if blob else None


def _event_times(start: datetime | None, end: datetime | None, all_day: bool, rec: Recurrence | None,
                 zone: WindowsZone | None) -> list[str]:
    """DTSTART/DTEND: local with TZID for recurring events (so DST shifts stay right), else UTC."""
    if rec is not None and zone is not None and rec.start_date is not None:
        local_start = datetime.combine(rec.start_date, datetime.min.time()) + timedelta(minutes=rec.start_minutes)
        local_end = datetime.combine(rec.start_date, datetime.min.time()) + timedelta(minutes=rec.end_minutes)
        if all_day:
            return [f"DTSTART;VALUE=DATE:{local_start:%Y%m%d}", f"DTEND;VALUE=DATE:{local_end:%Y%m%d}"]
        tzid = _param(zone.name)
        return [f"DTSTART;TZID={tzid}:{_local_stamp(local_start)}", f"DTEND;TZID={tzid}:{_local_stamp(local_end)}"]
    if start is None:
        return []
    if all_day:
        end_day = (end or start).date()
        return [f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end_day:%Y%m%d}"]
    return [f"DTSTART:{_utc_stamp(start)}", f"DTEND:{_utc_stamp(end or start)}"]


def _exdates(rec: Recurrence, zone: WindowsZone | None, all_day: bool) -> list[str]:
    out = []
    for day in rec.deleted:
        local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=rec.start_minutes)
        if all_day:
            out.append(f"EXDATE;VALUE=DATE:{day:%Y%m%d}")
        elif zone is not None:
            out.append(f"EXDATE;TZID={_param(zone.name)}:{_local_stamp(local)}")
    return out


def _override_events(props: Props, uid: str, rec: Recurrence, zone: WindowsZone | None,
                     all_day: bool) -> list[str]:
    """One VEVENT per modified occurrence, keyed by RECURRENCE-ID."""
    if zone is None or all_day:
        return []
    tzid = _param(zone.name)
    out: list[str] = []
    for exc in rec.exceptions:
        original = exc.original_start.replace(hour=0, minute=0) + timedelta(minutes=rec.start_minutes) \
            if exc.original_start.hour == 0 and exc.original_start.minute == 0 else exc.original_start
        lines = ["BEGIN:VEVENT", *_event_common(props, uid)]
        if exc.subject is not None:
            lines = [line for line in lines if not line.startswith("SUMMARY:")] + [f"SUMMARY:{_escape(exc.subject)}"]
        lines += [f"RECURRENCE-ID;TZID={tzid}:{_local_stamp(original)}",
                  f"DTSTART;TZID={tzid}:{_local_stamp(exc.start)}", f"DTEND;TZID={tzid}:{_local_stamp(exc.end)}"]
        if exc.location is not None:
            lines.append(f"LOCATION:{_escape(exc.location)}")
        lines.append("END:VEVENT")
        out += lines
    return out


# --------------------------------------------------------------------------------------------
# Tasks → VTODO
# --------------------------------------------------------------------------------------------

_TASK_STATUS = {0: "NEEDS-ACTION", 1: "IN-PROCESS", 2: "COMPLETED", 3: "NEEDS-ACTION", 4: "CANCELLED"}


def vtodo_from_task(props: Props, uid: str) -> str:
    """A VCALENDAR with one VTODO for an IPM.Task (recurring tasks: first occurrence only)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailferry//PST import//EN", "BEGIN:VTODO",
             *_event_common(props, uid)]
    for key, name in (((PSETID_TASK, 0x8104), "DTSTART"), ((PSETID_TASK, 0x8105), "DUE")):
        when = prop_time(props, key)
        if when is not None and when.year < 4500:
            lines.append(f"{name};VALUE=DATE:{when:%Y%m%d}")
    status = prop_int(props, (PSETID_TASK, 0x8101))
    complete = prop_bool(props, (PSETID_TASK, 0x811C))
    if complete:
        status = 2
    if status in _TASK_STATUS:
        lines.append(f"STATUS:{_TASK_STATUS[status]}")
    percent = props.get((PSETID_TASK, 0x8102))
    if isinstance(percent, float | int) and not isinstance(percent, bool):
        lines.append(f"PERCENT-COMPLETE:{round(float(percent) * 100)}")
    done = prop_time(props, (PSETID_TASK, 0x810F))
    if done is not None and status == 2:
        lines.append(f"COMPLETED:{_utc_stamp(done)}")
    lines += ["END:VTODO", "END:VCALENDAR"]
    return _lines(lines)
