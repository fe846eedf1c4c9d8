"""uvicorn's settings for intake: where it listens, and whose X-Forwarded-For it believes."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.service import server_config
from shared.config import Settings


def test_no_forwarded_header_is_believed_unless_proxies_are_configured() -> None:
    config = server_config(FastAPI(), Settings.from_env({}))
    assert (config.host, config.proxy_headers) == ("127.0.0.1", False)


def test_forwarded_headers_only_from_the_configured_proxies() -> None:
    settings = Settings.from_env({"MAILFERRY_TRUSTED_PROXIES": "10.244.0.0/16", "MAILFERRY_BIND_HOST": "0.0.0.0"})
    config = server_config(FastAPI(), settings)
    assert (config.host, config.proxy_headers, config.forwarded_allow_ips) == ("0.0.0.0", True, ["10.244.0.0/16"])
