"""What of the corpus e-mails arrives in Microsoft 365 through the Graph target, measured against the emulator.

Every .eml file of ``shared/corpora/eml`` (``$MAILFERRY_CORPORA/eml``) is written by the Graph e-mail target
(``GraphTarget.create``: a JSON create with the MAPI properties) into an in-process Graph emulator, then read
back with plain HTTP, never through the adapter, and compared with the file as Python's ``email`` reads it:

- **fields**: subject, sender, To/Cc addresses, sent date (``Date:``), Message-ID, the body (the first HTML
  part, else the first text part, decoded), every attachment (name and bytes);
- **header block**: the original header block, whole, in PR_TRANSPORT_MESSAGE_HEADERS (0x007D);
- **`$value`**: which header fields (name and value, byte for byte) and how many messages come back
  byte-identical. The emulator renders the MIME of a JSON-created message with Python's ``email`` package,
  Exchange Online with its own converter: this column describes the emulator, not Microsoft 365;
- **MIME post** (the road not taken): the same file POSTed as MIME — bytes kept, but a draft.

Run: ``.venv/bin/python scripts/graph_fidelity.py`` (``-v`` lists what differs, per file).
"""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import email.utils
import os
import sys
from collections import Counter
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.adapters.graph.mail_target import GraphTarget  # noqa: E402
from shared.adapters.graph.mime_message import header_block  # noqa: E402
from shared.adapters.graph.session import open_client  # noqa: E402
from shared.adapters.ports import Outgoing  # noqa: E402
from tests import graph_rig as rig  # noqa: E402
from tests.graph_emulator import GraphEmulator  # noqa: E402

CORPORA = Path(os.environ.get("MAILFERRY_CORPORA", ROOT.parent / "shared" / "corpora"))
USER = "fidelity@example.test"


def _decoded(value: Any) -> str:
    try:
        return " ".join(str(email.header.make_header(email.header.decode_header(str(value)))).split())
    except (ValueError, LookupError, UnicodeError):
        return " ".join(str(value).split())


def _text_of(content: bytes, charset: str | None) -> str:
    try:
        return content.decode(charset or "utf-8", "replace")
    except LookupError:
        return content.decode("utf-8", "replace")


def _addresses(msg: Message, name: str) -> list[str]:
    return [a.lower() for _n, a in email.utils.getaddresses([str(v) for v in msg.get_all(name) or []])
            if a and "@" in a]


def _parts(msg: Message) -> list[Message]:
    """Content parts in order; an attached message (message/rfc822) counts as one part, not its insides."""
    out: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        payload = part.get_payload()
        if part.get_content_type() != "message/rfc822" and part.is_multipart() and isinstance(payload, list):
            stack = [p for p in payload if isinstance(p, Message)] + stack
        else:
            out.append(part)
    return out


def _body_and_files(msg: Message) -> tuple[str | None, Counter[tuple[str, bytes]]]:
    text = html = None
    files: Counter[tuple[str, bytes]] = Counter()
    for part in _parts(msg):
        ctype = part.get_content_type()
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        cid = str(part.get("Content-ID") or "").strip()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            files[(part.get_filename() or "attached message.eml",
                   inner[0].as_bytes() if isinstance(inner, list) and inner and isinstance(inner[0], Message)
                   else content)] += 1
        elif part.get_filename() or part.get_content_disposition() == "attachment" or \
                (cid and not ctype.startswith("text/")):
            files[(_decoded(part.get_filename()) if part.get_filename() else "attachment", content)] += 1
        elif ctype == "text/html" and html is None:
            html = _text_of(content, part.get_content_charset())
        elif ctype == "text/plain" and text is None:
            text = _text_of(content, part.get_content_charset())
    return (html if html is not None else text), files


