"""An in-memory Microsoft Graph v1.0 emulator for tests: a real HTTP(S) server with an Entra ID token endpoint,
stateful Exchange Online mailboxes, and request/response checks against its own model of Graph (model/), which
`metadata/check.py` compares with Microsoft's published metadata.
See README.md in this folder and `GraphEmulator`."""

from .clock import Clock, ManualClock
from .emulator import ALL_APPLICATION, ALL_DELEGATED, GraphEmulator
from .store import Mailbox
from .throttle import Limits
from .tls import self_signed_client_certificate

__all__ = ["ALL_APPLICATION", "ALL_DELEGATED", "Clock", "GraphEmulator", "Limits", "Mailbox", "ManualClock",
           "self_signed_client_certificate"]
