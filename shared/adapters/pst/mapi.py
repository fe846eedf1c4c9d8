"""Pure builders that turn MAPI properties (as read from a PST/OST) into portable formats.

Nothing here touches pypff or the file system, so every rule can be unit-tested with hand-made
property dicts: RFC 5322 e-mail; contacts, appointments and tasks as the neutral records of
shared.formats (written as vCard 3.0 and iCalendar by the shared writers); compressed-RTF decompression
(MS-OXRTFCP), HTML de-encapsulation from RTF (MS-OXRTFEX, best effort) and the Outlook recurrence
blob (MS-OXOCAL AppointmentRecurrencePattern).

Properties are passed as a ``Props`` mapping: tag id (``0x0037``) for ordinary properties, or
``(property-set GUID in lower case, LID or name)`` for named properties.
"""

from __future__ import annotations

import base64
import email
import hashlib
import mimetypes
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import compressed_rtf

from shared.adapters.pst import item_fields
from shared.formats import free_busy, ical
from shared.formats.vcard import Address as PostalAddress
from shared.formats.vcard import ContactCard, TypedValue, serialize_vcard

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
    kind: int  # 1 To, 2 Cc, 3 Bcc (PR_RECIPIENT_TYPE); on a meeting: required, optional, resource
    name: str
    address: str
    response: int | None = None  # PR_RECIPIENT_TRACKSTATUS on a meeting: 2 tentative, 3 accepted, 4 declined


@dataclass(frozen=True)
class MapiAttachment:
    """One attachment as the builder needs it; ``embedded`` is set for attached messages."""

    filename: str
    data: bytes
    mime_type: str | None = None
    content_id: str | None = None
    embedded: MapiMessage | None = None
    recurrence_exception: bool = False  # an appointment's changed occurrence, stored as an attachment
    contact_photo: bool = False  # PR_ATTACHMENT_CONTACTPHOTO: a contact's picture
    inline: bool = False  # PR_ATTACHMENT_HIDDEN: shown in the body (an image its HTML refers to), not listed


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
    return Recipient(kind=kind & 0x0F, name=name, address=addr, response=prop_int(props, 0x5FFF))


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


def contact_card(props: Props, uid: str, photo: MapiAttachment | None = None) -> ContactCard:
    """The neutral contact record of an IPM.Contact; ``photo`` is its contact-photo attachment."""
    card = ContactCard(
        formatted_name=prop_str(props, PR_DISPLAY_NAME) or prop_str(props, (PSETID_ADDRESS, 0x8005)) or "",
        family_name=prop_str(props, 0x3A11) or "", given_name=prop_str(props, 0x3A06) or "",
        middle_name=prop_str(props, 0x3A44) or "", prefix=prop_str(props, 0x3A45) or "",
        suffix=prop_str(props, 0x3A05) or "", nickname=prop_str(props, 0x3A4F) or None,
        title=prop_str(props, 0x3A17) or None, uid=uid,
    )
    card.emails = [TypedValue(a, ["internet"], 1 if i == 0 else None) for i, a in enumerate(contact_emails(props))]
    for key, kind in _PHONES:
        number = prop_str(props, key)
        if number:
            types = kind.lower().split(",")
            card.phones.append(TypedValue(number, [t for t in types if t != "pref"], 1 if "pref" in types else None))
    for keys, kind in ((_WORK_ADDR, "work"), (_HOME_ADDR, "home")):
        street, city, state, code, country = (prop_str(props, k) or "" for k in keys)
        if any((street, city, state, code, country)):
            card.addresses.append(PostalAddress(street, city, state, code, country, types=[kind]))
    company, department = prop_str(props, 0x3A16), prop_str(props, 0x3A18)
    if company or department:
        card.organization, card.department = company or "", department or None
    birthday = prop_time(props, 0x3A42)
    card.birthday = item_fields.day_of(birthday) if birthday is not None else None
    card.urls = [TypedValue(url) for url in (prop_str(props, 0x3A51), prop_str(props, 0x3A50)) if url]
    note = prop_str(props, PR_BODY)
    card.note = note.strip() if note and note.strip() else None
    item_fields.add_contact_fields(props, card)
    if photo is not None and photo.data:
        card.photo = base64.b64encode(photo.data).decode("ascii")
        card.photo_type = photo.mime_type or mimetypes.guess_type(photo.filename)[0] or "image/jpeg"
    modified = prop_time(props, PR_LAST_MODIFICATION_TIME)
    if modified is not None:
        card.extra.append(f"REV:{modified.astimezone(UTC):%Y%m%dT%H%M%SZ}")  # an RFC 6350 timestamp value
    return card


