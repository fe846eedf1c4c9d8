"""POP3 source adapter: UIDLs, sizes and messages; POP3 has no folders and no flags.

Everything the server holds is the Inbox.  Delta passes key messages by UIDL
(:func:`pop3_item_key`); message numbers are only valid within one session.
Bodies are fetched with ``RETR`` (never ``DELE``, and the session ends with
``QUIT`` that has nothing to commit).  When the server advertises PIPELINING
(RFC 2449) a window of ``RETR`` commands is kept in flight, so small messages do
not each cost a round trip.  The date a message gets on the target comes from
its own headers (:func:`received_date`), as POP3 has no INTERNALDATE.
"""

from __future__ import annotations

import hashlib
import poplib
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from itertools import islice

from shared.adapters.pop3.connection import Pop3Client, ServerRefused
from shared.errors import ProtocolError, Transient
from shared.mail_dates import header_block, header_date

__all__ = ["Pop3Source", "pop3_item_key", "received_date"]

#: RETR commands kept in flight when pipelining; refilled once half of them are answered.
DEFAULT_WINDOW = 64


def pop3_item_key(uidl: str) -> str:
    """A stable, short, path- and header-safe key for one POP3 message of an account."""
    return "pop3:" + hashlib.sha256(uidl.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def received_date(data: bytes) -> datetime | None:
    """When the message arrived: the topmost ``Received:`` date, else ``Date:``; tz-aware or None.

    The date of a Received field is what follows its last ``;`` (RFC 5321 time stamp),
    folded lines are unfolded, and an unparseable value counts as absent.
    """
    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(header_block(data))
        received = msg.get_all("Received") or []
        date_field = msg.get("Date")
    except Exception:  # a malformed header must not stop the migration
        return None
    if received:
        top = str(received[0])
        if ";" in top:
            when = header_date(top.rsplit(";", 1)[1])
            if when is not None:
                return when
    if date_field is not None:
        return header_date(str(date_field))
    return None


def _reply(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else b""
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    return " ".join(text.split())[:200]


class Pop3Source:
    """Reads one POP3 maildrop. Not thread-safe: one per worker thread."""

    def __init__(self, client: Pop3Client, window: int = DEFAULT_WINDOW) -> None:
        self.client = client
        self.window = max(1, window)
        self.where = f"{client.host}:{client.port}"
        #: Message numbers whose RETR was refused (deleted meanwhile by another session).
        self.vanished: set[int] = set()

    @property
    def pipelining(self) -> bool:
        return self.client.pipelining

    def _lost(self, exc: BaseException) -> Transient:
        return Transient(f"connection to {self.where} lost: {type(exc).__name__}")

    def uidls(self) -> list[tuple[int, str]]:
        """(message number, UIDL) for every message, in maildrop order."""
        try:
            _resp, lines, _octets = self.client.uidl()
        except poplib.error_proto as exc:
            if exc.args and exc.args[0] in ("-ERR EOF", b"-ERR EOF"):  # poplib's word for a closed connection
                raise self._lost(exc) from None
            raise ProtocolError(f"{self.where} does not support UIDL, which delta passes need") from None
        except OSError as exc:
            raise self._lost(exc) from None
        out: list[tuple[int, str]] = []
        for line in lines:
            parts = line.split()
            if len(parts) != 2 or not parts[0].isdigit():
                raise ProtocolError(f"{self.where} sent a malformed UIDL line")
            out.append((int(parts[0]), parts[1].decode("ascii", "surrogateescape")))
        return out

    def sizes(self) -> dict[int, int]:
        """Message number → size in octets (LIST; may differ slightly from the RETR bytes)."""
        try:
            _resp, lines, _octets = self.client.list()
        except poplib.error_proto as exc:
            if exc.args and exc.args[0] in ("-ERR EOF", b"-ERR EOF"):
                raise self._lost(exc) from None
            raise ProtocolError(f"{self.where} refused LIST: {_reply(exc)}") from None
        except OSError as exc:
            raise self._lost(exc) from None
        out: dict[int, int] = {}
        for line in lines:
            parts = line.split()
            if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
                raise ProtocolError(f"{self.where} sent a malformed LIST line")
            out[int(parts[0])] = int(parts[1])
        return out

    def fetch(self, numbers: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """(number, message bytes as served) for each number, in order; vanished ones are skipped.

        With PIPELINING up to ``window`` RETRs are in flight; otherwise one at a time.
        Stopping the iteration early reads the outstanding replies, so the session stays usable.
        """
        window = self.window if self.pipelining else 1
        todo = iter(numbers)
        pending: deque[int] = deque()
        client = self.client

        def send(count: int) -> None:
            batch = list(islice(todo, count))
            if batch:
                client.send_raw(b"".join(b"RETR %d\r\n" % n for n in batch))
                pending.extend(batch)

        try:
            send(window)
            while pending:
                number = pending.popleft()
                data = self._read_retr(number)
                if len(pending) <= window // 2:
                    send(window - len(pending))  # keep the server busy while the caller works
                if data is not None:
                    yield number, data
        except GeneratorExit:
            self._drain(pending)
            raise
        except (poplib.error_proto, OSError) as exc:
            raise self._lost(exc) from None

    def _read_retr(self, number: int) -> bytes | None:
        try:
            self.client.read_status()
        except ServerRefused:
            self.vanished.add(number)
            return None
        return self.client.read_multiline()

    def _drain(self, pending: deque[int]) -> None:
        try:
            while pending:
                self._read_retr(pending.popleft())
        except (poplib.error_proto, OSError):
            self.client.abort()

    def close(self) -> None:
        self.client.logout()
