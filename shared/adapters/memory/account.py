"""What a memory account holds: folders of messages (with UIDVALIDITY and UIDs), items, settings; and the
faults a test can ask for.

Faults (each a plain attribute the test sets):

- ``fail_at``: steps that raise ``Transient`` while listed ("login", "list", "fetch", "create", "append",
  "write_items", "remove", "restore"), as a dropped connection would;
- ``lose_answers``: that many writes land on the account, then raise ``Transient`` before answering —
  the lost APPEND answer the ledger's in-flight marks exist for;
- ``refuse``: a predicate over an item's bytes; a write of such an item is refused (``ItemRejected``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import AuthenticationFailed, ItemRejected, Transient
from shared.folder_map import INBOX

DELIMITER = "/"


@dataclass(frozen=True)
class StoredMessage:
    data: bytes
    flags: tuple[str, ...]
    internaldate: datetime


@dataclass
class MemFolder:
    uidvalidity: int
    use: str | None = None  # its special use ("\\Sent"...), as SPECIAL-USE would flag it
    next_uid: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)


@dataclass(frozen=True)
class MemItem:
    """A contact, group, event, task or rule, in its neutral format; ``marker`` names what wrote it."""

    item_type: str
    payload: str
    name: str = ""
    marker: str = ""


@dataclass
class MemoryAccount:
    login: str
    password: str
    folders: dict[str, MemFolder] = field(default_factory=dict)
    items: dict[str, MemItem] = field(default_factory=dict)  # by the account's own id
    settings: dict[str, str] = field(default_factory=dict)  # "auto_reply" → its JSON model
    fail_at: set[str] = field(default_factory=set)
    lose_answers: int = 0
    refuse: Callable[[bytes], bool] | None = None
    logins: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _next_id: int = 0
    _next_validity: int = 1000

    def __post_init__(self) -> None:
        self.folder(INBOX)

    # -- for tests and adapters alike ---------------------------------------------------------------
    def folder(self, name: str, use: str | None = None) -> MemFolder:
        """The folder, created (with its parents) if missing."""
        with self.lock:
            parts = name.split(DELIMITER)
            for i in range(1, len(parts) + 1):
                each = DELIMITER.join(parts[:i])
                if each not in self.folders:
                    self._next_validity += 1
                    self.folders[each] = MemFolder(self._next_validity, use if i == len(parts) else None)
            return self.folders[name]

    def add(self, folder: str, data: bytes, flags: tuple[str, ...], when: datetime) -> int:
        """A message appended; its UID."""
        with self.lock:
            f = self.folder(folder)
            uid = f.next_uid
            f.next_uid += 1
            f.messages[uid] = StoredMessage(data, tuple(flags), when)
            return uid

    def add_item(self, item: MemItem) -> str:
        with self.lock:
            self._next_id += 1
            ref = f"item-{self._next_id}"
            self.items[ref] = item
            return ref

    # -- faults ------------------------------------------------------------------------------------
    def step(self, name: str) -> None:
        if name in self.fail_at:
            raise Transient(f"memory account {self.login}: the connection dropped during {name}")

    def check_refused(self, data: bytes) -> None:
        if self.refuse is not None and self.refuse(data):
            raise ItemRejected("the memory account refused the item")

    def answer_lost(self) -> bool:
        """Whether this write's answer is lost (it landed all the same)."""
        with self.lock:
            if self.lose_answers > 0:
                self.lose_answers -= 1
                return True
            return False


@dataclass
class MemoryServer:
    """The accounts of one memory "server", by login."""

    accounts: dict[str, MemoryAccount] = field(default_factory=dict)

    def account(self, login: str, password: str = "pw") -> MemoryAccount:  # noqa: S107 - a test account
        """The account, created if missing."""
        if login not in self.accounts:
            self.accounts[login] = MemoryAccount(login, password)
        return self.accounts[login]

    def login(self, login: str, password: str) -> MemoryAccount:
        found = self.accounts.get(login)
        if found is None or found.password != password:
            raise AuthenticationFailed("the memory server refused the login")
        found.step("login")
        found.logins += 1
        return found