def vcard_from_contact(props: Props, uid: str, photo: MapiAttachment | None = None,
                       extra: Sequence[str] = ()) -> str:
    """vCard 3.0 (RFC 2426) text for an IPM.Contact, written by the shared vCard writer; ``extra``: more lines
    (its attachments')."""
    card = contact_card(props, uid, photo)
    card.extra.extend(extra)
    return serialize_vcard(card, "3.0")


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
    reminder_delta: int | None = None
    reminder_set: bool | None = None
    busy_status: int | None = None


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
    regenerates: bool = False  # SlidingFlag: a task made again a period after each completion (tasks only)

    def rule(self) -> ical.RecurrenceRule:
        """The pattern as the neutral RRULE record (UNTIL: the end day's last second, local time)."""
        return ical.RecurrenceRule(
            freq=self.frequency, interval=self.interval, by_day=[(None, d) for d in self.by_day],
            by_month_day=[] if self.by_month_day is None else [self.by_month_day],
            by_month=[] if self.by_month is None else [self.by_month],
            by_set_pos=[] if self.by_set_pos is None else [self.by_set_pos],
            count=self.count,
            until=datetime.combine(self.until, time(23, 59, 59)) if self.until and self.count is None else None,
            week_start=self.week_start,
        )


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
    _first_date_time, period, sliding = r.take("<I"), r.take("<I"), r.take("<I")
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
        regenerates=bool(sliding & 1),
    )
    try:
        return _with_appointment_part(r, rec, deleted, modified)
    except ValueError:
        return rec  # plain RecurrencePattern (tasks) or a truncated tail: the rule itself is still good


def _with_appointment_part(r: _Reader, rec: Recurrence, deleted: list[int], modified: list[int]) -> Recurrence:
    """Read the AppointmentRecurrencePattern tail: times of day and the modified occurrences."""
    r.take("<I")
    writer = r.take("<I")  # WriterVersion2
    start_minutes, end_minutes = r.take("<I"), r.take("<I")
    exceptions = [_exception_info(r) for _ in range(r.take("<H"))]
    try:
        exceptions = _wide_texts(r, writer, exceptions)
    except ValueError:
        pass  # no or a cut ExtendedException part: the 8-bit subjects and locations stay
    only_deleted = sorted(set(deleted) - set(modified))
    return Recurrence(**{**rec.__dict__, "start_minutes": start_minutes, "end_minutes": end_minutes,
                         "deleted": tuple(minutes_to_datetime(d).date() for d in only_deleted),
                         "exceptions": tuple(exceptions)})


def _wide_texts(r: _Reader, writer: int, exceptions: list[Exception_]) -> list[Exception_]:
    """The Unicode subject and location of each changed occurrence, from the ExtendedException records that
    follow the ExceptionInfo ones (MS-OXOCAL 2.2.1.44.3); the ExceptionInfo's are 8-bit, in the writer's code
    page."""
    r.raw(r.take("<I"))  # ReservedBlock1
    out: list[Exception_] = []
    for exc in exceptions:
        if writer >= 0x3009:
            r.raw(r.take("<I"))  # ChangeHighlight: its size, then that many bytes
        r.raw(r.take("<I"))  # ReservedBlockEE1
        subject, location = exc.subject, exc.location
        if subject is not None or location is not None:
            r.take("<I"), r.take("<I"), r.take("<I")  # start, end, original start again
            if exc.subject is not None:
                subject = r.raw(2 * r.take("<H")).decode("utf-16-le", "replace")
            if exc.location is not None:
                location = r.raw(2 * r.take("<H")).decode("utf-16-le", "replace")
            r.raw(r.take("<I"))  # ReservedBlockEE2
        out.append(replace(exc, subject=subject, location=location))
    return out


