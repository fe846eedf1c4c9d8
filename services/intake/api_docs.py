"""``/docs``: the API's interactive page (Swagger UI), served from this service's own files.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts and styles from a CDN: behind a firewall the page stays
blank, and every visit is told to a third party. Here Swagger UI's files come from the pinned
``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads FastAPI's OpenAPI 3.1; its ``swagger_ui_path``),
served under ``/docs/assets/`` (only the three the page loads), and the page is started by a script of our own
(``web/docs.js``, with the online validator's badge off: it would load an image from swagger.io), so the pages'
Content-Security-Policy holds for it too: nothing is loaded from anywhere else. ``/redoc`` is off (no package ships it);
``/openapi.json`` is unchanged.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from services.intake.api_errors import error
from services.intake.web_routes import SECURITY_HEADERS

DOCS_PATH = "/docs"
ASSETS_PATH = DOCS_PATH + "/assets"
#: The files of Swagger UI the page loads, and their types: nothing else of the package is served.
ASSETS = {"swagger-ui.css": "text/css; charset=utf-8", "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "favicon-32x32.png": "image/png"}
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mailferry API</title>
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<script src="{ASSETS_PATH}/swagger-ui-bundle.js" defer></script>
<script src="/assets/docs.js" defer></script></head>
<body><div id="swagger-ui"></div></body></html>
"""


@cache
def _asset(name: str) -> bytes:
    return (Path(swagger_ui_path) / name).read_bytes()


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_PATH)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return error(404, "not_found", "no such file")
        return Response(_asset(name), media_type=ASSETS[name],
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    return router
