"""Checking a copy: ``verify.compare`` decides; ``arrived`` counts; ``diagnose`` says what a lossy tool changed.

``verify.compare`` is the strict check every line must pass (same bytes, flags and INTERNALDATE with
its zone in every folder, every target folder accounted for), against the folder names that
:mod:`mailferry.expected_folders` (the rules written again, not mailferry's mapping) expects.
``arrived`` counts the messages and bytes that are on the target, which every line reports as what it
copied (never the planned totals). When a line fails the check, ``diagnose`` matches the target's messages
to the seeded ones and counts what differs: an added ``X-TUID`` header (mbsync's marker), other
byte changes, flags dropped or added (by name), INTERNALDATE changes, messages missing (and how
many of those carried ``\\Deleted``), messages extra, folders missing.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from imapclient import IMAPClient

from mailferry import verify
from mailferry.seed import Message
from mailferry.verify import Fingerprint

_X_TUID = re.compile(rb"^X-TUID: [^\r\n]*\r?\n", re.MULTILINE)


def _flags(raw: Any) -> frozenset[str]:
    return frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in raw) - {"\\Recent"}


def check(source: IMAPClient, target: IMAPClient, expected: Mapping[str, str | None],
          before: Mapping[str, Counter[Fingerprint]]) -> dict[str, Any]:
    """The strict comparison, as JSON-able data."""
    cmp = verify.compare(source, target, expected, before)
    return {
        "identical": cmp.identical,
        "messages_checked": cmp.messages,
        "missing_folders": cmp.missing_folders,
        "extra_folders": cmp.extra_folders,
        "folders_with_differences": [
            {"folder": f.source, "target": f.target, "source": f.source_count, "target_count": f.target_count,
             "missing": f.missing, "extra": f.extra} for f in cmp.folders if f.missing or f.extra],
        "problems": cmp.problems()[:20],
    }


def arrived(target: IMAPClient) -> tuple[int, int]:
    """(messages, bytes) on the target account now, over every folder: what a line really copied."""
    messages = size = 0
    for name, listed in verify.list_folders(target).items():
        if not listed.selectable:
            continue
        target.select_folder(name, readonly=True)
        uids = target.search("ALL")
        for i in range(0, len(uids), 1000):
            for d in target.fetch(uids[i:i + 1000], ["RFC822.SIZE"]).values():
                messages += 1
                size += int(d[b"RFC822.SIZE"])
    return messages, size


def check_subset(target: IMAPClient, copied: dict[str, Counter[Fingerprint]]) -> dict[str, Any]:
    """For a sampled copy: the target holds exactly the (bytes, flags, date) of what was copied."""
    names = {n for _f, _d, n in target.list_folders()}
    bad = []
    for folder, want in copied.items():
        if folder not in names:
            bad.append({"folder": folder, "missing_folder": True})
            continue
        have = verify.snapshot_folder(target, folder)
        if have != want:
            bad.append({"folder": folder, "missing": sum((want - have).values()),
                        "extra": sum((have - want).values())})
    return {"identical": not bad, "messages_checked": sum(sum(c.values()) for c in copied.values()),
            "scope": "the sampled messages", "folders_with_differences": bad}


def diagnose(target: IMAPClient, layout: dict[str, list[Message]]) -> dict[str, Any]:
    """What the target has that differs from the seeded mailbox, by kind."""
    target.normalise_times = False
    names = {n for _f, _d, n in target.list_folders()}
    out: dict[str, Any] = {"x_tuid_header_added": 0, "flags_dropped": Counter(),
                           "flags_added": Counter(), "internaldate_changed": 0, "missing": 0,
                           "missing_with_deleted_flag": 0, "extra": 0, "missing_folders": []}
    for folder, msgs in layout.items():
        if folder not in names:
            out["missing_folders"].append(folder)
            out["missing"] += len(msgs)
            continue
        pending: dict[str, list[Message]] = {}
        for m in msgs:
            pending.setdefault(hashlib.sha256(m.data).hexdigest(), []).append(m)
        target.select_folder(folder, readonly=True)
        uids = target.search("ALL")
        for i in range(0, len(uids), 200):
            for _uid, d in target.fetch(uids[i:i + 200], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
                data = d[b"BODY[]"]
                key = hashlib.sha256(data).hexdigest()
                if key not in pending or not pending[key]:
                    stripped = _X_TUID.sub(b"", data, count=1)
                    key = hashlib.sha256(stripped).hexdigest()
                    if stripped != data and pending.get(key):
                        out["x_tuid_header_added"] += 1
                    else:
                        out["extra"] += 1
                        continue
                src = pending[key].pop()
                got, want = _flags(d[b"FLAGS"]), frozenset(src.flags)
                out["flags_dropped"].update(want - got)
                out["flags_added"].update(got - want)
                if verify.internaldate_text(d[b"INTERNALDATE"]) != verify.internaldate_text(src.internaldate):
                    out["internaldate_changed"] += 1
        for left in pending.values():
            out["missing"] += len(left)
            out["missing_with_deleted_flag"] += sum(1 for m in left if "\\Deleted" in m.flags)
    out["flags_dropped"] = dict(out["flags_dropped"])
    out["flags_added"] = dict(out["flags_added"])
    return out


def summary(diag: dict[str, Any]) -> str:
    """One plain sentence of what changed, for the table's footnotes."""
    parts = []
    if diag.get("x_tuid_header_added"):
        parts.append(f"added an X-TUID header to {diag['x_tuid_header_added']} messages (bytes differ)")
    if diag.get("flags_dropped"):
        parts.append("dropped flags " + ", ".join(f"{k} ×{v}" for k, v in sorted(diag["flags_dropped"].items())))
    if diag.get("flags_added"):
        parts.append("added flags " + ", ".join(f"{k} ×{v}" for k, v in sorted(diag["flags_added"].items())))
    if diag.get("internaldate_changed"):
        parts.append(f"changed INTERNALDATE of {diag['internaldate_changed']} messages")
    if diag.get("missing"):
        parts.append(f"did not copy {diag['missing']} messages ({diag['missing_with_deleted_flag']} of them "
                     "flagged \\Deleted)")
    if diag.get("extra"):
        parts.append(f"has {diag['extra']} messages matching no source message (changed bytes or extra)")
    if diag.get("missing_folders"):
        parts.append(f"did not create folders {diag['missing_folders']}")
    return "; ".join(parts) or "no difference found"