def _exception_info(r: _Reader) -> Exception_:
    """One ExceptionInfo record (MS-OXOCAL 2.2.1.44.2); 8-bit subject/location only."""
    start, end, original = r.take("<I"), r.take("<I"), r.take("<I")
    flags = r.take("<H")
    subject = location = None
    if flags & 0x0001:
        r.take("<H")
        subject = r.raw(r.take("<H")).decode("cp1252", "replace")
    values: dict[int, int] = {}
    for bit in (0x0002, 0x0004, 0x0008):  # meeting type, reminder delta, reminder set
        if flags & bit:
            values[bit] = r.take("<I")
    if flags & 0x0010:
        r.take("<H")
        location = r.raw(r.take("<H")).decode("cp1252", "replace")
    for bit in (0x0020, 0x0040, 0x0080, 0x0100):  # busy status, attachment, all-day, colour
        if flags & bit:
            values[bit] = r.take("<I")
    reminder_set = bool(values[0x0008]) if 0x0008 in values else None
    return Exception_(original_start=minutes_to_datetime(original), start=minutes_to_datetime(start),
                      end=minutes_to_datetime(end), subject=subject, location=location,
                      reminder_delta=values.get(0x0004), reminder_set=reminder_set, busy_status=values.get(0x0020))


@dataclass(frozen=True)
class WindowsZone(tzinfo):
    """PidLidTimeZoneStruct: a fixed yearly DST rule; a tzinfo over local wall times."""

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

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None if dt is None else self.offset(dt.replace(tzinfo=None))

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None
        return timedelta(minutes=-self.daylight_bias) if self._in_dst(dt.replace(tzinfo=None)) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str | None:
        offset = self.offset(dt.replace(tzinfo=None)) if dt is not None else timedelta(minutes=-self.bias)
        minutes = int(offset.total_seconds()) // 60
        return f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _nth_weekday(year: int, month: int, dow: int, nth: int, hour: int) -> datetime:
    """The nth (5 = last) given weekday of a month, at an hour."""
    first = datetime(year, month, 1, hour)
    day = first + timedelta(days=(dow - (first.weekday() + 1) % 7) % 7)
    for _ in range(nth - 1):
        if (day + timedelta(days=7)).month != month:
            break
        day += timedelta(days=7)
    return day


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


def _common(rec: ical.EventRecord | ical.TaskRecord, props: Props, uid: str) -> None:
    """What events, their changed occurrences and tasks share: UID, stamps, subject, body, importance."""
    rec.uid = uid
    stamp = prop_time(props, PR_LAST_MODIFICATION_TIME) or prop_time(props, PR_CREATION_TIME)
    rec.extra.append(ical.kept_line("DTSTAMP", stamp or datetime(1970, 1, 1, tzinfo=UTC)))
    created = prop_time(props, PR_CREATION_TIME)
    if created is not None:
        rec.extra.append(ical.kept_line("CREATED", created))
    rec.summary = clean_subject(prop_str(props, PR_SUBJECT))
    body = prop_str(props, PR_BODY)
    rec.description = body.strip() if body and body.strip() else None
    importance = prop_int(props, PR_IMPORTANCE)
    rec.priority = {0: 9, 2: 1}.get(importance) if importance is not None else None
    rec.classification = item_fields.classification(props)
    rec.categories = item_fields.categories(props)


