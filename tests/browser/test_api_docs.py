"""``/docs`` in a real browser against the running stack: Swagger UI draws the API from /openapi.json with every
request going to intake itself (none to a CDN) and nothing refused by the page's Content-Security-Policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect


def test_the_api_page_works_from_intake_alone(page: Page, web_url: str) -> None:
    asked: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: complaints.append(f"failed: {request.url}"))
    page.goto(f"{web_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("mailferry")
    expect(page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/migrations").first).to_be_visible()
    origin = urlsplit(web_url).netloc
    assert asked and {urlsplit(url).netloc for url in asked if not url.startswith("data:")} == {origin}, asked
    assert f"{web_url}/openapi.json" in asked
    assert complaints == [], complaints

