"""Helpers for tests that talk to the emulator with httpx (getting tokens the plain OAuth way)."""

from __future__ import annotations

import ssl

import httpx

from .emulator import GraphEmulator

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


def http(emu: GraphEmulator, **kwargs: object) -> httpx.Client:
    """A client trusting the emulator's test CA when it serves TLS."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=emu.ca_file) if emu.ca_file else True
    return httpx.Client(verify=verify, timeout=30, **kwargs)  # type: ignore[arg-type]


def app_token(emu: GraphEmulator, client_id: str, secret: str) -> str:
    with http(emu) as c:
        r = c.post(emu.token_url, data={"grant_type": "client_credentials", "client_id": client_id,
                                        "client_secret": secret, "scope": GRAPH_DEFAULT_SCOPE})
    r.raise_for_status()
    return str(r.json()["access_token"])


def graph(emu: GraphEmulator, token: str, user: str | None = None) -> httpx.Client:
    """A client whose relative URLs start at /v1.0/users/{user} (or /v1.0/me when user is None)."""
    base = f"{emu.graph_url}/users/{user}" if user else f"{emu.graph_url}/me"
    return http(emu, base_url=base, headers={"Authorization": f"Bearer {token}"})


def graph_error(r: httpx.Response, status: int, code: str) -> str:
    """Assert a Graph error answer (status and code); return its message."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, r.text
    return str(err["message"])
