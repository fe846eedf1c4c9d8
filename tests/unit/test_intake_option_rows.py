"""The forms' option checkboxes: made from the operations intake knows, labelled from the dictionary."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake import web_routes
from services.intake.web_routes import OPTION_ROWS_MARKER, option_rows, web_router
from shared.migration_state import OPERATIONS

CHECKBOX = re.compile(r'<input type="checkbox" id="option-(\w+)" name="options" value="(\w+)"( checked)?>\s*'
                      r'<label for="option-(\w+)" data-i18n="option\.(\w+)">([^<]*)</label>')


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    app = FastAPI()
    app.include_router(web_router())
    client = TestClient(app)
    return {path: client.get(path).text for path in ("/", "/pst")}


@pytest.mark.parametrize("path", ["/", "/pst"])
def test_each_form_offers_every_operation_in_order_with_emails_ticked(pages: dict[str, str], path: str) -> None:
    labels = web_routes._dictionary("en")
    rows = CHECKBOX.findall(pages[path])
    assert [row[0] for row in rows] == list(OPERATIONS)
    for op, value, checked, label_for, key, text in rows:
        assert value == label_for == key == op
        assert checked == (" checked" if op == "emails" else "")
        assert text == labels[f"option.{op}"]
    assert OPTION_ROWS_MARKER not in pages[path]


def test_a_row_is_the_markup_the_form_always_had(pages: dict[str, str]) -> None:
    emails = ('\n        <div class="checks">\n        <div class="check">\n'
              '          <input type="checkbox" id="option-emails" name="options" value="emails" checked>\n'
              '          <label for="option-emails" data-i18n="option.emails">'
              'E-mails, with their folders, flags and dates</label>\n        </div>\n        <div class="check">\n')
    last = ('          <label for="option-auto_reply" data-i18n="option.auto_reply">Automatic reply (out of office)'
            '</label>\n        </div>\n        </div>\n        <p class="field-error" id="options-error" hidden>')
    for path in ("/", "/pst"):
        assert emails in pages[path] and last in pages[path]


def test_labels_are_html_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_routes, "_dictionary",
                        lambda lang: {f"option.{op}": f'<b class="x">{op} & co</b>' for op in OPERATIONS})
    rows = option_rows()
    assert "<b" not in rows and 'class="x"' not in rows
    assert '>&lt;b class=&quot;x&quot;&gt;tasks &amp; co&lt;/b&gt;</label>' in rows


def test_an_operation_without_a_label_stops_the_pages_from_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = {f"option.{op}": op for op in OPERATIONS if op != "tasks"}
    monkeypatch.setattr(web_routes, "_dictionary", lambda lang: labels)
    with pytest.raises(ValueError, match=r"no label for option\.tasks$"):
        web_router()
