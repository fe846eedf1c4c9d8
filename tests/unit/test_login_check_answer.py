"""Intake's login checks answer once both logins are known; the logouts (a round trip each) and the session
leases' release follow in the checking threads, each lease given back only after its session ended."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, cast

from services.intake.login_check import check_both
from shared.adapters import registry
from shared.adapters.descriptor import System
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.errors import AuthenticationFailed
from shared.events import EndpointSpec
from shared.host_leases import SessionGate
from shared.net_guard import AllowList


def spec(login: str) -> EndpointSpec:
    return EndpointSpec(type="imap", host="imap.check.test", port=143, security="none", login=login,
                        password_sealed="")


class Gate:
    """Records when each check's lease is taken and given back."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    @contextmanager
    def held(self, host: str | None, login: str, timeout: float | None = None) -> Iterator[None]:
        self.events.append(f"lease {login}")
        try:
            yield
        finally:
            self.events.append(f"lease back {login}")


class Rig:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.logouts = threading.Event()  # set: the servers answer LOGOUT
        self.env = AdapterEnv(connect=ConnectOptions(allow=AllowList()), gate=cast(SessionGate, Gate(self.events)))

    def open_login(self, s: EndpointSpec, password: str, env: AdapterEnv) -> Callable[[], None]:
        if password != "pw":
            raise AuthenticationFailed(f"{s.host} refused the login or password for {s.login}")
        self.events.append(f"in {s.login}")

        def logout() -> None:
            assert self.logouts.wait(5)
            self.events.append(f"out {s.login}")

        return logout

    def system(self) -> System:
        return System(name="imap", label="IMAP", check_login=lambda s, p, e: self.open_login(s, p, e)(),
                      open_login=self.open_login)


def ordered(events: list[str], *names: str) -> bool:
    return [e for e in events if e in names] == list(names)


def test_the_answer_does_not_wait_for_the_logouts() -> None:
    rig = Rig()
    with registry.registered(rig.system()), ThreadPoolExecutor(4) as pool:
        outcomes: dict[str, Any] = check_both((spec("ann"), "pw"), (spec("bob"), "wrong"), rig.env, pool,
                                              answer_first=True)
        assert outcomes["source"] is None and isinstance(outcomes["target"], AuthenticationFailed)
        assert "out ann" not in rig.events and "lease back ann" not in rig.events  # still logging out
        assert ordered(rig.events, "lease bob", "lease back bob")  # the refused one holds nothing
        rig.logouts.set()
    assert ordered(rig.events, "lease ann", "in ann", "out ann", "lease back ann")  # the lease after the logout


def test_by_default_the_answer_comes_after_the_logouts() -> None:
    rig = Rig()
    rig.logouts.set()
    with registry.registered(rig.system()), ThreadPoolExecutor(4) as pool:
        outcomes = check_both((spec("ann"), "pw"), (spec("bob"), "pw"), rig.env, pool)
        assert outcomes == {"source": None, "target": None}
        for login in ("ann", "bob"):
            assert ordered(rig.events, f"lease {login}", f"in {login}", f"out {login}", f"lease back {login}")
