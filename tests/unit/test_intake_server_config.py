"""uvicorn's settings for intake: where it listens, whose X-Forwarded-For it believes, and which requests came
through a proxy (services/intake/forwarding.py holds both rules)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from services.intake.forwarding import ADDRESS_HEADER, FORWARDED_HEADERS, came_through_proxy
from services.intake.service import server_config
from shared.config import Settings


def test_no_forwarded_header_is_believed_unless_proxies_are_configured() -> None:
    config = server_config(FastAPI(), Settings.from_env({}))
    assert (config.host, config.proxy_headers) == ("127.0.0.1", False)


def test_forwarded_headers_only_from_the_configured_proxies() -> None:
    settings = Settings.from_env({"MAILFERRY_TRUSTED_PROXIES": "10.244.0.0/16", "MAILFERRY_BIND_HOST": "0.0.0.0"})
    config = server_config(FastAPI(), settings)
    assert (config.host, config.proxy_headers, config.forwarded_allow_ips) == ("0.0.0.0", True, ["10.244.0.0/16"])


def _as_served(trusted: str) -> Any:
    """A tiny app behind exactly the middleware intake's uvicorn settings put in front of it; it answers the
    client address uvicorn settled on and whether the request came through a proxy (the /metrics rule)."""
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, object]:
        return {"client": request.client.host if request.client else None,
                "proxied": came_through_proxy(request.headers.keys())}

    config = server_config(app, Settings.from_env({"MAILFERRY_TRUSTED_PROXIES": trusted}))
    config.load()
    return config.loaded_app


@pytest.mark.parametrize(("peer", "headers", "client", "proxied"), [
    ("10.244.3.7", {"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9", True),  # through the ingress
    ("10.244.3.7", {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, "203.0.113.9", True),  # the last untrusted
    ("10.244.5.5", {}, "10.244.5.5", False),  # Prometheus, from the same pod network: its /metrics
    ("198.51.100.7", {"X-Forwarded-For": "10.0.0.1"}, "198.51.100.7", True),  # not believed, still proxied
    ("198.51.100.7", {"X-Real-IP": "10.0.0.1"}, "198.51.100.7", True),
    ("10.244.3.7", {"Forwarded": "for=203.0.113.9"}, "10.244.3.7", True),  # an address uvicorn does not read
])
def test_who_the_client_is_and_whether_a_proxy_stood_between(peer: str, headers: dict[str, str], client: str,
                                                            proxied: bool) -> None:
    async def ask() -> dict[str, object]:
        transport = httpx.ASGITransport(app=_as_served("10.244.0.0/16"), client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
            got: dict[str, object] = (await http.get("/who", headers=headers)).json()
            return got

    # On a thread of its own: a test run earlier in the same process (the browser's) may leave an event loop
    # running on this one, where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, ask()).result() == {"client": client, "proxied": proxied}


def test_the_header_uvicorn_reads_addresses_from_is_one_that_marks_a_proxy() -> None:
    """Every request whose client address was taken from a header is also one /metrics refuses."""
    assert ADDRESS_HEADER == "x-forwarded-for" and ADDRESS_HEADER in FORWARDED_HEADERS
    assert {"x-forwarded-for", "forwarded", "x-real-ip"} == FORWARDED_HEADERS
