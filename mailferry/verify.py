"""Checking a migrated mailbox against its source, independently of the code that migrated it.

Used by the demo, the end-to-end tests and the benchmark, so "it worked" always means the same
strict thing. Nothing here comes from mailferry's own mapping or adapters: both servers are
read with imapclient directly, and where each source folder should land is *stated by the
caller* (``expected``: source name → target name, as data in each test, or from the small
separate rules in :mod:`mailferry.expected_folders`). Then every target folder is accounted
for: it is the image of source folders and holds exactly their messages (plus what it held
before, if the caller says so), or it is reported as extra. A message is its bytes (SHA-256),
its flags and keywords (``\\Recent`` aside, which no client can set) and its INTERNALDATE as
the server writes it, time zone included.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from imapclient import IMAPClient

# (SHA-256 of the bytes, flags and keywords, INTERNALDATE as "01-May-2024 12:00:00 +0200")
Fingerprint = tuple[str, frozenset[str], str]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def internaldate_text(when: datetime) -> str:
    """INTERNALDATE in its IMAP form, with the zone the server gave (imapclient parses it losslessly:
    the form has whole seconds and an offset, nothing else)."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("INTERNALDATE without a time zone: read it with normalise_times = False")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year:04d} {when:%H:%M:%S} {zone}"


def instant(date: str) -> int:
    """The POSIX second an INTERNALDATE text names, for a target that keeps the instant but not the
    zone (Exchange stores UTC)."""
    return int(datetime.strptime(date, "%d-%b-%Y %H:%M:%S %z").timestamp())


@dataclass(frozen=True)
class Listed:
    name: str
    delimiter: str
    flags: frozenset[str]

    @property
    def selectable(self) -> bool:
        return not {"\\noselect", "\\nonexistent"} & {f.lower() for f in self.flags}


def list_folders(client: IMAPClient) -> dict[str, Listed]:
    """Every folder of the account (``LIST "" "*"``), by name."""
    return {_text(n): Listed(_text(n), _text(d or ""), frozenset(_text(f) for f in fl))
            for fl, d, n in client.list_folders()}


def snapshot_folder(client: IMAPClient, name: str, batch: int = 200) -> Counter[Fingerprint]:
    """The folder's messages as a multiset of fingerprints."""
    client.normalise_times = False
    client.select_folder(name, readonly=True)
    uids = client.search("ALL")
    out: Counter[Fingerprint] = Counter()
    for i in range(0, len(uids), batch):
        for _uid, d in client.fetch(uids[i:i + batch], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
            flags = frozenset(_text(f) for f in d[b"FLAGS"]) - {"\\Recent"}
            out[(hashlib.sha256(d[b"BODY[]"]).hexdigest(), flags, internaldate_text(d[b"INTERNALDATE"]))] += 1
    return out


def snapshot(client: IMAPClient) -> dict[str, Counter[Fingerprint]]:
    """Every selectable folder of the account (the state of a target before a migration)."""
    return {n: snapshot_folder(client, n) for n, f in list_folders(client).items() if f.selectable}


@dataclass
class FolderDiff:
    sources: list[str]
    target: str
    source_count: int  # what the target folder should hold: its sources' messages and what it held before
    target_count: int
    missing: int
    extra: int

    @property
    def source(self) -> str:
        return " + ".join(self.sources) or "(held before)"


@dataclass
class Comparison:
    folders: list[FolderDiff] = field(default_factory=list)
    missing_folders: list[str] = field(default_factory=list)  # expected target folders that do not exist
    extra_folders: list[str] = field(default_factory=list)  # target folders nothing was expected in
    unstated: list[str] = field(default_factory=list)  # source folders the caller said nothing about
    not_on_source: list[str] = field(default_factory=list)  # stated source folders that do not exist

    @property
    def identical(self) -> bool:
        return not (self.missing_folders or self.extra_folders or self.unstated or self.not_on_source) and \
            all(f.missing == 0 and f.extra == 0 for f in self.folders)

    @property
    def messages(self) -> int:
        return sum(f.source_count for f in self.folders)

    def problems(self) -> list[str]:
        out = [f"source folder {n!r} has no stated target" for n in self.unstated]
        out += [f"stated source folder {n!r} does not exist" for n in self.not_on_source]
        out += [f"target folder {n!r} is missing" for n in self.missing_folders]
        out += [f"target folder {n!r} is not expected" for n in self.extra_folders]
        out += [f"{f.source} → {f.target}: {f.missing} missing, {f.extra} extra"
                for f in self.folders if f.missing or f.extra]
        return out


def compare(source: IMAPClient, target: IMAPClient, expected: Mapping[str, str | None],
            before: Mapping[str, Counter[Fingerprint]] | None = None) -> Comparison:
    """Every source folder against the target folder ``expected`` names for it (None: not copied,
    e.g. a virtual ``\\All`` view), and every target folder against what should be in it.

    ``before``: the target's folders and messages before the migration (:func:`snapshot`); they
    must still be there, and a folder that only held them is accounted for. Several source
    folders may land in one target folder; a target folder that is a parent of an expected one
    may exist without messages (a server creates parents).
    """
    before = before or {}
    s_listed = list_folders(source)
    t_listed = list_folders(target)
    result = Comparison(unstated=sorted(n for n in s_listed if n not in expected),
                        not_on_source=sorted(n for n in expected if n not in s_listed))
    wanted: dict[str, list[str]] = {}
    for s_name, t_name in expected.items():
        if t_name is not None and s_name in s_listed:
            wanted.setdefault(t_name, []).append(s_name)
    t_delim = next((f.delimiter for f in t_listed.values() if f.delimiter), "/")
    parents = {t_delim.join(t_name.split(t_delim)[:i]) for t_name in wanted
               for i in range(1, t_name.count(t_delim) + 1)}
    for t_name in sorted(set(wanted) | set(before) | set(t_listed)):
        sources = wanted.get(t_name, [])
        if t_name not in t_listed:
            result.missing_folders.append(t_name)
            continue
        if not sources and t_name not in before and t_name not in parents:
            result.extra_folders.append(t_name)
            continue
        want: Counter[Fingerprint] = Counter(before.get(t_name, Counter()))
        for s_name in sources:
            if s_listed[s_name].selectable:
                want += snapshot_folder(source, s_name)
        have = snapshot_folder(target, t_name) if t_listed[t_name].selectable else Counter()
        result.folders.append(FolderDiff(sources, t_name, sum(want.values()), sum(have.values()),
                                         sum((want - have).values()), sum((have - want).values())))
    return result
