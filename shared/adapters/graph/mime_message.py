"""A message's MIME bytes as the Graph message to create (pure: no request is made here).

Why JSON and not a MIME post: Graph turns a MIME post (``Content-Type: text/plain``, base64) into a draft,
and a message's flags (PR_MESSAGE_FLAGS, with its "unsent" bit) are read only when the item is created; a
MIME post carries no JSON, so no extended property can go with it, and the copy would stay a draft for good.
The JSON create takes the MAPI properties in the same request (what alcionai/corso's mail restore does):
PR_MESSAGE_FLAGS without the unsent bit (read or not), PR_MESSAGE_DELIVERY_TIME (the received time, from
INTERNALDATE) and PR_CLIENT_SUBMIT_TIME (the sent time, from ``Date:``). The price: Exchange renders the
MIME of such a message from its properties, so the header block and the body encoding are Exchange's; the
original header block is kept in PR_TRANSPORT_MESSAGE_HEADERS (0x007D, the "Internet headers" Outlook
shows). Attachments travel beside the message: small ones in the create, large ones (above
:data:`INLINE_ATTACHMENT`) through upload sessions. The README's fidelity table says what survives.
"""

from __future__ import annotations

import base64
import email
import email.errors
import email.header
import email.policy
import email.utils
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from shared.formats.keywords import FLAG_COMPLETE, FLAG_FLAGGED, categories, follow_up, last_verb
from shared.mail_dates import header_date

PR_MESSAGE_FLAGS = "Integer 0x0E07"
PR_MESSAGE_DELIVERY_TIME = "SystemTime 0x0E06"
PR_CLIENT_SUBMIT_TIME = "SystemTime 0x0039"
PR_TRANSPORT_MESSAGE_HEADERS = "String 0x007D"
#: Answered and forwarded: the last verb Outlook shows ("You replied on ..."), and its icon.
PR_LAST_VERB_EXECUTED = "Integer 0x1081"
PR_ICON_INDEX = "Integer 0x1080"
#: The mailferry marker of a created item: found again after a crash (named property, our own GUID).
MARKER = "String {8f2b5a43-1c1e-4d5e-9a57-6d2f0c3b7e11} Name mailferry-item"
READ, UNSENT = 0x1, 0x8
#: Attachments up to this size go in the create request (Graph takes at most 4 MB per request, base64
#: grows a third); larger ones go through an upload session, in pieces of :data:`UPLOAD_PIECE`.
INLINE_ATTACHMENT = 2 * 1024 * 1024
INLINE_TOTAL = 2_900_000
UPLOAD_PIECE = 320 * 1024 * 10  # a multiple of 320 KiB, as Graph asks for upload ranges
MAX_HEADER_BLOCK = 64 * 1024
_IMPORTANCE = {"high": "high", "urgent": "high", "low": "low", "non-urgent": "low", "normal": "normal"}


@dataclass
class FileAttachment:
    name: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.type": "#microsoft.graph.fileAttachment", "name": self.name,
                               "contentType": self.content_type, "isInline": self.inline,
                               "contentBytes": base64.b64encode(self.content).decode("ascii")}
        if self.content_id:
            out["contentId"] = self.content_id
        return out

    def upload_item(self) -> dict[str, Any]:
        """The AttachmentItem of createUploadSession."""
        out: dict[str, Any] = {"attachmentType": "file", "name": self.name, "size": len(self.content),
                               "contentType": self.content_type, "isInline": self.inline}
        if self.content_id:
            out["contentId"] = self.content_id
        return out


@dataclass
class GraphMessage:
    """The create request's body, and the attachments too large to go in it."""

    body: dict[str, Any]
    uploads: list[FileAttachment] = field(default_factory=list)
    lossy: list[str] = field(default_factory=list)


def message_flags(flags: Sequence[str]) -> int:
    """PR_MESSAGE_FLAGS for IMAP flags: read, and unsent only for a draft."""
    lowered = {f.lower() for f in flags}
    return (READ if "\\seen" in lowered else 0) | (UNSENT if "\\draft" in lowered else 0)


