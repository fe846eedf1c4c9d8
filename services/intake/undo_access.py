"""What an undo asks for to reach the target again, from the registry's facts on the target's sign-in.

The caller is always the user of the migration (its ID and source login, checked before). Besides, undo
removes data from the target, so it proves again that it may write there — how depends on how the target
signed in at the start:

- ``password``: the target account's password, asked again (IMAP, Exchange with a password or token);
- ``sign_in``: the user signed in on the web page (Microsoft 365, authorization code with PKCE); those tokens
  were deleted at the migration's final state, so the user signs in again and the undo carries the new
  sign-in id in ``target_password`` (as the start did);
- ``nothing``: the operator's app signs in for the mailbox's organisation; a password would mean nothing.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from shared.adapters.descriptor import System
from shared.events import EndpointSpec

Asks = Literal["password", "sign_in", "nothing"]
SIGN_IN_PREFIX = "/api/v1/sign-in"


def undo_asks(system: System, spec: EndpointSpec) -> Asks:
    """What the undo of a migration into ``spec`` needs besides the migration's ID and source login."""
    if system.sign_in is not None and spec.auth == "oauth2":
        return "sign_in"
    if spec.auth in system.passwordless_auth:
        return "nothing"
    return "password"


def sign_in_url(spec: EndpointSpec) -> str:
    """Where the browser starts the new sign-in (intake's own start, which sends it on to the sign-in service)."""
    return f"{SIGN_IN_PREFIX}/{quote(spec.type)}?login={quote(spec.login)}"
