"""An in-memory EWS (Exchange Web Services) emulator for tests: a real HTTP server that the real
exchangelib client talks to. See `EwsEmulator`."""

from .server import EWS_PATH, EwsEmulator
from .store import Attachment, Folder, Item, Mailbox

__all__ = ["EWS_PATH", "Attachment", "EwsEmulator", "Folder", "Item", "Mailbox"]