# PidLidBusyStatus -> Exchange's name for it, which shared.formats.free_busy writes (TRANSP and Outlook's own
# X-MICROSOFT-CDO-BUSYSTATUS), so tentative, away and elsewhere survive.
_BUSY_STATUS = {0: "Free", 1: "Tentative", 2: "Busy", 3: "OOF", 4: "WorkingElsewhere"}
_PST_PRODID = "-//mailferry//PST import//EN"
# PR_RECIPIENT_TRACKSTATUS (MS-OXOCAL 2.2.4.7) -> PARTSTAT; 0 (none) says nothing, 1 is the organizer.
_RESPONSES = {1: "ACCEPTED", 2: "TENTATIVE", 3: "ACCEPTED", 4: "DECLINED", 5: "NEEDS-ACTION"}


def appointment_event(props: Props, uid: str, organizer: tuple[str, str] | None = None,
                      attendees: Sequence[Recipient] = (), exception_items: Sequence[Props] = ()) -> ical.EventRecord:
    """The neutral event record of an IPM.Appointment, its changed occurrences as ``exceptions``.

    ``exception_items``: the properties of the series' exception attachments (embedded messages), which
    hold a changed occurrence's own body."""
    start = prop_time(props, (PSETID_APPOINTMENT, 0x820D))
    end = prop_time(props, (PSETID_APPOINTMENT, 0x820E)) or start
    all_day = bool(prop_bool(props, (PSETID_APPOINTMENT, 0x8215)))
    recurrence = _appointment_recurrence(props)
    zone = _event_zone(props, recurrence) if recurrence is not None else None
    event = ical.EventRecord()
    _common(event, props, uid)
    event.start, event.end = _event_times(start, end, all_day, recurrence, zone)
    event.location = prop_str(props, (PSETID_APPOINTMENT, 0x8208)) or None
    busy = prop_int(props, (PSETID_APPOINTMENT, 0x8205))
    free_busy.to_ical(_BUSY_STATUS.get(busy) if busy is not None else None, event)
    event.alarms = item_fields.relative_alarm(item_fields.reminder_minutes(props))
    if organizer and organizer[1]:
        event.organizer = ical.Attendee(f"mailto:{organizer[1]}", name=organizer[0])
    event.attendees = [ical.Attendee(f"mailto:{p.address}", name=p.name,
                                     role="OPT-PARTICIPANT" if p.kind == 2 else "NON-PARTICIPANT" if p.kind == 3
                                     else "REQ-PARTICIPANT", status=_RESPONSES.get(p.response or 0),
                                     kind="RESOURCE" if p.kind == 3 else None)
                       for p in attendees if p.address]
    if recurrence is not None:
        event.rrule = recurrence.rule()
        event.exdates = _exdates(recurrence, zone, all_day)
        event.exceptions = _changed_occurrences(event, props, recurrence, zone, all_day, exception_items)
    return event


def vevent_from_appointment(props: Props, uid: str, organizer: tuple[str, str] | None = None,
                            attendees: Sequence[Recipient] = (), exception_items: Sequence[Props] = (),
                            extra: Sequence[str] = ()) -> str:
    """A VCALENDAR with one VEVENT (plus overrides for changed occurrences) for an IPM.Appointment; ``extra``:
    more lines for the series' VEVENT (its attachments')."""
    event = appointment_event(props, uid, organizer, attendees, exception_items)
    event.extra.extend(extra)
    return ical.serialize_calendar(ical.Calendar(events=[event]), prodid=_PST_PRODID)


def _recurrence(props: Props, recurring: bool, blob_key: PropKey) -> Recurrence | None:
    """The pattern stored under ``blob_key`` when the item recurs; None when it does not, or the blob is absent or
    cannot be read."""
    blob = prop_bytes(props, blob_key) if recurring else None
    if blob is None:
        return None
    try:
        return parse_recurrence(blob)
    except ValueError:
        return None


