"""The account types the form offers are the registry's, each with its usual ports (services/intake/web_routes.py)."""

from __future__ import annotations

import json
import re

import pytest

from services.intake import web_routes
from services.intake.web_routes import account_type_options, load_page

OPTION = re.compile(r'<option value="(\w+)" data-i18n="type\.(\w+)" data-ports="([^"]*)" data-security="(\w*)">([^<]+)</option>')


def options(side: str) -> list[tuple[str, dict[str, int], str, str]]:
    found = OPTION.findall(account_type_options(side))
    assert all(value == key for value, key, *_ in found)
    return [(value, json.loads(ports.replace("&quot;", '"')), security, label)
            for value, _key, ports, security, label in found]


def test_each_side_offers_its_types_with_their_ports() -> None:
    assert options("source") == [
        ("imap", {"tls": 993, "starttls": 143, "none": 143}, "", "IMAP"),
        ("pop3", {"tls": 995, "starttls": 110, "none": 110}, "", "POP3"),
        ("ews", {"tls": 443, "starttls": 443, "none": 80}, "tls", "Exchange (EWS)"),
    ]
    assert [value for value, *_ in options("target")] == ["imap", "ews"]  # POP3 is a source only


def test_the_page_has_them_in_place_of_the_marker() -> None:
    page = load_page("/", "index.html", "")
    assert "ACCOUNT-TYPES" not in page
    assert page.count('<option value="ews"') == 2 and page.count('<option value="pop3"') == 1


def test_a_type_without_a_label_or_a_pair_without_a_reason_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    real = web_routes._dictionary

    def without(key: str):  # type: ignore[no-untyped-def]
        return lambda lang: {k: v for k, v in real(lang).items() if k != key}

    monkeypatch.setattr(web_routes, "_dictionary", without("type.pop3"))
    with pytest.raises(ValueError, match=r"type\.pop3"):
        account_type_options("source")
    monkeypatch.setattr(web_routes, "_dictionary", without("options.reason.pop3_ews"))
    with pytest.raises(ValueError, match=r"options\.reason\.pop3_ews"):
        account_type_options("target")
