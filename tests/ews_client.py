"""exchangelib on the EWS emulator, as the tests read back (or prepare) a mailbox: one way for every test.

Basic authentication, Exchange 2016, no autodiscover. ``fail_fast``: a refused request is an error at once
(exchangelib would otherwise retry it for minutes; tests that use refusals as crashes want that).
"""

from __future__ import annotations

from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials, EWSTimeZone, Version
from exchangelib.protocol import FailFast
from exchangelib.version import EXCHANGE_2016


def emulator_account(url: str, login: str, password: str, *, fail_fast: bool = False,
                     timezone: EWSTimeZone | None = None) -> Account:
    """A logged-in exchangelib Account for ``login`` on the emulator at ``url``."""
    config = Configuration(service_endpoint=url, credentials=Credentials(login, password), auth_type=BASIC,
                           version=Version(build=EXCHANGE_2016), **({"retry_policy": FailFast()} if fail_fast else {}))
    if timezone is None:
        return Account(login, config=config, autodiscover=False, access_type=DELEGATE)
    return Account(login, config=config, autodiscover=False, access_type=DELEGATE, default_timezone=timezone)
