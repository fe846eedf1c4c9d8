"""imaplib's exceptions as the ports' error kinds, at the adapter's boundary.

A dropped connection (``IMAP4.abort``, a socket error) is ``Transient``: the batch is retried on a
new session. Any other ``IMAP4.error`` is a command the server refused (a BAD or NO the adapter did
not expect), ``ServerRefused``: retried a few times, then the batch is given up and reported. The
kinds of :mod:`shared.errors` the adapter raises itself pass unchanged.
"""

from __future__ import annotations

import functools
import imaplib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

from shared.errors import MailferryError, ServerRefused, Throttled, Transient

#: Response codes with which a server says it is overloaded or limits us (RFC 5530): wait, then again.
BUSY_CODES = ("[LIMIT]", "[UNAVAILABLE]")


def busy(text: str) -> bool:
    """Whether a server's answer says "not now" rather than "no"."""
    upper = text.upper()
    return any(code in upper for code in BUSY_CODES)

F = TypeVar("F", bound=Callable[..., Any])


def translate(exc: BaseException, what: str) -> MailferryError | None:
    """The port's kind for an exception from imaplib or the socket, or None for anything else."""
    if isinstance(exc, imaplib.IMAP4.abort):
        return Transient(f"the IMAP connection was lost during {what}: {str(exc)[:200]}")
    if isinstance(exc, imaplib.IMAP4.error) and busy(str(exc)):
        return Throttled(f"the IMAP server is busy ({what}): {str(exc)[:200]}")
    if isinstance(exc, imaplib.IMAP4.error):
        return ServerRefused(f"the IMAP server refused {what}: {str(exc)[:200]}")
    if isinstance(exc, OSError):
        return Transient(f"the IMAP connection failed during {what}: {type(exc).__name__}: {str(exc)[:200]}")
    return None


def _reraise(exc: Exception, what: str) -> NoReturn:
    kind = translate(exc, what)
    if kind is None:
        raise exc
    raise kind from None


def translated(what: str) -> Callable[[F], F]:
    """Decorate a port method (a generator too) so imaplib's exceptions leave it as the ports' kinds."""

    def wrap(func: F) -> F:
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def gen(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from func(*args, **kwargs)
                except Exception as exc:
                    _reraise(exc, what)
            return cast(F, gen)

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                _reraise(exc, what)
        return cast(F, call)

    return wrap
