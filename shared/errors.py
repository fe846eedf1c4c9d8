"""One hierarchy of errors by kind.

The kind decides what happens: retry (``Transient``, ``Throttled``), report the
item and go on (``ItemRejected``), or fail the migration with a message the user
can act on (``AuthenticationFailed``, ``ServerUnreachable``, ``TlsError``...).
``str(error)`` is the user-facing message and never contains a secret.
"""

from __future__ import annotations


class MailferryError(Exception):
    """Base class; ``code`` is stable and machine-readable."""

    code = "error"
    retryable = False


class ConnectionCheckFailed(MailferryError):
    """A login check failed before the migration started."""

    code = "connection_failed"


class HostNotFound(ConnectionCheckFailed):
    code = "host_not_found"
    field = "host"  # the field at fault, named in the API's error (``source.host``)


class AddressNotAllowed(ConnectionCheckFailed):
    code = "address_not_allowed"
    field = "host"


class ServerUnreachable(ConnectionCheckFailed):
    code = "server_unreachable"
    retryable = True


class ServerBusy(ConnectionCheckFailed):
    """The server refused a login for now (``NO [LIMIT]``, ``[UNAVAILABLE]``): tried again after a back-off
    every replica keeps (:mod:`shared.host_leases`), never the migration's end."""

    code = "server_busy"
    retryable = True

    def __init__(self, message: str, backoff_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.backoff_seconds = backoff_seconds


class TlsError(ConnectionCheckFailed):
    code = "tls_error"


class AuthenticationFailed(ConnectionCheckFailed):
    code = "authentication_failed"


class ProtocolError(ConnectionCheckFailed):
    """The server answered, but not as the chosen protocol would."""

    code = "protocol_error"


class NotSupported(MailferryError):
    """An account type, or an operation on it, that this version cannot read or write."""

    code = "not_supported"


class ItemRejected(MailferryError):
    """The target refused one item; it is reported and the migration goes on."""

    code = "item_rejected"


class FoldersRefused(ItemRejected):
    """The target refused to create some folders of a call (names it cannot take): ``refused`` says which and
    why, ``created`` what the same call did create (for undo)."""

    def __init__(self, created: list[str], refused: dict[str, str]) -> None:
        super().__init__("; ".join(refused.values()))
        self.created = created
        self.refused = refused


def folder_refused(who: str, name: str, answer: str) -> str:
    """The reason a refused folder's messages carry: who refused which folder (a long name shortened, levels
    joined by "/"), then the server's own words."""
    shown = name.replace("\x1f", "/")
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"{who} refused to create folder {shown!r}: {answer}"[:300]


class FileRefused(MailferryError):
    """An uploaded file that cannot be imported; ``code`` says why (``not_a_pst``, ``pst_truncated``...)
    and the message says it in plain words."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ServerRefused(MailferryError):
    """The server refused a command the adapter cannot do without (a folder it will not open, a FETCH
    it answers NO): not a passing fault, so the batch is given up after a few attempts."""

    code = "server_refused"


class Transient(MailferryError):
    """A passing fault (connection dropped, timeout); retried with back-off."""

    code = "transient"
    retryable = True


class Throttled(Transient):
    code = "throttled"

    def __init__(self, message: str, backoff_seconds: float = 1.0) -> None:
        super().__init__(message)
        self.backoff_seconds = backoff_seconds


class SecretUnavailable(MailferryError):
    """The migration's credentials were deleted (final state) or the key is unknown."""

    code = "secret_unavailable"


class EventError(MailferryError):
    """An event could not be decoded: unknown type or version, or invalid content."""

    code = "bad_event"
