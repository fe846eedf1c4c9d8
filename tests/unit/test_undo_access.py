"""What an undo asks for, per target sign-in (services/intake/undo_access.py), and where the new sign-in starts."""

from __future__ import annotations

import pytest

from services.intake.undo_access import sign_in_url, undo_asks
from shared.adapters import registry
from shared.events import EndpointSpec


def spec(type_: str, auth: str, login: str = "ann@contoso.com") -> EndpointSpec:
    return EndpointSpec(type=type_, host="h", port=443, security="tls", login=login, password_sealed="x",
                        auth=auth)  # type: ignore[arg-type]


@pytest.mark.parametrize(("type_", "auth", "asks"), [
    ("graph", "oauth2", "sign_in"),  # the user's sign-in ended with the migration: a new one
    ("graph", "app", "nothing"),  # the operator's app: no password means anything
    ("ews", "basic", "password"),
    ("ews", "oauth2", "password"),  # a token the user pastes, no sign-in page: asked again like a password
    ("imap", "basic", "password"),
])
def test_what_undo_asks_for(type_: str, auth: str, asks: str) -> None:
    assert undo_asks(registry.system(type_), spec(type_, auth)) == asks


def test_the_sign_in_url_is_intakes_own_start_with_the_login_encoded() -> None:
    assert sign_in_url(spec("graph", "oauth2", "a+b@contoso.com")) == "/api/v1/sign-in/graph?login=a%2Bb%40contoso.com"
