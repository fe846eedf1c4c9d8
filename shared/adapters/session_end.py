"""Ending a mail session only once the server has ended it: what makes a lease given back mean "closed".

A session's lease (:mod:`shared.host_leases`) stands for a session the server holds. After LOGOUT (IMAP,
ManageSieve) or QUIT (POP3) the server answers, then closes its side; a client that closed on the answer
and gave its lease back at once could have its next session logged in while the server still held this
one. So every session ends here: our side half-closed (a session dropped without logging out is ended by
the server when it reads that), the stream read until the server's end of file, then closed. A server
that does not close within :data:`EOF_WAIT_SECONDS` is left then (its lease goes back; the wait is
bounded so a silent server cannot hold a worker).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

#: How long a session's end waits for the server to close its side.
EOF_WAIT_SECONDS = 2.0
#: A server still sending after this much is not waited for (it would only be read and thrown away).
_DRAIN_LIMIT = 1 << 20


def close_after_server(sock: socket.socket | None, seconds: float = EOF_WAIT_SECONDS, *,
                       clock: Callable[[], float] = time.monotonic) -> bool:
    """Half-close ``sock``, read until the server closes it (or resets it), then close it.

    Returns False when the wait ran out (or the server kept sending): the socket is closed all the same.
    An ``ssl.SSLSocket`` is half-closed below TLS: the rest is read as raw bytes, never looked at.
    """
    if sock is None:
        return True
    deadline = clock() + seconds
    drained = 0
    try:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        while drained < _DRAIN_LIMIT:
            left = deadline - clock()
            if left <= 0:
                return False
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                return True
            drained += len(chunk)
        return False
    except TimeoutError:
        return False
    except (OSError, ValueError):  # reset or already closed: the server's side is gone
        return True
    finally:
        with contextlib.suppress(OSError):
            sock.close()
