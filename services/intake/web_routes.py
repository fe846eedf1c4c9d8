"""The web pages users start and follow migrations on, served by intake.

Plain HTML, CSS and JavaScript from ``services/intake/web/``: no build step, nothing fetched from the
internet. The pages talk to the same REST API as the CLI. Their language (English or German) comes from
``?lang=``, else from the browser's Accept-Language; the page script lets the user switch and remembers the
choice in localStorage. Both dictionaries are embedded in the page, so switching needs no request.
The parts pages share (the head with the styles, header and navigation, account fields, options, footer and the
end of the page, user pages and the operator's alike) live once in ``web/partials/``
and are put in by ``<!-- include: NAME key=value -->`` lines when the pages are loaded, not per request.
The option checkboxes are made then too, one per operation intake knows (``OPERATIONS``, served as the
``operations`` of ``GET /api/v1/option-rules``), so the form cannot offer a different list than the API;
and so are the account types each side offers, from the registry (``shared/adapters/registry.py``), each
with its usual ports: the page script knows no system by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.intake.api_errors import error
from shared.adapters import registry
from shared.migration_state import OPERATIONS

WEB_DIR = Path(__file__).resolve().parent / "web"
PARTIALS_DIR = WEB_DIR / "partials"
LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
PAGES = {"/": "index.html", "/pst": "pst.html", "/status": "status.html", "/operator": "operator.html"}
ASSET_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
I18N_MARKER = "<!--I18N-->"
OPTION_ROWS_MARKER = "<!--OPTION-ROWS-->"  # in partials/options.html: a row from partials/option.html per operation
# In partials/account.html: an <option> per account type the side can take.
ACCOUNT_TYPES_MARKER = re.compile(r"<!--ACCOUNT-TYPES:(source|target)-->")
CHECKED_OPTIONS = ("emails",)  # ticked when a form opens: every source/target pair can take e-mails
# A whole line ``<!-- include: header.html -->`` or ``<!-- include: account.html side=source -->``.
INCLUDE_LINE = re.compile(r"^[ \t]*<!--[ \t]*include:[ \t]*([\w.-]+\.html)((?:[ \t]+\w+=[^\s>]+)*)[ \t]*-->[ \t]*\n",
                          re.MULTILINE)
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# In a partial, an element whose English text comes from the dictionary (the page title in page-start.html).
DEFAULT_TEXT = re.compile(r'(data-i18n="([\w.]+)">)<!--DEFAULT-TEXT-->')
MAX_INCLUDE_DEPTH = 4
# Everything the pages load comes from this origin; the status page's URL holds the migration ID, so no
# Referer leaves the page either.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def negotiate_language(accept_language: str | None, query_lang: str | None = None) -> str:
    """``?lang=`` if it names a page language, else the best match of Accept-Language, else English."""
    if query_lang and query_lang.lower() in LANGUAGES:
        return query_lang.lower()
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # equal weights: the first listed wins
        if q > best_q:
            best, best_q = primary, q
    return best


@cache
def _dictionary(lang: str) -> dict[str, str]:
    return dict(json.loads((WEB_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8")))


def _dictionaries() -> str:
    data = {lang: _dictionary(lang) for lang in LANGUAGES}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # Safe inside <script type="application/json">: no "</script>", no HTML comment or entity can form.
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@cache
def _partial(name: str) -> str:
    return (PARTIALS_DIR / name).read_text(encoding="utf-8")


def fill_placeholders(name: str, params: Mapping[str, str]) -> str:
    """The partial with each ``{{key}}`` replaced by ``params[key]``; one left without a value raises."""

    def fill(placeholder: re.Match[str]) -> str:
        key = placeholder.group(1)
        if key not in params:
            raise ValueError(f"web partial {name} needs {key}=... in its include line")
        return params[key]

    return PLACEHOLDER.sub(fill, _partial(name))


def expand_includes(html: str, depth: int = 0) -> str:
    """Each include line replaced by its partial, ``{{key}}`` filled from the line's ``key=value`` pairs.

    A partial may include others (its own placeholders are filled first, so ``account-types-{{side}}.html``
    works). A missing partial or an unfilled placeholder raises, so a broken page fails at start-up.
    """
    if depth > MAX_INCLUDE_DEPTH:
        raise ValueError("web partials include each other too deeply")

    def one(match: re.Match[str]) -> str:
        params = dict(pair.split("=", 1) for pair in match.group(2).split())
        return expand_includes(fill_placeholders(match.group(1), params), depth + 1)

    return INCLUDE_LINE.sub(one, html)


def option_rows() -> str:
    """A checkbox row per operation, in the order they run, with the English label (the page script translates it).

    Values are HTML-escaped: the labels come from the dictionary, not from markup. An operation without an
    ``option.NAME`` label raises, so a new one cannot reach the form unnamed.
    """
    labels = _dictionary(DEFAULT_LANGUAGE)
    unnamed = [op for op in OPERATIONS if f"option.{op}" not in labels]
    if unnamed:
        raise ValueError(f"web/i18n/{DEFAULT_LANGUAGE}.json has no label for option.{', option.'.join(unnamed)}")
    rows = (fill_placeholders("option.html", {"name": escape(op), "label": escape(labels[f"option.{op}"]),
                                              "checked": " checked" if op in CHECKED_OPTIONS else ""})
            for op in OPERATIONS)
    return "".join(rows).strip()  # the marker's line keeps its indentation and line break


def account_type_options(side: str) -> str:
    """An ``<option>`` per account type ``side`` can take, in the registry's order (the first is the default),
    with the English label (the page script translates it), its usual ports by security (``data-ports``) and
    the security the form switches to for it (``data-security``). A type without a ``type.NAME`` label, or a
    pair of types the registry offers without an ``options.reason.SOURCE_TARGET`` text, raises: the page
    cannot show a system it does not name, or options it does not explain."""
    labels = _dictionary(DEFAULT_LANGUAGE)
    types = registry.account_types(side)
    wanted = [f"type.{t}" for t in types]
    wanted += [f"options.reason.{source}_{target}" for source, targets in registry.table().items()
               for target, ops in targets.items() if ops]
    for lang in LANGUAGES:
        missing = [key for key in wanted if key not in _dictionary(lang)]
        if missing:
            raise ValueError(f"web/i18n/{lang}.json has no text for {', '.join(missing)}")
    rows = []
    for name in types:
        system = registry.system(name)
        ports = json.dumps(dict(system.default_ports), separators=(",", ":"))
        # The operator says where the service is (Microsoft 365): the form asks no server; a system with its
        # own sign-in gets the sign-in button (its URL), and needs no password where the operator's app signs in.
        extra = ' data-server="operator"' if system.service_address is not None else ""
        if system.sign_in is not None:
            extra += f' data-sign-in="/api/v1/sign-in/{escape(name)}"'
        if system.auth_modes[0] in system.passwordless_auth:
            extra += ' data-password="optional"'
        rows.append(f'<option value="{escape(name)}" data-i18n="type.{escape(name)}" data-ports="{escape(ports)}" '
                    f'data-security="{escape(system.form_security)}"{extra}>{escape(labels[f"type.{name}"])}</option>')
    return "\n            ".join(rows)  # the marker's line keeps its indentation; the others get the same


def default_texts(html: str) -> str:
    """Each ``<!--DEFAULT-TEXT-->`` filled with its element's English text (the page script translates it), so
    a partial can hold what differs per page only as a dictionary key. A key the dictionary lacks raises."""
    labels = _dictionary(DEFAULT_LANGUAGE)

    def fill(match: re.Match[str]) -> str:
        key = match.group(2)
        if key not in labels:
            raise ValueError(f"web/i18n/{DEFAULT_LANGUAGE}.json has no text for {key}")
        return match.group(1) + escape(labels[key])

    return DEFAULT_TEXT.sub(fill, html)


def mark_current(html: str, path: str) -> str:
    """The shared navigation with its link to this page marked as the current one."""
    link = re.compile(rf'(<a href="{re.escape(path)}" data-i18n="nav\.\w+")>')
    marked, found = link.subn(r'\1 aria-current="page">', html, count=1)
    if not found:
        raise ValueError(f"the navigation has no link to {path}")
    return marked


def load_page(path: str, name: str, i18n_block: str) -> str:
    """A page as served (but for its language): partials in, current link marked, dictionaries embedded."""
    page = expand_includes((WEB_DIR / name).read_text(encoding="utf-8")).replace(OPTION_ROWS_MARKER, option_rows())
    page = default_texts(ACCOUNT_TYPES_MARKER.sub(lambda m: account_type_options(m.group(1)), page))
    return mark_current(page, path).replace(I18N_MARKER, i18n_block)


def _assets() -> dict[str, Path]:
    """Every file the pages may load, by its path under ``web/``: nothing else is ever served."""
    return {p.relative_to(WEB_DIR).as_posix(): p for p in sorted(WEB_DIR.rglob("*"))
            if p.is_file() and p.suffix in ASSET_TYPES}


def web_router() -> APIRouter:
    """``GET /`` (new migration), ``/pst`` (PST file), ``/status`` (follow one), ``/operator`` (projects) and
    ``/assets/...``."""
    router = APIRouter(include_in_schema=False)
    i18n_block = f'<script type="application/json" id="i18n-data">{_dictionaries()}</script>'
    pages = {path: load_page(path, name, i18n_block) for path, name in PAGES.items()}
    assets = _assets()

    def page_handler(template: str) -> Callable[[Request], Awaitable[HTMLResponse]]:
        async def handler(request: Request) -> HTMLResponse:
            lang = negotiate_language(request.headers.get("accept-language"), request.query_params.get("lang"))
            html = template.replace('<html lang="en"', f'<html lang="{lang}"', 1)
            headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Content-Language": lang,
                       "Vary": "Accept-Language"}
            return HTMLResponse(html, headers=headers)

        return handler

    for path, template in pages.items():
        router.add_api_route(path, page_handler(template), methods=["GET"], response_class=HTMLResponse)

    @router.get("/assets/{name:path}")
    async def asset(name: str) -> Response:
        file = assets.get(name)
        if file is None:  # the API's error shape, as every refusal
            return error(404, "not_found", "no such file")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        return Response(file.read_bytes(), media_type=ASSET_TYPES[file.suffix], headers=headers)

    return router
