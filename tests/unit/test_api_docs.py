"""``/docs`` is served from intake's own files (Swagger UI from the pinned swagger-ui-bundle package): the page
names no other host, its three files are served, nothing else of the package is, and ``/redoc`` (CDN-only) is off
while ``/openapi.json`` stays."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.intake.api_docs import docs_router
from services.intake.web_routes import web_router


def client() -> TestClient:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.include_router(web_router())
    app.include_router(docs_router())
    return TestClient(app)


def test_the_page_loads_only_from_its_own_origin() -> None:
    http = client()
    page = http.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "//" not in page.text  # no URL with a host: no CDN (FastAPI's page loads cdn.jsdelivr.net)
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    assert "<script>" not in page.text  # no inline script (the policy would refuse it): started by docs.js
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded == ["/docs/assets/favicon-32x32.png", "/docs/assets/swagger-ui.css",
                      "/docs/assets/swagger-ui-bundle.js", "/assets/docs.js"]
    types = {url: http.get(url).headers["content-type"] for url in loaded}
    assert types == {"/docs/assets/favicon-32x32.png": "image/png",
                     "/docs/assets/swagger-ui.css": "text/css; charset=utf-8",
                     "/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                     "/assets/docs.js": "text/javascript; charset=utf-8"}
    bundle = http.get("/docs/assets/swagger-ui-bundle.js").text
    assert len(bundle) > 500_000 and "SwaggerUIBundle" in bundle  # Swagger UI itself, not a stub
    assert 'url: "/openapi.json"' in http.get("/assets/docs.js").text


def test_nothing_else_of_the_package_is_served_and_redoc_is_off() -> None:
    http = client()
    for path in ("/docs/assets/index.html", "/docs/assets/index.j2", "/docs/assets/..%2F__init__.py",
                 "/docs/assets/swagger-ui.js.map", "/redoc", "/docs/oauth2-redirect"):
        assert http.get(path).status_code == 404, path
