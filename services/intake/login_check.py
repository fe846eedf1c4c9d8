"""Checking both logins on the real servers before anything is queued.

Both sides are checked at once (two threads), so a user waits for the slower
server, not the sum. Errors keep their kind and say which side they concern.
What a login check is belongs to each system (the registry): the account's own
login, and a second protocol a chosen operation needs (ManageSieve for rules).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Literal

from shared.adapters import registry
from shared.adapters.ports import AdapterEnv
from shared.errors import ConnectionCheckFailed, ProtocolError, ServerBusy
from shared.events import EndpointSpec
from shared.host_leases import SessionRefused

Side = Literal["source", "target"]
CHECK_WAIT_SECONDS = 20.0  # how long a check waits for a session under a full cap (the request waits as long)


class SideFailed(Exception):
    def __init__(self, side: str, error: ConnectionCheckFailed) -> None:
        super().__init__(str(error))
        self.side = side
        self.error = error


def check_endpoint(spec: EndpointSpec, password: str, env: AdapterEnv, side: Side = "target",
                   options: Collection[str] = ()) -> None:
    """Log in to the account, and to what the chosen ``options`` need on this ``side``; raises the
    ConnectionCheckFailed kind that says why not."""
    open_endpoint(spec, password, env, side, options)()


def open_endpoint(spec: EndpointSpec, password: str, env: AdapterEnv, side: Side = "target",
                  options: Collection[str] = ()) -> Callable[[], None]:
    """:func:`check_endpoint` up to its outcome: returns what logs the account's session out and gives its lease
    back after it (a system without :attr:`~shared.adapters.descriptor.System.open_login` is logged out already)."""
    system = registry.SYSTEMS.get(spec.type)
    if system is None or system.check_login is None:
        raise ProtocolError(f"{spec.type} accounts cannot be checked by this version")
    ends = ExitStack()
    try:
        ends.enter_context(capped(spec, env))  # one session at a time, under the host's and account's caps
        if system.open_login is not None:
            ends.callback(system.open_login(spec, password, env))
        else:
            system.check_login(spec, password, env)
        ways = system.readers if side == "source" else system.writers
        for op in registry.ordered(list(options)):
            way = ways.get(op)
            if way is not None and way.check_login is not None:
                way.check_login(spec, password, env)
    except BaseException:
        ends.close()
        raise
    return ends.close


@contextmanager
def capped(spec: EndpointSpec, env: AdapterEnv) -> Iterator[None]:
    """A lease on the session caps for the check's session (none without a gate: unit tests); a server whose
    cap stays full for ``CHECK_WAIT_SECONDS`` is answered as busy, not waited for without end."""
    if env.gate is None:
        yield
        return
    try:
        with env.gate.held(registry.session_host(spec), spec.login, timeout=CHECK_WAIT_SECONDS):
            yield
    except SessionRefused as exc:
        raise ServerBusy(f"the server has no session free for a login check now ({exc}); try again "
                         "in a minute") from None


def check_both(source: tuple[EndpointSpec, str], target: tuple[EndpointSpec, str], env: AdapterEnv,
               pool: ThreadPoolExecutor, options: Collection[str] = (), *,
               answer_first: bool = False) -> dict[str, ConnectionCheckFailed | None]:
    """Each side's failure, or None where the login succeeded: both are always known (the target's
    outcome counts against its login's limit even when the source failed). Each side is (account, password).
    With ``answer_first`` the outcomes come as soon as both logins are known, and each session is logged out
    (its lease given back after) in its checking thread meanwhile: a LOGOUT is a round trip no answer needs."""
    sides: tuple[tuple[Side, tuple[EndpointSpec, str]], ...] = (("source", source), ("target", target))
    known: dict[str, Future[None]] = {side: Future() for side, _ in sides}

    def check(side: Side, spec: EndpointSpec, password: str) -> None:
        try:
            end = open_endpoint(spec, password, env, side, options)
        except BaseException as exc:
            known[side].set_exception(exc)
            return
        if answer_first:
            known[side].set_result(None)
        try:
            end()
        finally:
            if not answer_first:
                known[side].set_result(None)

    checks = [pool.submit(check, side, spec, password) for side, (spec, password) in sides]
    outcomes: dict[str, ConnectionCheckFailed | None] = {}
    for side, fut in known.items():
        try:
            fut.result()
            outcomes[side] = None
        except ConnectionCheckFailed as exc:
            outcomes[side] = exc
    for done in checks if not answer_first else ():
        done.result()
    return outcomes


def raise_first_failure(outcomes: dict[str, ConnectionCheckFailed | None]) -> None:
    """Raises :class:`SideFailed` for the first side (source first) that failed."""
    for side in ("source", "target"):
        failure = outcomes.get(side)
        if failure is not None:
            raise SideFailed(side, failure)