def _sent(msg: Message) -> str | None:
    try:
        when = email.utils.parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError, IndexError):
        return None
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _fields(lines: list[tuple[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter((n.lower(), str(v)) for n, v in lines)


def measure(verbose: bool) -> dict[str, Counter[str]]:
    files = sorted((CORPORA / "eml").rglob("*.eml"))
    out: dict[str, Counter[str]] = {k: Counter() for k in ("files", "fields", "headers", "parts", "bytes", "mime",
                                                                 "by name")}
    with GraphEmulator(tls=True) as emu:
        emu.add_user(USER)
        app = emu.register_app(secret=rig.SECRET)
        target = GraphTarget(open_client(rig.spec(emu, USER), lambda: "", rig.env(emu),
                                         rig.settings(emu, app.client_id)), "fidelity")
        target.ensure_folders(["INBOX"])
        with rig.seeding(emu, USER) as g:
            for path in files:
                data = path.read_bytes()
                name = str(path.relative_to(CORPORA / "eml"))
                orig = email.message_from_bytes(data, policy=email.policy.compat32)
                out["files"]["read"] += 1
                placed = target.create("INBOX", Outgoing(data, ("\\Seen",), datetime(2024, 1, 1, tzinfo=UTC),
                                                         str(orig.get("Message-ID") or "")))
                if not hasattr(placed, "ref"):
                    out["files"]["refused"] += 1
                    if verbose:
                        print(f"{name}: refused: {placed}")
                    continue
                out["files"]["written"] += 1
                got = g.get(f"/messages/{placed.ref}", params={
                    "$select": "subject,from,toRecipients,ccRecipients,sentDateTime,internetMessageId,body,isDraft",
                    "$expand": "singleValueExtendedProperties($filter=id eq 'String 0x007D')"}).json()
                atts = g.get(f"/messages/{placed.ref}/attachments", params={"$top": "999"}).json()["value"]
                body, wanted_files = _body_and_files(orig)
                checks = {
                    "subject": _decoded(orig.get("Subject", "")) == " ".join(str(got.get("subject") or "").split()),
                    "from": (_addresses(orig, "From")[:1] == [str((got.get("from") or {}).get("emailAddress", {})
                                                                  .get("address", "")).lower()][:1]
                             if _addresses(orig, "From") else "from" not in got or got["from"] is None),
                    "to/cc": (_addresses(orig, "To"), _addresses(orig, "Cc")) == (
                        [r["emailAddress"]["address"].lower() for r in got.get("toRecipients") or []],
                        [r["emailAddress"]["address"].lower() for r in got.get("ccRecipients") or []]),
                    "date": _sent(orig) is None or _sent(orig) == got.get("sentDateTime"),
                    "message-id": " ".join(str(orig.get("Message-ID") or "").split()) ==
                    (got.get("internetMessageId") or "") or not orig.get("Message-ID"),
                    "body": (body or "") == ((got.get("body") or {}).get("content") or ""),
                    "attachments": wanted_files == Counter(
                        (a["name"], base64.b64decode(a.get("contentBytes") or "")) for a in atts),
                    "not a draft": got.get("isDraft") is False,
                }
                for key, ok in checks.items():
                    out["fields"][key] += ok
                    if verbose and not ok:
                        print(f"{name}: {key} differs")
                props = {p["id"]: p["value"] for p in got.get("singleValueExtendedProperties") or []}
                out["headers"]["block kept whole"] += props.get("String 0x7d") == header_block(data)
                value = g.get(f"/messages/{placed.ref}/$value").content
                back = email.message_from_bytes(value, policy=email.policy.compat32)
                original_fields = _fields(list(orig.items()))
                out["headers"]["fields"] += sum(original_fields.values())
                kept = original_fields & _fields(list(back.items()))
                for (hname, _v), count in original_fields.items():
                    out["by name"][f"{hname} seen"] += count
                    out["by name"][f"{hname} kept"] += kept[(hname, _v)]
                out["headers"]["fields in $value unchanged"] += sum((original_fields & _fields(list(back.items())))
                                                                     .values())
                out["parts"]["parts"] += len(_parts(orig))
                out["bytes"]["identical"] += value == data
                posted = g.post("/mailFolders/inbox/messages", content=base64.b64encode(data),
                                headers={"Content-Type": "text/plain"})
                if posted.status_code == 201:
                    raw = g.get(f"/messages/{posted.json()['id']}/$value").content
                    out["mime"]["identical"] += raw == data
                    out["mime"]["draft"] += posted.json()["isDraft"] is True
                else:
                    out["mime"]["refused"] += 1
        target.close()
    return out


def main() -> None:
    verbose = "-v" in sys.argv
    out = measure(verbose)
    n = out["files"]["written"]
    print(f"corpus: {CORPORA / 'eml'}: {out['files']['read']} files, {n} written, "
          f"{out['files']['refused']} refused by the target")
    print("| what | arrives unchanged |")
    print("|---|---|")
    for key, ok in out["fields"].items():
        print(f"| {key} | {ok} of {n} |")
    print(f"| original header block in PR_TRANSPORT_MESSAGE_HEADERS | {out['headers']['block kept whole']} of {n} |")
    print(f"| header fields in `$value` (emulator's rendering) | {out['headers']['fields in $value unchanged']} "
          f"of {out['headers']['fields']} |")
    names = sorted({k.rsplit(" ", 1)[0] for k in out["by name"]}, key=lambda h: -out["by name"][f"{h} seen"])
    per_name = ", ".join(f"{h} {out['by name'][f'{h} kept']}/{out['by name'][f'{h} seen']}" for h in names[:14])
    print(f"| the commonest header fields in `$value`, kept/seen | {per_name} |")
    print(f"| whole message bytes in `$value` (emulator's rendering) | {out['bytes']['identical']} of {n} |")
    print(f"| MIME post instead: bytes kept / made a draft / refused | {out['mime']['identical']} / "
          f"{out['mime']['draft']} / {out['mime']['refused']} of {n} |")


if __name__ == "__main__":
    main()
