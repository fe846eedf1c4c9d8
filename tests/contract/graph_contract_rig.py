"""The contract rig of Microsoft 365 (Graph): the strict Graph emulator, seeded and read with plain httpx.

Seeds are MIME posts made while the emulator's clock stands at the seed's date (Graph keeps a posted MIME byte
for byte and takes the clock as the received time), their read state set afterwards; Graph makes them drafts,
so only ``\\Seen`` counts (as for Exchange). A message the Graph target created from JSON has no original
MIME in Graph: the rig puts its bytes back together from what Graph holds — the original header block
(PR_TRANSPORT_MESSAGE_HEADERS) and the body — so the contracts compare what arrived with what was sent.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from shared.adapters import registry
from shared.adapters.graph import settings as graph_settings
from shared.adapters.net import ConnectOptions
from shared.adapters.ports import AdapterEnv
from shared.events import EndpointSpec
from shared.net_guard import AllowList
from tests import graph_rig as rig_help
from tests.contract.rigs import Acct, Copy, Mailbox, Rig, Seed
from tests.graph_emulator import GraphEmulator, ManualClock

HEADERS = "String 0x7d"
NAMES = {"INBOX": "inbox"}


class GraphRig(Rig):
    name = "graph-emulator"
    caps = frozenset({"source", "seed", "folders", "dates", "mail_target", "undo", "items", "item_target",
                      "setting"})
    kept_flags = frozenset({"\\Seen"})
    inbox = "Inbox"

    def __init__(self, state: Path, redis_url: str) -> None:
        self.clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
        self.emu = GraphEmulator(tls=True, clock=self.clock).__enter__()
        self.system = registry.system("graph")
        app = self.emu.register_app(secret=rig_help.SECRET)
        tenants = state / "tenants.json"
        tenants.write_text(json.dumps({"graph.test": {"tenant_id": self.emu.tenant.tenant_id,
                                                      "client_id": app.client_id,
                                                      "client_secret": rig_help.SECRET}}))
        self._saved = {k: os.environ.get(k) for k in ("MAILFERRY_GRAPH_URL", "MAILFERRY_GRAPH_AUTHORITY",
                                                      "MAILFERRY_GRAPH_TENANTS", "MAILFERRY_REDIS_URL")}
        os.environ.update(MAILFERRY_GRAPH_URL=self.emu.graph_url, MAILFERRY_GRAPH_AUTHORITY=self.emu.base_url,
                          MAILFERRY_GRAPH_TENANTS=str(tenants), MAILFERRY_REDIS_URL=redis_url)
        graph_settings.process_settings.cache_clear()
        self.env = AdapterEnv(connect=ConnectOptions(AllowList.parse("127.0.0.1"), ca_file=self.emu.ca_file or "",
                                                     timeout=30))
        self._n = 0

    def account(self) -> Acct:
        self._n += 1
        login = f"u{self._n}@graph.test"
        self.emu.add_user(login)
        spec = EndpointSpec(type="graph", host=self.emu.host, port=self.emu.port, security="tls", login=login,
                            password_sealed="", auth="app")
        return Acct(login, "", spec)

    def _client(self, acct: Acct) -> Any:
        return rig_help.seeding(self.emu, acct.login)

    def _folder(self, g: httpx.Client, path: str) -> str:
        if path == "INBOX":
            return str(g.get("/mailFolders/inbox").json()["id"])
        parent = "msgfolderroot"
        for part in path.split("/"):
            children = g.get(f"/mailFolders/{parent}/childFolders", params={"$top": "100"}).json()["value"]
            found = [c["id"] for c in children if c["displayName"] == part]
            parent = found[0] if found else rig_help.folder(g, parent, part)
        return parent

    def seed(self, acct: Acct, layout: dict[str, list[Seed]]) -> None:
        with self._client(acct) as g:
            for path, msgs in layout.items():
                folder = self._folder(g, path)
                for m in msgs:
                    now = self.clock.now()
                    self.clock.advance(m.date.timestamp() - now)  # the received time Graph gives a MIME post
                    try:
                        made = rig_help.created(g.post(f"/mailFolders/{folder}/messages",
                                                       content=base64.b64encode(m.data),
                                                       headers={"Content-Type": "text/plain"}))
                    finally:
                        self.clock.advance(now - self.clock.now())
                    r = g.patch(f"/messages/{made['id']}", json={"isRead": "\\Seen" in m.flags})
                    assert r.status_code == 200, r.text

    def _paths(self, g: httpx.Client) -> dict[str, str]:
        out: dict[str, str] = {}

        def walk(folder: str, prefix: str) -> None:
            for f in g.get(f"/mailFolders/{folder}/childFolders", params={"$top": "100"}).json()["value"]:
                out[prefix + f["displayName"]] = f["id"]
                walk(f["id"], prefix + f["displayName"] + "/")

        walk("msgfolderroot", "")
        return out

    def _bytes(self, g: httpx.Client, m: dict[str, Any]) -> bytes:
        props = {p["id"]: p["value"] for p in m.get("singleValueExtendedProperties") or []}
        if HEADERS in props:  # written by the target from JSON: the header block and the body it was given
            return f"{props[HEADERS]}\r\n\r\n{(m.get('body') or {}).get('content') or ''}".encode()
        return g.get(f"/messages/{m['id']}/$value").content

    def snapshot(self, acct: Acct) -> Mailbox:
        out: Mailbox = {}
        with self._client(acct) as g:
            for path, fid in self._paths(g).items():
                copies: Counter[Copy] = Counter()
                for m in g.get(f"/mailFolders/{fid}/messages", params={
                        "$top": "1000", "$select": "id,isRead,receivedDateTime,body",
                        "$expand": f"singleValueExtendedProperties($filter=id eq '{HEADERS}')"}).json()["value"]:
                    when = datetime.fromisoformat(m["receivedDateTime"].replace("Z", "+00:00"))
                    copies[(self._bytes(g, m), frozenset({"\\Seen"}) if m["isRead"] else frozenset(), when)] += 1
                out[path] = copies
        return out

    def delete(self, acct: Acct, folder: str, data: bytes) -> None:
        with self._client(acct) as g:
            fid = self._paths(g)[folder]
            for m in g.get(f"/mailFolders/{fid}/messages", params={"$top": "1000", "$select": "id"}).json()["value"]:
                if g.get(f"/messages/{m['id']}/$value").content == data:
                    assert g.delete(f"/messages/{m['id']}").status_code == 204
                    return
        raise AssertionError("no such message")

    def seed_items(self, acct: Acct, operation: str, items: list[tuple[str, str]]) -> None:
        with self._client(acct) as g:
            for name, _payload in items:
                given, family = name.split()
                rig_help.created(g.post("/contacts", json={"displayName": name, "givenName": given,
                                                           "surname": family}))

    def items(self, acct: Acct, operation: str) -> Counter[str]:
        with self._client(acct) as g:
            return Counter(c["displayName"] for c in g.get("/contacts", params={"$top": "100"}).json()["value"])

    def setting(self, acct: Acct) -> Any:
        with self._client(acct) as g:
            return g.get("/mailboxSettings/automaticRepliesSetting").json()

    def seed_setting(self, acct: Acct) -> None:
        with self._client(acct) as g:
            r = g.patch("/mailboxSettings", json={"automaticRepliesSetting": {
                "status": "disabled", "externalAudience": "contactsOnly", "internalReplyMessage": "mine",
                "externalReplyMessage": "mine, ext"}})
            assert r.status_code == 200, r.text

    def close(self) -> None:
        self.emu.__exit__(None, None, None)
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        graph_settings.process_settings.cache_clear()