def _appointment_recurrence(props: Props) -> Recurrence | None:
    return _recurrence(props, bool(prop_bool(props, (PSETID_APPOINTMENT, 0x8223))), (PSETID_APPOINTMENT, 0x8216))


def _event_zone(props: Props, rec: Recurrence) -> ical.VTimezone | None:
    """The series' Outlook time zone as a custom zone, its VTIMEZONE covering the series (30 years if endless)."""
    blob = prop_bytes(props, (PSETID_APPOINTMENT, 0x8233))
    zone = parse_timezone_struct(blob, prop_str(props, (PSETID_APPOINTMENT, 0x8234)) or "") if blob else None
    if zone is None or rec.start_date is None:
        return None
    first = min(max(rec.start_date.year, 1900), 2100)
    last = rec.until.year if rec.until is not None else first + (1 if rec.count is not None else 30)
    return ical.vtimezone_for(zone, zone.name, date(first, 1, 1), date(min(max(last, first), 2100) + 1, 1, 1))


def _local(day: date, minutes: int, zone: tzinfo) -> datetime:
    return (datetime.combine(day, time()) + timedelta(minutes=minutes)).replace(tzinfo=zone)


def _event_times(start: datetime | None, end: datetime | None, all_day: bool, rec: Recurrence | None,
                 zone: ical.VTimezone | None) -> tuple[ical.DateOrDateTime | None, ical.DateOrDateTime | None]:
    """Start and end: local with the zone for recurring events (so DST shifts stay right), else UTC."""
    if rec is not None and zone is not None and rec.start_date is not None:
        local_start, local_end = _local(rec.start_date, rec.start_minutes, zone), _local(rec.start_date,
                                                                                          rec.end_minutes, zone)
        if all_day:
            return local_start.date(), local_end.date()
        return local_start, local_end
    if start is None:
        return None, None
    if all_day:  # midnight where it was made, stored in UTC: the evening before for a zone east of UTC
        return item_fields.day_of(start), item_fields.day_of(end or start)
    return start.astimezone(UTC), (end or start).astimezone(UTC)


def _exdates(rec: Recurrence, zone: ical.VTimezone | None, all_day: bool) -> list[ical.DateOrDateTime]:
    if all_day:
        return list(rec.deleted)
    return [_local(day, rec.start_minutes, zone) for day in rec.deleted] if zone is not None else []


def _changed_occurrences(master: ical.EventRecord, props: Props, rec: Recurrence, zone: ical.VTimezone | None,
                         all_day: bool, exception_items: Sequence[Props]) -> list[ical.EventRecord]:
    """One override per changed occurrence, keyed by RECURRENCE-ID: what the exception record changes
    (MS-OXOCAL 2.2.1.44.2), its own body from its exception attachment, the rest as the series has it."""
    if zone is None and not all_day:
        return []
    bodies: dict[datetime, str | None] = {}
    for item in exception_items:
        start = prop_time(item, (PSETID_APPOINTMENT, 0x820D))
        body = prop_str(item, PR_BODY)
        if start is not None:
            bodies[start.astimezone(UTC)] = body.strip() if body and body.strip() else None
    out: list[ical.EventRecord] = []
    for exc in rec.exceptions:
        original = exc.original_start
        if original.hour == 0 and original.minute == 0:  # stored as the day: the series' time of day
            original = original + timedelta(minutes=rec.start_minutes)
        override = ical.EventRecord()
        _common(override, props, master.uid or "")
        override.summary = exc.subject if exc.subject is not None else override.summary
        if all_day:  # local days; the body is matched by the day the occurrence moved to
            override.recurrence_id, override.start, override.end = original.date(), exc.start.date(), exc.end.date()
            days = {item_fields.day_of(when): body for when, body in bodies.items()}
            override.description = days.get(exc.start.date(), master.description)
        else:
            override.recurrence_id = original.replace(tzinfo=zone)
            override.start, override.end = exc.start.replace(tzinfo=zone), exc.end.replace(tzinfo=zone)
            override.description = bodies.get(override.start.astimezone(UTC), master.description)
        override.location = exc.location if exc.location is not None else master.location
        free_busy.to_ical(_BUSY_STATUS.get(exc.busy_status) if exc.busy_status is not None
                          else free_busy.from_ical(master), override)
        override.alarms = item_fields.relative_alarm(
            item_fields.reminder_minutes(props, exc.reminder_set, exc.reminder_delta))
        out.append(override)
    return out


