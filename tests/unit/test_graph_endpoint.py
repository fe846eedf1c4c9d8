"""The API's account for Microsoft 365 (``"type": "graph"``): what is accepted and what is refused, with the
field at fault. Expected bodies and messages written here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.api_models import Endpoint


def test_the_operators_app_needs_no_server_and_no_password() -> None:
    ep = Endpoint.model_validate({"type": "graph", "login": " ann@contoso.example ", "host": "evil.example"})
    assert (ep.type, ep.login, ep.auth, ep.password, ep.host) == ("graph", "ann@contoso.example", "app", "", "")


def test_a_signed_in_user_sends_the_sign_in_id() -> None:
    ep = Endpoint.model_validate({"type": "graph", "login": "ann@contoso.example", "auth": "oauth2",
                                  "password": "sign-in-id"})
    assert (ep.auth, ep.password) == ("oauth2", "sign-in-id")


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"type": "graph", "login": "ann@contoso.example", "auth": "oauth2"}, "password", "at least 1 character"),
    ({"type": "graph", "login": "ann", "auth": "app"}, "login", "is named by its e-mail address"),
    ({"type": "graph", "login": "ann@contoso.example", "auth": "basic"}, "auth",
     "Microsoft 365 / Exchange Online accounts sign in with app or oauth2"),
    ({"type": "imap", "host": "imap.example", "login": "ann", "password": "pw", "auth": "app"}, "auth",
     "IMAP accounts sign in with basic"),
    ({"type": "imap", "host": "imap.example", "login": "ann"}, "password", "at least 1 character"),
    ({"type": "graph", "login": "ann@contoso.example", "auth": "oauth2", "password": "a\nb"}, "password",
     "control characters"),
])
def test_what_is_refused(body: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Endpoint.model_validate(body)
    [first] = err.value.errors()[:1]
    assert first["loc"] == (field,) and message in first["msg"]


def test_the_schema_says_the_same() -> None:
    rules = Endpoint.model_json_schema()["allOf"]
    assert {"if": {"properties": {"type": {"enum": ["graph"]}, "auth": {"enum": ["app"]}}, "required": ["type"]},
            "else": {"required": ["password"], "properties": {"password": {"minLength": 1}}}} in rules
    [hostless] = [r for r in rules if r["if"]["properties"]["type"]["enum"] == ["ews", "graph"] and "else" in r]
    assert hostless["else"]["required"] == ["host"]  # every other type needs a server
