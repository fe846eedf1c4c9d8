"""MIME in and out of messages: what Exchange reads from a posted MIME message, and the MIME `$value` gives."""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import html
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from .clock import iso_utc

_TAG = re.compile(r"<[^>]+>")


def _recipients(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    try:
        pairs = email.utils.getaddresses([value])
    except RecursionError:  # thousands of words: Exchange reads what it can, piece by piece
        pairs = []
        for piece in value.split(","):
            try:
                pairs += email.utils.getaddresses([piece])
            except RecursionError:
                continue
    return [{"emailAddress": {"name": name or addr, "address": addr}} for name, addr in pairs if addr]


def _text(value: Any) -> str:
    """A header's value as text: compat32 hands a non-ASCII one over as a Header object."""
    return "" if value is None else str(value)


def _decoded(value: Any) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(_text(value))))
    except (ValueError, LookupError, UnicodeError):  # a broken encoded word: its raw text, as Exchange shows it
        return _text(value)


def _decode(payload: bytes, charset: str | None) -> str:
    try:
        return payload.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # a charset unknown here, or with a NUL: Exchange shows such a body as best it can
        return payload.decode("utf-8", "replace")


def preview(body: dict[str, Any]) -> str:
    text = str(body.get("content") or "")
    if body.get("contentType") == "html":
        text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split())[:255]


def parse(raw: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """(message properties, [(attachment properties, content)]) from an RFC 5322 message.

    Raises ValueError when the bytes are not a message (no header block at all)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if not msg.keys():
        raise ValueError("no headers")
    props: dict[str, Any] = {
        "subject": _decoded(msg.get("Subject", "")),
        "toRecipients": _recipients(_text(msg.get("To"))),
        "ccRecipients": _recipients(_text(msg.get("Cc"))),
        "bccRecipients": _recipients(_text(msg.get("Bcc"))),
        "replyTo": _recipients(_text(msg.get("Reply-To"))),
        "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in msg.items()],
    }
    sender = _recipients(_text(msg.get("From")))
    if sender:
        props["from"] = props["sender"] = sender[0]
    if msg.get("Message-ID"):
        props["internetMessageId"] = str(msg["Message-ID"]).strip()
    if msg.get("Date"):
        try:
            when = email.utils.parsedate_to_datetime(str(msg["Date"]))
            props["sentDateTime"] = iso_utc(when.astimezone(UTC).timestamp())
        except (TypeError, ValueError, OverflowError):  # a date with no UTC form: not read
            pass
    importance = str(msg.get("Importance", "")).lower()
    if importance in ("low", "normal", "high"):
        props["importance"] = importance
    text: str | None = None
    html_body: str | None = None
    attachments: list[tuple[dict[str, Any], bytes]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = _text(part.get("Content-Disposition")).split(";")[0].strip().lower()
        filename = part.get_filename()
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        ctype = part.get_content_type()
        if filename or disposition == "attachment" or (disposition == "inline" and _text(part.get("Content-ID"))):
            attachments.append(({
                "name": filename or "attachment", "contentType": ctype, "size": len(payload),
                "isInline": disposition == "inline", "contentId": _text(part.get("Content-ID")).strip("<>") or None,
            }, payload))
        elif ctype == "text/html" and html_body is None:
            html_body = _decode(payload, part.get_content_charset())
        elif ctype == "text/plain" and text is None:
            text = _decode(payload, part.get_content_charset())
    props["body"] = ({"contentType": "html", "content": html_body} if html_body is not None
                     else {"contentType": "text", "content": text or ""})
    return props, attachments


def _address(r: dict[str, Any]) -> str:
    ea = r.get("emailAddress") or {}
    name, address = str(ea.get("name") or ""), str(ea.get("address") or "")
    try:
        return email.utils.formataddr((name, address))
    except UnicodeEncodeError:  # an internationalized address (RFC 6532): written as UTF-8
        return f"{name} <{address}>" if name else address


def build(props: dict[str, Any], attachments: list[tuple[dict[str, Any], bytes]]) -> bytes:
    """MIME for a message created from JSON (Exchange renders one on demand for `$value`)."""
    msg = EmailMessage()
    if props.get("from"):
        msg["From"] = _address(props["from"])
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Reply-To", "replyTo")):
        if props.get(key):
            msg[header] = ", ".join(_address(r) for r in props[key])
    msg["Subject"] = str(props.get("subject") or "")
    if props.get("sentDateTime"):
        msg["Date"] = email.utils.format_datetime(datetime.fromisoformat(props["sentDateTime"].replace("Z", "+00:00")))
    if props.get("internetMessageId"):
        msg["Message-ID"] = props["internetMessageId"]
    for h in props.get("internetMessageHeaders") or []:
        if str(h.get("name", "")).lower().startswith("x-"):
            msg[h["name"]] = h.get("value", "")
    body = props.get("body") or {}
    subtype = "html" if body.get("contentType") == "html" else "plain"
    msg.set_content(str(body.get("content") or ""), subtype=subtype)
    for meta, content in attachments:
        maintype, _, subtype = str(meta.get("contentType") or "application/octet-stream").partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=str(meta.get("name") or "attachment"))
    addresses = [props.get("from") or {}, *[r for key in ("toRecipients", "ccRecipients", "replyTo")
                                             for r in props.get(key) or []]]
    international = any(not str((r.get("emailAddress") or {}).get("address") or "").isascii() for r in addresses)
    # internationalized addresses (RFC 6532) go out as UTF-8 headers; encoded words are not allowed in them
    return msg.as_bytes(policy=email.policy.SMTPUTF8 if international else email.policy.SMTP)
