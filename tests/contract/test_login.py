"""Every system's login check (what intake asks before anything is queued): refusals by kind."""

from __future__ import annotations

import pytest

from shared.errors import AuthenticationFailed, ServerUnreachable
from tests.contract.conftest import needs
from tests.contract.rigs import Rig

pytestmark = pytest.mark.contract


@needs("login")
def test_a_wrong_password_is_refused_as_such(rig: Rig) -> None:
    acct = rig.account()
    rig.check_login(acct.spec, acct.password)
    with pytest.raises(AuthenticationFailed):
        rig.check_login(acct.spec, "not-" + acct.password)


@needs("network")
def test_a_closed_port_is_unreachable(rig: Rig) -> None:
    acct = rig.account()
    with pytest.raises(ServerUnreachable):
        rig.check_login(rig.unreachable(), acct.password)
