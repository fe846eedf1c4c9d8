"""The pages as intake serves them: shared parts put in from web/partials/, nothing of the markers left."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake import web_routes
from services.intake.web_routes import PAGES, WEB_DIR, default_texts, expand_includes, mark_current, web_router

NAV = {"/": "nav.new", "/pst": "nav.pst", "/status": "nav.status", "/operator": "nav.operator"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(web_router())
    return TestClient(app)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_has_its_partials_in_and_the_header_once(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 200
    html = resp.text
    assert "include:" not in html and "{{" not in html and "<!--I18N-->" not in html
    assert html.count('<header class="topbar">') == 1
    assert html.count("<nav ") == 1 and html.count('id="lang-select"') == 1
    assert html.count('class="footer"') == 1 and html.count('src="/assets/common.js"') == 1
    current = re.findall(r'<a href="([^"]*)" data-i18n="(nav\.\w+)" aria-current="page">', html)
    assert current == [(path, NAV[path])] and html.count("aria-current") == 1


def test_the_forms_get_their_account_fields(client: TestClient) -> None:
    new, pst = client.get("/").text, client.get("/pst").text
    for side in ("source", "target"):
        for name in ("type", "login", "detect", "host", "port", "security", "password"):
            assert new.count(f'id="{side}-{name}"') == 1, (side, name)
    assert 'id="source-type"' not in pst and pst.count('id="target-password"') == 1
    assert new.count('value="pop3"') == 1  # POP3 is a source only
    assert 'value="pop3"' not in pst
    assert new.count('id="options"') == pst.count('id="options"') == 1
    assert 'href="/" id="another"' in new and 'href="/pst" id="another"' in pst


def test_no_page_file_repeats_what_a_partial_holds() -> None:
    for name in PAGES.values():
        source = (WEB_DIR / name).read_text(encoding="utf-8")
        assert '<header class="topbar">' not in source and 'id="lang-select"' not in source
        assert "<head>" not in source and "app.css" not in source and "</body>" not in source
        assert "include: footer.html" not in source  # the page's end, footer included, is one partial


@pytest.mark.parametrize("path, title", [("/", "New migration – mailferry"), ("/pst", "PST file – mailferry"),
                                         ("/status", "Follow a migration – mailferry"),
                                         ("/operator", "Projects – mailferry")])
def test_every_page_has_its_own_title_in_the_shared_head(client: TestClient, path: str, title: str) -> None:
    html = client.get(path).text
    assert html.count("<title ") == 1 and f">{title}</title>" in html
    assert html.count('href="/assets/app.css"') == 1 and html.rstrip().endswith("</body>\n</html>")


def test_a_default_text_needs_its_dictionary_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_routes, "_dictionary", lambda lang: {"a.title": "Tom & Jerry"})
    assert default_texts('<title data-i18n="a.title"><!--DEFAULT-TEXT--></title>') == (
        '<title data-i18n="a.title">Tom &amp; Jerry</title>')
    with pytest.raises(ValueError, match=r"no text for b\.title"):
        default_texts('<title data-i18n="b.title"><!--DEFAULT-TEXT--></title>')


def test_a_partial_needs_every_placeholder_filled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_routes, "_partial", lambda name: {"a.html": "x {{side}} y\n",
                                                              "b.html": "  <!-- include: a.html side={{w}} -->\n"}[name])
    assert expand_includes("<p>\n  <!-- include: a.html side=left -->\n</p>\n") == "<p>\nx left y\n</p>\n"
    assert expand_includes("<!-- include: b.html w=up -->\n") == "x up y\n"  # nested, with its own value
    with pytest.raises(ValueError, match="needs side="):
        expand_includes("<!-- include: a.html -->\n")


def test_includes_that_loop_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_routes, "_partial", lambda name: "<!-- include: a.html -->\n")
    with pytest.raises(ValueError, match="too deeply"):
        expand_includes("<!-- include: a.html -->\n")


def test_a_page_missing_from_the_navigation_is_an_error() -> None:
    with pytest.raises(ValueError, match="no link to /nowhere"):
        mark_current('<a href="/" data-i18n="nav.new">', "/nowhere")
