"""Comparing two mailboxes message by message: bytes, flags, INTERNALDATE, folder tree.

Used by the demo, the end-to-end tests and the benchmark, so "it worked" always
means the same strict thing: every folder has the same multiset of
(bytes, flags, date) on both sides, and nothing extra.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from imapclient import IMAPClient

from services.extractor.imap import ImapSource
from services.extractor.plan import folder_refs
from shared import folder_map

Fingerprint = tuple[str, frozenset[str], int]


def snapshot_folder(client: IMAPClient, name: str, batch: int = 200) -> Counter[Fingerprint]:
    client.normalise_times = False
    client.select_folder(name, readonly=True)
    uids = client.search("ALL")
    out: Counter[Fingerprint] = Counter()
    for i in range(0, len(uids), batch):
        for _uid, d in client.fetch(uids[i:i + batch], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
            flags = frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in d[b"FLAGS"]) - {"\\Recent"}
            out[(hashlib.sha256(d[b"BODY[]"]).hexdigest(), flags, int(d[b"INTERNALDATE"].timestamp()))] += 1
    return out


@dataclass
class FolderDiff:
    source: str
    target: str
    source_count: int
    target_count: int
    missing: int
    extra: int


@dataclass
class Comparison:
    folders: list[FolderDiff] = field(default_factory=list)
    missing_folders: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.missing_folders and all(f.missing == 0 and f.extra == 0 for f in self.folders)

    @property
    def messages(self) -> int:
        return sum(f.source_count for f in self.folders)


def compare(source: IMAPClient, target: IMAPClient) -> Comparison:
    """Every source folder against the target folder mailferry maps it to."""
    src = ImapSource(source)
    listed_t = [folder_map.ListedFolder(n, d.decode() if isinstance(d, bytes) else (d or ""),
                                        tuple(f.decode() if isinstance(f, bytes) else str(f) for f in fl))
                for fl, d, n in target.list_folders()]
    t_delim = next((f.delimiter for f in listed_t if f.delimiter), "/")
    t_specials = folder_map.target_special_names(listed_t)
    t_names = {f.name for f in listed_t}
    result = Comparison()
    for ref, selectable in folder_refs(src.list_folders(), src.prefix):
        t_name = folder_map.target_name(ref.path, t_specials, t_delim)
        if t_name not in t_names:
            result.missing_folders.append(ref.source_name)
            continue
        if not selectable:
            continue
        a = snapshot_folder(source, ref.source_name)
        b = snapshot_folder(target, t_name)
        result.folders.append(FolderDiff(ref.source_name, t_name, sum(a.values()), sum(b.values()),
                                         sum((a - b).values()), sum((b - a).values())))
    return result
