"""Browser tests: Debian's Chromium driven by Playwright against the real stack (intake serves the pages)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from mailferry.stack import StackInfo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def web_url(running_stack: StackInfo) -> str:
    """Intake's address: it serves the pages (services/intake/web_routes.py) next to the API."""
    return running_stack.intake_url


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh English-speaking browser profile (empty localStorage) per test."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB", extra_http_headers={"Accept-Language": "en-GB,en"})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def german_page(browser: Browser) -> Iterator[Page]:
    """A browser whose language is German: Accept-Language de."""
    context = browser.new_context(viewport=VIEWPORT, locale="de-DE",
                                  extra_http_headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    context.set_default_timeout(30_000)
    pg = context.new_page()
    yield pg
    context.close()


class Screenshots:
    """Saves full-page screenshots into the artifacts directory; the README's ones also into docs/screenshots."""

    def __init__(self, artifacts: Path) -> None:
        self.dir = artifacts / "browser"
        self.dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Page, name: str, *, docs: bool = False) -> Path:
        page.evaluate("document.activeElement && document.activeElement.blur && document.activeElement.blur()")
        page.mouse.move(0, 0)
        path = self.dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        if docs:
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / f"{name}.png")
        return path


@pytest.fixture
def shot(artifacts: Path) -> Screenshots:
    return Screenshots(artifacts)