# --------------------------------------------------------------------------------------------
# Tasks → VTODO
# --------------------------------------------------------------------------------------------

_TASK_STATUS = {0: "NEEDS-ACTION", 1: "IN-PROCESS", 2: "COMPLETED", 3: "IN-PROCESS", 4: "CANCELLED"}


def task_record(props: Props, uid: str) -> ical.TaskRecord:
    """The neutral task record of an IPM.Task, with its recurrence (:func:`task_recurrence`)."""
    task = ical.TaskRecord()
    _common(task, props, uid)
    for key, attr in (((PSETID_TASK, 0x8104), "start"), ((PSETID_TASK, 0x8105), "due")):
        when = prop_time(props, key)
        if when is not None and when.year < 4500:
            setattr(task, attr, when.date())
    recurrence = task_recurrence(props)
    if recurrence is not None and not recurrence.regenerates:
        rule = recurrence.rule()
        rule.until = recurrence.until if rule.until is not None else None  # a day, as DTSTART is one
        task.rrule = rule
        if task.start is None:  # RFC 5545 wants DTSTART beside an RRULE: the pattern's first day
            task.start = recurrence.start_date
    status = prop_int(props, (PSETID_TASK, 0x8101))
    if prop_bool(props, (PSETID_TASK, 0x811C)):
        status = 2
    task.status = _TASK_STATUS.get(status) if status is not None else None
    if status in item_fields.TASK_STATUS_WORD:  # waiting and deferred, as an Exchange source says them
        task.extra.append(f"X-MS-TASK-STATUS:{item_fields.TASK_STATUS_WORD[status]}")
    task.alarms = item_fields.task_alarm(props)
    percent = props.get((PSETID_TASK, 0x8102))
    if isinstance(percent, float | int) and not isinstance(percent, bool):
        task.percent_complete = round(float(percent) * 100)
    done = prop_time(props, (PSETID_TASK, 0x810F))
    if done is not None and status == 2:
        task.completed = done.astimezone(UTC)
    return task


def task_recurrence(props: Props) -> Recurrence | None:
    """A recurring task's pattern: PidLidTaskRecurrence (MS-OXOTASK 2.2.2.2.15) holds the RecurrencePattern of
    MS-OXOCAL 2.2.1.44.1 that appointments start with. None when the task does not recur (PidLidTaskFRecurring
    unset), is the last of its series (PidLidTaskDeadOccurrence) or its pattern cannot be read."""
    recurring = bool(prop_bool(props, (PSETID_TASK, 0x8126))) and not prop_bool(props, (PSETID_TASK, 0x8109))
    return _recurrence(props, recurring, (PSETID_TASK, 0x8116))


def task_notes(props: Props) -> list[str]:
    """What a task's recurrence cannot carry, for the report."""
    recurrence = task_recurrence(props)
    if recurrence is not None and recurrence.regenerates:
        unit = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year"}[recurrence.frequency]
        return [f"regenerating recurrence (a new task {recurrence.interval} {unit}(s) after each is completed): "
                "iCalendar has no such rule; the task is carried once, without recurrence"]
    return []


def vtodo_from_task(props: Props, uid: str, extra: Sequence[str] = ()) -> str:
    """A VCALENDAR with one VTODO for an IPM.Task; ``extra``: more lines (its attachments')."""
    task = task_record(props, uid)
    task.extra.extend(extra)
    return ical.serialize_calendar(ical.Calendar(tasks=[task]), prodid=_PST_PRODID)
