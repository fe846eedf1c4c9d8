"""IMAP source adapter: folders, UIDs and messages, fetched in batches.

Each method is a few lines of I/O around imapclient (FETCH goes straight through
imaplib and is parsed by :mod:`shared.adapters.imap.fetch_parse`, for speed); what
to do with the answers lives in :mod:`shared.adapters.imap.fetch_task` (and the planner,
:mod:`services.extractor.plan`). It is the e-mail :class:`~shared.adapters.ports.Source` port.
Bodies are fetched with ``BODY.PEEK[]`` so reading never sets ``\\Seen``.
"""

from __future__ import annotations

import imaplib
from collections.abc import Iterator, Sequence

from imapclient import IMAPClient

from shared import folder_map
from shared.adapters.imap.errors import translated
from shared.adapters.imap.fetch_parse import MessageMeta, parse_bodies, parse_meta
from shared.adapters.imap.fetch_task import run_group, run_task
from shared.adapters.imap.listing import command_outcome, folders_and_prefix, send_command, text
from shared.adapters.ports import Fetched, FetchLimits, ItemListing
from shared.events import ExtractTask, FolderRef
from shared.item_keys import item_key
from shared.uid_sets import expand_uid_set, uid_set

__all__ = ["ImapSource", "MessageMeta"]

# Without ESEARCH a folder of 150,000 messages answers SEARCH with one line of over 1 MB (imaplib's
# limit). A source session reads lines up to this long; it is still only a list of numbers.
LISTING_MAX_LINE = 64 * 1024 * 1024


