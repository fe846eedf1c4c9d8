"""A password changed during a migration ends the Exchange work with "invalid credentials" instead of
being taken for throttling and retried for ``max_wait`` on every request (exchangelib's patient policy
reads every 401 as "busy")."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from exchangelib.errors import ErrorServerBusy, UnauthorizedError

from shared import net_guard
from shared.adapters.ews import connection as ews_connection
from shared.adapters.net import ConnectOptions
from tests.ews_emulator import EwsEmulator

pytestmark = pytest.mark.integration

LOGIN, PW = "moved@example.test", "pw-before"


@pytest.fixture
def emu() -> Iterator[EwsEmulator]:
    with EwsEmulator() as e:
        e.add_mailbox(LOGIN, PW)
        yield e


def test_a_password_changed_mid_migration_fails_the_session_instead_of_waiting(emu: EwsEmulator) -> None:
    ews_connection.configure(ConnectOptions(allow=net_guard.AllowList.parse("127.0.0.1"), timeout=10))
    account = ews_connection.connect_ews("127.0.0.1", emu.port, "none", LOGIN, PW, max_wait=3600)
    assert account.inbox.name == "Inbox"
    emu.mailboxes[LOGIN].password = "pw-after"  # the user changed it on the server
    policy = account.protocol.retry_policy
    policy.max_401 = 0  # no throttling grace here: the next 401 is the answer
    with pytest.raises(UnauthorizedError):
        account.root.refresh()
    assert emu.unauthorized_answers == 1  # asked once, not again and again until max_wait


def test_a_few_401s_are_patience_and_a_success_resets_the_count() -> None:
    policy = ews_connection.PatientPolicy(max_wait=3600, max_401=1)
    answer = {401: SimpleNamespace(status_code=401, url="https://ex/EWS", headers={}, content=b""),
              200: SimpleNamespace(status_code=200, url="https://ex/EWS", headers={}, content=b"")}
    with pytest.raises(ErrorServerBusy):  # the first 401 may be throttling: retried after a back-off
        policy.raise_response_errors(answer[401])
    policy.raise_response_errors(answer[200])
    with pytest.raises(ErrorServerBusy):  # counted afresh after a success
        policy.raise_response_errors(answer[401])
    with pytest.raises(UnauthorizedError):  # the second in a row is the password
        policy.raise_response_errors(answer[401])
