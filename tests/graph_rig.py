"""What the Graph adapter's tests share: the adapter's settings for an emulator, and seeding a mailbox through
the emulator's own HTTP API with plain httpx (never through the adapter under test)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from shared.adapters.graph.settings import GraphSettings, SignInApp, TenantApp
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.events import EndpointSpec
from shared.net_guard import AllowList
from tests.graph_emulator import GraphEmulator
from tests.graph_emulator.testing import app_token, graph

SECRET = "operator-app-secret"
FLAGS = "Integer 0x0E07"
DELIVERY = "SystemTime 0x0E06"
MSGFLAG_READ = 0x1


def settings(emu: GraphEmulator, client_id: str, *, redis_url: str = "", concurrency: int = 4,
             requests: int = 10_000, window: float = 600.0, sign_in: SignInApp | None = None) -> GraphSettings:
    """The adapter's settings for this emulator: its Graph and authority URLs, the operator's app for its domain."""
    app = TenantApp(tenant_id=emu.tenant.tenant_id, client_id=client_id, client_secret=SECRET)
    return GraphSettings(graph_url=emu.graph_url, authority=emu.base_url, tenants={"example.test": app},
                         sign_in=sign_in, concurrency=concurrency, requests=requests, window=window,
                         redis_url=redis_url)


def env(emu: GraphEmulator, allow: str = "127.0.0.1") -> AdapterEnv:
    return AdapterEnv(connect=ConnectOptions(AllowList.parse(allow), ca_file=emu.ca_file or ""))


def spec(emu: GraphEmulator, login: str, auth: str = "app") -> EndpointSpec:
    return EndpointSpec(type="graph", host=emu.host, port=emu.port, security="tls", login=login,
                        password_sealed="", auth=auth)  # type: ignore[arg-type]


@contextmanager
def seeding(emu: GraphEmulator, user: str) -> Iterator[httpx.Client]:
    """A plain HTTP client on the user's mailbox, with an app of its own (not the adapter's). It asks for
    immutable ids, the ids the adapter names messages by (they survive moves)."""
    app = emu.register_app(secret="seeding-secret")
    with graph(emu, app_token(emu, app.client_id, "seeding-secret"), user) as g:
        g.headers["Prefer"] = 'IdType="ImmutableId"'
        yield g


def created(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return dict(r.json())


def folder(g: httpx.Client, parent: str, name: str) -> str:
    return str(created(g.post(f"/mailFolders/{parent}/childFolders", json={"displayName": name}))["id"])


def message(g: httpx.Client, folder_id: str, subject: str, *, read: bool, received: str,
            flag: str = "notFlagged", categories: list[str] | None = None, body: str = "Hello",
            last_verb: int | None = None) -> str:
    """A received (not draft) message, its read state and delivery time set at creation as Exchange takes them;
    ``last_verb``: PR_LAST_VERB_EXECUTED (102 replied, 103 replied to all, 104 forwarded)."""
    props = [{"id": FLAGS, "value": str(MSGFLAG_READ if read else 0)}, {"id": DELIVERY, "value": received}]
    if last_verb is not None:
        props.append({"id": "Integer 0x1081", "value": str(last_verb)})
    made = created(g.post(f"/mailFolders/{folder_id}/messages", json={
        "subject": subject, "body": {"contentType": "text", "content": body},
        "from": {"emailAddress": {"address": "sender@example.net", "name": "Sender"}},
        "toRecipients": [{"emailAddress": {"address": "alice@example.test"}}],
        "singleValueExtendedProperties": props}))
    if flag != "notFlagged" or categories:
        r = g.patch(f"/messages/{made['id']}", json={"flag": {"flagStatus": flag}, "categories": categories or []})
        assert r.status_code == 200, r.text
    return str(made["id"])


def mime_message(g: httpx.Client, folder_id: str, raw: bytes) -> str:
    """A message posted as MIME (Graph makes it a draft)."""
    r = g.post(f"/mailFolders/{folder_id}/messages", content=base64.b64encode(raw),
               headers={"Content-Type": "text/plain"})
    return str(created(r)["id"])


def raw_mime(g: httpx.Client, message_id: str) -> bytes:
    """The message's MIME as Graph gives it ($value), read by plain HTTP."""
    r = g.get(f"/messages/{message_id}/$value")
    assert r.status_code == 200, r.text
    return r.content


def generated_mime(n: int, subject: str, size: int = 0) -> bytes:
    """A plain MIME message; ``size`` pads the body to about that many bytes (a large message)."""
    lines = [b"From: Bob <bob@example.net>", b"To: alice@example.test", f"Subject: {subject}".encode(),
             f"Message-ID: <graph-{n}@example.net>".encode(), b"Date: Mon, 02 Jan 2023 10:00:00 +0000",
             b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=utf-8", b"", f"Body {n}".encode()]
    body = b"\r\n".join(lines) + b"\r\n"
    while len(body) < size:
        body += f"line {len(body):08d} of a long message body that goes on and on\r\n".encode()
    return body
