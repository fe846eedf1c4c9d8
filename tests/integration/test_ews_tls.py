"""An Exchange account given ``tls_verify: false`` connects to a server whose certificate is not trusted,
and only that account: against the EWS emulator served over HTTPS with a self-signed certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from exchangelib.errors import TransportError

from mailferry.dovecot import _make_certificate
from shared.adapters.ews import connection as ews_connection
from shared.errors import TlsError
from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

LOGIN, PW = "tls@example.test", "pw-tls-1"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EwsEmulator]:
    cert, key = _make_certificate(tmp_path / "cert", ["127.0.0.1", "localhost"])
    with EwsEmulator(tls=(cert, key)) as e:
        e.add_mailbox(LOGIN, PW)
        yield e


def test_an_untrusted_certificate_is_refused_unless_the_account_turns_checks_off(emu: EwsEmulator) -> None:
    assert emu.url.startswith("https://")
    with pytest.raises(TlsError):
        ews_connection.check_login("127.0.0.1", emu.port, "tls", LOGIN, PW)
    with pytest.raises(TransportError):
        _ = ews_connection.connect_ews("127.0.0.1", emu.port, "tls", LOGIN, PW, fail_fast=True).inbox.id
    assert emu.requests_served == 0  # nothing was sent over the unverified connection

    ews_connection.check_login("127.0.0.1", emu.port, "tls", LOGIN, PW, tls_verify=False)
    insecure = ews_connection.connect_ews("127.0.0.1", emu.port, "tls", LOGIN, PW, tls_verify=False)
    assert insecure.inbox.name == "Inbox"
    served = emu.requests_served
    assert served > 0

    # the same server and login without the setting still verifies: no session is shared
    with pytest.raises(TransportError):
        _ = ews_connection.connect_ews("127.0.0.1", emu.port, "tls", LOGIN, PW, fail_fast=True).inbox.id
    with pytest.raises(TlsError):
        ews_connection.check_login("127.0.0.1", emu.port, "tls", LOGIN, PW)
    assert emu.requests_served == served
