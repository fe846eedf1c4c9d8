"""What the loader needs from a target, whatever its protocol (IMAP, Exchange)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.adapters.ports import Outgoing, Placed
from shared.errors import ItemRejected


class MailTarget(Protocol):
    def folder_name(self, path: Sequence[str]) -> str:
        """The target's key for a neutral folder path."""

    def folder_ref(self, name: str) -> str:
        """The id to record for a created folder ("" when the name is enough)."""

    def ensure_folder(self, name: str) -> list[str]:
        """Create the folder and missing parents; the ones actually created."""

    def ensure_folders(self, names: Sequence[str]) -> list[str]:
        """:meth:`ensure_folder` for many; the ones actually created, parents first."""

    def append_many(self, folder: str, msgs: Sequence[Outgoing]) -> list[Placed | ItemRejected]:
        """Write the messages; per message where it landed or why it was refused."""

    def append_pipelined(self, jobs: Sequence[tuple[str, Sequence[Outgoing]]]) -> list[list[Placed | ItemRejected]]:
        """Several ``append_many`` calls, as many as the protocol allows in flight at once."""

    def find(self, folder: str, msg: Outgoing, exclude: set[str] | frozenset[str] = frozenset()) -> Placed | None:
        """The copy of ``msg`` already on the target (after a lost answer), if any."""

    def close(self) -> None: ...