class ImapSource:
    """Reads one account. Not thread-safe: one per worker thread."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        client.normalise_times = False  # keep INTERNALDATE's own time zone
        client._imap.max_line = LISTING_MAX_LINE
        self._prefix: str | None = None  # asked with the first LIST (one round trip for both)
        # A server that announces SPECIAL-USE flags its special folders: their names are not read as hints.
        self.marks_special_use = bool(client.has_capability("SPECIAL-USE"))

    @property
    def prefix(self) -> str:
        """The personal namespace's prefix ("" without NAMESPACE): learnt with :meth:`list_folders`."""
        if self._prefix is None:
            try:
                ns = self.client.namespace()
            except Exception:
                ns = None
            self._prefix = text(ns.personal[0][0]) if ns is not None and ns.personal else ""
        return self._prefix

    @translated("LIST")
    def list_folders(self) -> list[folder_map.ListedFolder]:
        """Every folder, with NAMESPACE asked in the same round trip the first time (one round trip less to plan)."""
        listed, prefix = folders_and_prefix(self.client, want_prefix=self._prefix is None)
        if prefix is not None:
            self._prefix = prefix
        return listed

    @translated("the listing of the folders")
    def list_items(self, folders: Sequence[FolderRef], larger_than: int) -> dict[str, ItemListing]:
        """Every folder's UIDs from :meth:`select_many` (one round trip for all of them), keyed by name."""
        listed = self.select_many([f.source_name for f in folders], larger_than=larger_than)
        return {f.source_name: ItemListing(uidvalidity=validity, uids=uids, refs=(),
                                           keys=[item_key(f.folder_id, validity, u) for u in uids],
                                           large=frozenset(large))
                for f, (validity, uids, large) in zip(folders, listed, strict=True)}

    @translated("the measure of the folders")
    def folder_bytes(self, folders: Sequence[FolderRef]) -> dict[str, int]:
        """Each folder's RFC822.SIZE summed (read-only; a SEARCH and a FETCH per non-empty folder)."""
        out: dict[str, int] = {}
        for f in folders:
            exists = int(self.client.select_folder(f.source_name, readonly=True).get(b"EXISTS", 0))
            uids = self.client.search("ALL") if exists else []
            sizes = self.client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
            out[f.source_name] = sum(int(v.get(b"RFC822.SIZE", 0)) for v in sizes.values())
        return out

    @translated("FETCH")
    def fetch(self, task: ExtractTask, limits: FetchLimits) -> Iterator[Fetched]:
        """The task's messages (:func:`shared.adapters.imap.fetch_task.run_task`)."""
        yield from run_task(task, self, limits)

    @translated("FETCH")
    def fetch_group(self, tasks: Sequence[ExtractTask], limits: FetchLimits) -> Iterator[tuple[ExtractTask, Fetched]]:
        """Small tasks of one migration in few round trips (:func:`shared.adapters.imap.fetch_task.run_group`)."""
        yield from run_group(tasks, self, limits)

    def select_many(self, names: Sequence[str], larger_than: int = 0
                    ) -> list[tuple[int, list[int], list[int]]]:
        """UIDVALIDITY and every UID (ascending) of each folder, opened read-only, with every EXAMINE
        and UID SEARCH pipelined: a distant server costs one round trip for the whole listing. With
        ``larger_than``, each folder's third item lists the UIDs of messages above that size.

        The server runs the commands in order, so each folder's answers arrive before the
        next folder's; they are taken out of imaplib's untagged store as each command ends.
        """
        if not names:
            return []
        imap = self.client._imap
        # ESEARCH answers name their command's tag (a server may run two searches side by side) and
        # give UID ranges ("1:200000"), not one number per message. Without it, large ones are not sought.
        esearch = self.client.has_capability("ESEARCH")
        everything = b"UID SEARCH RETURN (ALL) ALL" if esearch else b"UID SEARCH ALL"
        sent = []
        for name in names:
            examine = send_command(imap, b"EXAMINE " + self.client._normalise_folder(name))
            search = send_command(imap, everything)
            large = send_command(imap, b"UID SEARCH RETURN (ALL) LARGER %d" % larger_than) \
                if esearch and larger_than > 0 else None
            sent.append((name, examine, search, large))
        out: list[tuple[int, list[int], list[int]]] = []
        again: list[tuple[int, str]] = []  # (place in out, folder) whose answers did not add up
        refused = ""
        for name, examine, search, large in sent:
            typ, data, validity, exists = self._examined(imap, examine)
            s_typ, _ = command_outcome(imap, "SEARCH", search)
            ranged = _esearch_all(imap, search) if esearch else None
            lines = imap.untagged_responses.pop("SEARCH", [])  # a server may answer RETURN with a plain SEARCH
            found = ranged if ranged is not None else [int(u) for line in lines if line for u in line.split()]
            uids = sorted(set(found))
            if typ == "OK" and len(uids) != exists:
                # The answers do not add up (mail arriving meanwhile, or a server that misreads the
                # pipeline): this folder is listed again on its own, never planned short, once every
                # pipelined answer has been read (a SELECT now would swallow the next folder's).
                again.append((len(out), name))
            big: list[int] = []
            if large is not None:
                l_typ, _ = command_outcome(imap, "SEARCH", large)
                big = sorted(_esearch_all(imap, large) or []) if l_typ == "OK" else []
            if typ != "OK" or s_typ != "OK":
                refused = refused or f"the source refused to open folder {name!r}: {data!r:.200}"
                continue
            out.append((int(validity), uids, big))
        imap.state = "SELECTED"  # what imaplib would say after an EXAMINE of its own
        imap.is_readonly = True
        if refused:
            raise imaplib.IMAP4.error(refused)
        for place, name in again:
            validity_, _uids, big = out[place]
            out[place] = (validity_, self._select_alone(name, validity_), big)
        return out

    def _select_alone(self, name: str, validity: int) -> list[int]:
        if self.open_folder(name) != validity:
            raise imaplib.IMAP4.error(f"folder {name!r} was reset (UIDVALIDITY changed) while it was listed")
        return sorted(int(u) for u in self.client.search("ALL"))

    @classmethod
    def _examined(cls, imap: imaplib.IMAP4, tag: bytes) -> tuple[str, list[object], int, int]:
        """A pipelined EXAMINE's outcome, UIDVALIDITY and EXISTS; its other untagged answers are taken out of
        imaplib's store, so the next command's answers are read alone."""
        typ, data = command_outcome(imap, "EXAMINE", tag)
        validity, exists = (imap.untagged_responses.pop(k, [b"0"])[-1] for k in ("UIDVALIDITY", "EXISTS"))
        for kind in ("RECENT", "FLAGS", "READ-ONLY", "OK", "UIDNEXT", "PERMANENTFLAGS", "HIGHESTMODSEQ"):
            imap.untagged_responses.pop(kind, None)
        return typ, data, int(validity), int(exists)  # type: ignore[arg-type]  # numbers, never literals

    def open_folder(self, name: str) -> int:
        """Open read-only for fetching a known set of UIDs; returns UIDVALIDITY (one round trip, no SEARCH)."""
        info = self.client.select_folder(name, readonly=True)
        return int(info[b"UIDVALIDITY"])

    def open_with_meta(self, name: str, uids: Sequence[int]) -> tuple[int, dict[int, MessageMeta]]:
        """:meth:`open_folder` and :meth:`fetch_meta` in one round trip (a small folder's task was three
        round trips, now two)."""
        if not uids:
            return self.open_folder(name), {}
        [opened] = self.open_many_with_meta([(name, uids)])
        return opened

    def open_many_with_meta(self, reads: Sequence[tuple[str, Sequence[int]]]
                            ) -> list[tuple[int, dict[int, MessageMeta]]]:
        """Each folder's UIDVALIDITY and its listed messages' size, flags and date, every EXAMINE and UID
        FETCH pipelined: one round trip for all. A FETCH answer is kept only when its EXAMINE succeeded: a
        server that refused to open a folder answers the FETCH in no folder (or the one open before), and
        that answer is thrown away with the refusal."""
        sent = self._pipeline(reads, b"(UID RFC822.SIZE FLAGS INTERNALDATE)")
        return [(validity, parse_meta(answers)) for validity, answers in sent]

    def open_many_with_heads(self, reads: Sequence[tuple[str, Sequence[int]]], head: int
                             ) -> list[tuple[int, dict[int, MessageMeta], dict[int, bytes]]]:
        """:meth:`open_many_with_meta` with each message's first ``head`` bytes in the same FETCH
        (``BODY.PEEK[]<0.head>``): a message shorter than that is read whole in the round trip that reads its
        metadata (the caller bounds ``head`` times the messages)."""
        items = b"(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[]<0.%d>)" % head
        return [(validity, parse_meta(answers), parse_bodies(answers))
                for validity, answers in self._pipeline(reads, items)]

    def fetch_bodies_many(self, reads: Sequence[tuple[str, Sequence[int]]]) -> list[dict[int, bytes]]:
        """The bodies of each folder's UIDs, every EXAMINE and UID FETCH pipelined (one round trip)."""
        return [parse_bodies(answers) for _, answers in self._pipeline(reads, b"(UID BODY.PEEK[])")]

    def _pipeline(self, reads: Sequence[tuple[str, Sequence[int]]], items: bytes) -> list[tuple[int, list[object]]]:
        imap = self.client._imap
        imap.untagged_responses = {}  # as imaplib's own SELECT does: no answer of an earlier command is read
        tags = [(name, send_command(imap, b"EXAMINE " + self.client._normalise_folder(name)),
                 send_command(imap, b"UID FETCH " + uid_set(uids).encode() + b" " + items) if uids else None)
                for name, uids in reads]
        out: list[tuple[int, list[object]]] = []
        refused = ""
        for name, examine, fetch in tags:  # every answer is read, so the session stays in step
            typ, data, validity, _exists = self._examined(imap, examine)
            f_typ, f_data = command_outcome(imap, "FETCH", fetch) if fetch is not None else ("OK", [])
            answers = list(imap.untagged_responses.pop("FETCH", []))
            if typ != "OK":
                refused = refused or f"the source refused to open folder {name!r}: {data!r:.200}"
            elif f_typ != "OK":
                refused = refused or f"the source refused FETCH: {f_data!r:.200}"
            out.append((validity, answers))
        imap.state = "SELECTED" if not refused else "AUTH"
        imap.is_readonly = True
        if refused:
            raise imaplib.IMAP4.error(refused)
        return out

    def fetch_meta(self, uids: Sequence[int]) -> dict[int, MessageMeta]:
        if not uids:
            return {}
        return parse_meta(self._uid_fetch(uid_set(uids), "(UID RFC822.SIZE FLAGS INTERNALDATE)"))

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        if not uids:
            return {}
        return parse_bodies(self._uid_fetch(uid_set(uids), "(UID BODY.PEEK[])"))

    def fetch_ranges(self, uid: int, piece: int, per_fetch: int = 1) -> Iterator[bytes]:
        """A large message in pieces of ``piece`` bytes (``BODY.PEEK[]<offset.length>``).

        Each round trip asks for ``per_fetch`` pieces at once (fewer round trips to a distant
        server), so at most that many pieces are in memory, never the whole message. Reads on
        until the server gives less than asked: RFC822.SIZE is not trusted to end the message.
        """
        offset = 0
        span = piece * max(1, per_fetch)
        while True:
            answered = parse_bodies(self._uid_fetch(str(uid), f"(UID BODY.PEEK[]<{offset}.{span}>)"))
            got = memoryview(answered.pop(uid, b""))
            if not got:
                break
            for i in range(0, len(got), piece):
                yield bytes(got[i:i + piece])
            offset += len(got)
            if len(got) < span:
                break

    def _uid_fetch(self, uids: str, items: str) -> list[object]:
        """``UID FETCH`` straight through imaplib; the answer is parsed by :mod:`fetch_parse`."""
        typ, data = self.client._imap.uid("FETCH", uids, items)  # a lost connection raises IMAP4.abort: retried
        if typ != "OK":
            raise imaplib.IMAP4.error(f"the source refused FETCH: {data!r:.200}")
        return list(data or [])

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:
            self.client.shutdown()


def _esearch_all(imap: imaplib.IMAP4, tag: bytes) -> list[int] | None:
    """The UIDs of the ESEARCH answer to ``tag`` (``* ESEARCH (TAG "x") UID ALL 4:6,9``), taken out of
    imaplib's untagged store (None if there was none); answers to other tags stay for their own command."""
    kept: list[bytes | tuple[bytes, bytes]] = []
    found: list[int] | None = None
    for line in imap.untagged_responses.pop("ESEARCH", []):
        text = line if isinstance(line, bytes) else b""
        if b'(TAG "' + tag + b'")' not in text:
            kept.append(line)
            continue
        words = text.split()
        found = expand_uid_set(words[words.index(b"ALL") + 1].decode()) if b"ALL" in words[:-1] else []
    if kept:
        imap.untagged_responses["ESEARCH"] = kept
    return found
