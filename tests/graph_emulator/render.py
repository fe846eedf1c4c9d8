"""Entries as Graph JSON: ids (REST or immutable), etags, computed properties, $select and $expand."""

from __future__ import annotations

import base64
import copy
import html
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from . import extended, query
from .call import Answer, Call
from .query import Options, apply_select
from .store import Attachment, Entry

# types whose JSON carries changeKey and an @odata.etag
_CHANGE_KEYED = {"message", "contact", "event", "calendar"}
_ETAG_ONLY = {"todoTask", "todoTaskList"}


def ref(call: Call, entry_id: str | None) -> str | None:
    """How a stored id appears in this answer (immutable when the request prefers IdType=ImmutableId)."""
    if entry_id is None:
        return None
    entry = call.mailbox.get(entry_id)
    if entry is None:
        return entry_id
    return entry.immutable_id if call.immutable_ids else entry.id


def entity(call: Call, entry: Entry, opts: Options | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if entry.kind in _CHANGE_KEYED or entry.kind in _ETAG_ONLY:
        obj["@odata.etag"] = f'W/"{entry.change_key}"'
    obj["id"] = ref(call, entry.id)
    obj.update(copy.deepcopy(entry.props))
    if entry.kind in _CHANGE_KEYED:
        obj["changeKey"] = entry.change_key
    if "parentFolderId" in obj or entry.kind in ("message", "contact", "mailFolder", "contactFolder"):
        obj["parentFolderId"] = ref(call, entry.parent)
    if entry.kind in ("message", "event") and call.prefer("outlook.body-content-type") == "text":
        body = obj.get("body") or {}
        if body.get("contentType") == "html":
            obj["body"] = {"contentType": "text", "content": html_to_text(str(body.get("content") or ""))}
    if entry.kind in ("message", "event"):
        obj["hasAttachments"] = any(not a.props.get("isInline") for a in entry.attachments)
    if entry.kind == "mailFolder":
        mbx = call.mailbox
        msgs = mbx.children(entry.id, "message")
        obj["childFolderCount"] = len(mbx.children(entry.id, "mailFolder"))
        obj["totalItemCount"] = len(msgs)
        obj["unreadItemCount"] = sum(1 for m in msgs if not m.props.get("isRead"))
    if opts is not None:
        for nav, wanted in opts.expand.items():
            if nav == "attachments":
                obj["attachments"] = [attachment(a) for a in entry.attachments]
            elif nav == "singleValueExtendedProperties":
                obj[nav] = extended.render_list(entry.extended, wanted)
            elif nav == "multiValueExtendedProperties":
                obj[nav] = [{"id": k, "value": v} for k, v in entry.multi_extended.items()
                            if wanted is None or k in wanted]
        obj = apply_select(obj, opts.select + list(opts.expand) if opts.select is not None else None)
    return obj


def html_to_text(markup: str) -> str:
    """Roughly what Exchange gives for `Prefer: outlook.body-content-type="text"`: the markup's text."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def attachment(att: Attachment, with_content: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{att.odata_type}", "id": att.id}
    obj.update(copy.deepcopy(att.props))
    if att.odata_type == "fileAttachment" and with_content:
        obj["contentBytes"] = base64.b64encode(att.content).decode()
    return obj


def listing(call: Call, type_name: str, entries: list[Entry], link: str, default_top: int = 10,
            allowed: frozenset[str] = frozenset({"$select", "$top", "$skip"})) -> Answer:
    """A collection answer: query options checked, one page rendered, @odata.nextLink when more follow."""
    opts = query.parse(call.emulator.schema, type_name, call.query, allowed)
    items = [entity(call, e, opts) for e in entries]
    return Answer(200, query.page(items, opts, default_top, link, call.query), entity_type=type_name, collection=True)


def delta_items(call: Call, entries: list[Entry]) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """What a delta round compares: id as the caller sees it -> (changeKey, how to render the item)."""
    return {ref(call, e.id) or e.id: (e.change_key, partial(entity, call, e)) for e in entries}