def systime(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _addresses(values: list[str]) -> tuple[list[tuple[str, str]], bool]:
    """(display name, address) pairs, and whether some of the field could not be read.

    The standard library's address parser recurses once per word of a phrase: a field of thousands of
    encoded words (real mail has them) exhausts the stack. Then each comma-separated piece is read alone and a
    piece still too deep is left out (the whole header block stays in the Internet headers)."""
    try:
        return email.utils.getaddresses(values), False
    except RecursionError:
        pass
    out: list[tuple[str, str]] = []
    for piece in ",".join(values).split(","):
        try:
            out += email.utils.getaddresses([piece])
        except RecursionError:
            continue
    return out, True


def _recipients(msg: Message, name: str, lossy: list[str] | None = None) -> list[dict[str, Any]]:
    values = [str(v) for v in msg.get_all(name) or []]
    out = []
    pairs, partial = _addresses(values)
    if partial and lossy is not None:
        lossy.append(f"the {name} field was too deep to read whole: the addresses that could be read were kept")
    for display, address in pairs:
        if address and "@" in address:
            out.append({"emailAddress": {"address": address, "name": _decoded(display) if display else address}})
    return out


def _text(value: Any) -> str:
    return str(value or "").replace("\r", " ").replace("\n", " ").strip()


def _decoded(value: Any) -> str:
    """An encoded-word header as text; a broken one (unknown charset, bad encoding) as it stands."""
    try:
        return _text(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError, email.errors.MessageError):  # CharsetError: a charset of bytes
        return _text(value)


def _decode(content: bytes, charset: str | None) -> str:
    try:
        return content.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # a charset unknown to Python, or one with a NUL: as UTF-8, the rest replaced
        return content.decode("utf-8", "replace")


def header_block(data: bytes) -> str:
    """The original header block, as text (undecodable bytes as U+FFFD), bounded."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    head = data if end < 0 else data[:end]
    return head[:MAX_HEADER_BLOCK].decode("utf-8", "replace")


def _sent(msg: Message) -> datetime | None:
    value = msg.get("Date")
    when = header_date(str(value)) if value is not None else None
    return when.astimezone(UTC) if when is not None else None


def _leaves(msg: Message) -> list[Message]:
    """The parts that hold content, in order; an attached message is one part (its own parts are its own)."""
    if msg.get_content_type() == "message/rfc822" or not msg.is_multipart():
        return [msg]
    payload = msg.get_payload()
    return [leaf for part in payload if isinstance(part, Message) for leaf in _leaves(part)] \
        if isinstance(payload, list) else [msg]


def _filename(part: Message) -> str | None:
    """The part's file name; an RFC 2231 one in a charset Python cannot use (a NUL in its name) read as UTF-8."""
    try:
        return part.get_filename()
    except (ValueError, LookupError, UnicodeError):
        value = part.get_param("filename", header="content-disposition") or part.get_param("name")
        if isinstance(value, tuple):  # (charset, language, the %-decoded bytes as Latin-1 text)
            return _text(str(value[2]).encode("latin-1", "replace").decode("utf-8", "replace")) or None
        return _text(value) or None


def _flattened(inner: Message) -> bytes:
    """An attached message's bytes for its .eml file; one whose headers the bytes generator cannot write (text
    that is not ASCII where it wants ASCII) as text, in UTF-8."""
    try:
        return inner.as_bytes()
    except (UnicodeError, LookupError, ValueError):
        return inner.as_string().encode("utf-8", "surrogateescape")


def _walk(msg: Message, lossy: list[str]) -> tuple[dict[str, str] | None, list[FileAttachment]]:
    """The body (HTML before text) and the attachments; an attached message travels as an .eml file."""
    text: str | None = None
    html: str | None = None
    files: list[FileAttachment] = []
    for part in _leaves(msg):
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = _filename(part)
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        cid = str(part.get("Content-ID") or "").strip().strip("<>") or None
        if ctype == "message/rfc822":
            inner = part.get_payload()
            raw = _flattened(inner[0]) if isinstance(inner, list) and inner and isinstance(inner[0], Message) \
                else content
            files.append(FileAttachment(filename or "attached message.eml", "message/rfc822", raw))
            lossy.append("an attached message became an .eml file attachment")
            continue
        if filename or disposition == "attachment" or (cid and not ctype.startswith("text/")):
            inline = disposition == "inline" or (cid is not None and not filename)
            files.append(FileAttachment(_decoded(filename) if filename else "attachment", ctype, content, inline, cid))
        elif ctype == "text/html" and html is None:
            html = _decode(content, part.get_content_charset())
        elif ctype == "text/plain" and text is None:
            text = _decode(content, part.get_content_charset())
        elif ctype in ("text/plain", "text/html"):
            lossy.append(f"a second {ctype} body part was dropped")
    if html is not None:
        return {"contentType": "html", "content": html}, files
    if text is not None:
        return {"contentType": "text", "content": text}, files
    return None, files


def graph_message(data: bytes, flags: Sequence[str], received: datetime, marker: str) -> GraphMessage:
    """The JSON create of a message, from its MIME bytes and IMAP state."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    lossy: list[str] = []
    body: dict[str, Any] = {}
    subject = msg.get("Subject")
    if subject is not None:
        body["subject"] = _decoded(subject)
    senders = _recipients(msg, "From", lossy)
    if senders:
        body["from"] = senders[0]
        body["sender"] = (_recipients(msg, "Sender") or senders)[0]
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients"),
                        ("Reply-To", "replyTo")):
        found = _recipients(msg, header, lossy)
        if found:
            body[key] = found
    message_id = _text(msg.get("Message-ID"))
    if message_id:
        body["internetMessageId"] = message_id
    importance = _IMPORTANCE.get(_text(msg.get("Importance")).lower())
    if importance:
        body["importance"] = importance
    content, files = _walk(msg, lossy)
    if content is not None:
        body["body"] = content
    body["isRead"] = "\\seen" in {f.lower() for f in flags}
    state = follow_up(flags)
    if state == FLAG_FLAGGED:
        body["flag"] = {"flagStatus": "flagged"}
    elif state == FLAG_COMPLETE:
        body["flag"] = {"flagStatus": "complete"}
    cats = categories(flags)
    if cats:
        body["categories"] = cats
    props = [{"id": PR_MESSAGE_FLAGS, "value": str(message_flags(flags))},
             {"id": PR_MESSAGE_DELIVERY_TIME, "value": systime(received)},
             {"id": PR_TRANSPORT_MESSAGE_HEADERS, "value": header_block(data)},
             {"id": MARKER, "value": marker}]
    sent = _sent(msg)
    if sent is not None:
        props.append({"id": PR_CLIENT_SUBMIT_TIME, "value": systime(sent)})
    verb = last_verb(flags)
    if verb is not None:  # replied wins over forwarded, as Outlook shows one
        props += [{"id": PR_LAST_VERB_EXECUTED, "value": str(verb[0])}, {"id": PR_ICON_INDEX, "value": str(verb[1])}]
    body["singleValueExtendedProperties"] = props
    inline: list[dict[str, Any]] = []
    uploads: list[FileAttachment] = []
    total = 0
    for f in files:
        if len(f.content) <= INLINE_ATTACHMENT and total + len(f.content) <= INLINE_TOTAL:
            inline.append(f.json())
            total += len(f.content)
        else:
            uploads.append(f)
    if inline:
        body["attachments"] = inline
    return GraphMessage(body, uploads, lossy)
